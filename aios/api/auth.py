"""Who is calling: a bearer token (or the dashboard's cookie) names an agent process or a user."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from aios.api.tokens import Principal, UserTokens
from aios.isolation.channels import PROCESS_TOKEN_PREFIX, AgentChannels

SESSION_COOKIE = "aios_session"
CSRF_COOKIE = "aios_csrf"
CSRF_HEADER = "x-csrf-token"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Gate:
    """What tells callers apart: users' tokens (None on a socket that serves agent processes only) and
    agent processes' tokens. Every family authenticates through it, the MCP endpoint included."""

    users: UserTokens | None
    channels: AgentChannels


def gate_of(request: Request) -> Gate:
    gate: Gate = request.app.state.gate
    return gate


# Dependencies are coroutines: FastAPI runs plain functions in a thread pool, a hand-off per request.


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "send 'Authorization: Bearer <token>'", headers=_CHALLENGE)
    return token.strip()


async def process_pid(request: Request) -> int:
    """The pid whose token the request carries; any other token is refused."""
    token = bearer(request)
    if not token.startswith(PROCESS_TOKEN_PREFIX):
        raise HTTPException(403, "only an agent process's own token may make syscalls")
    pid = gate_of(request).channels.pid_for(token)
    if pid is None:
        raise HTTPException(401, "unknown or revoked process token", headers=_CHALLENGE)
    return pid


async def principal(request: Request) -> Principal:
    """The user a request speaks for: a bearer user token, or the dashboard's session cookie.

    A cookie alone never authorises a change: unsafe methods must also echo the CSRF cookie in a header
    (a page on another site can make the browser send the cookie, but cannot read it).
    """
    users = gate_of(request).users
    if users is None:
        raise HTTPException(404, "this socket serves agent processes only")
    if "authorization" in request.headers:
        token = bearer(request)
        if token.startswith(PROCESS_TOKEN_PREFIX):
            raise HTTPException(403, "an agent process's token opens only its own syscalls")
    else:
        token = request.cookies.get(SESSION_COOKIE, "")
        if not token:
            raise HTTPException(401, "send 'Authorization: Bearer <token>' or log in", headers=_CHALLENGE)
        if request.method not in _SAFE_METHODS:
            sent, expected = request.headers.get(CSRF_HEADER, ""), request.cookies.get(CSRF_COOKIE, "")
            if not expected or not hmac.compare_digest(sent, expected):
                raise HTTPException(403, "missing or wrong CSRF token (header X-CSRF-Token)")
    found = users.check(token)
    if found is None:
        raise HTTPException(401, "unknown, expired or revoked token", headers=_CHALLENGE)
    return found


async def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if not who.admin:
        raise HTTPException(403, "this needs an admin token")
    return who


User = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
