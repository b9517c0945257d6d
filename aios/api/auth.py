"""Who is calling: a bearer token names an agent process (its syscalls only) or a user."""

from __future__ import annotations

from fastapi import HTTPException, Request

from aios.api.state import api_state
from aios.isolation.channels import PROCESS_TOKEN_PREFIX

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "send 'Authorization: Bearer <token>'", headers=_CHALLENGE)
    return token.strip()


def process_pid(request: Request) -> int:
    """The pid whose token the request carries; any other token is refused."""
    token = bearer(request)
    if not token.startswith(PROCESS_TOKEN_PREFIX):
        raise HTTPException(403, "only an agent process's own token may make syscalls")
    pid = api_state(request).channels.pid_for(token)
    if pid is None:
        raise HTTPException(401, "unknown or revoked process token", headers=_CHALLENGE)
    return pid
