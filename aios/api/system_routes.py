"""Health, installed agents, the KV cache, tokens, and the dashboard's login (models: `openai_routes`)."""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

from aios.agent_catalog import AgentInfo, catalog
from aios.agent_launch import AgentSandboxes, read_manifest
from aios.api.auth import CSRF_COOKIE, SESSION_COOKIE, Admin, User
from aios.api.families import Routes, family
from aios.api.params import Id
from aios.api.tokens import TokenInfo, UserTokens
from aios.isolation.channels import PROCESS_TOKEN_PREFIX
from aios.kernel.contracts import KernelRecords
from aios.kernel.kv_types import KVEntry

router = APIRouter(prefix="/v1", tags=["system"])


class System(Routes, router=router):
    """Health, installed agents, the KV cache, users' tokens and the dashboard's login."""

    def __init__(
        self,
        records: KernelRecords,
        users: UserTokens,
        host: AgentSandboxes | None,
        *,
        secure_cookies: bool,
    ) -> None:
        self.records = records
        self.users = users
        self.host = host
        self.secure_cookies = secure_cookies
        """Mark the dashboard's cookies Secure (the daemon serves TLS)."""


State = Annotated[System, Depends(family(System))]


class Health(BaseModel):
    status: str
    version: str


class KVView(BaseModel):
    engine: str
    entries: list[KVEntry]


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,100}$")
    admin: bool = False
    label: str = Field(default="", max_length=200)
    expires_in_s: float | None = Field(default=None, gt=0)


class CreatedToken(BaseModel):
    token: str
    """Shown once: only its hash is stored."""
    info: TokenInfo


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)


@router.get("/health", summary="Whether the daemon serves (the one route without a token)")
async def health() -> Health:
    return Health(status="ok", version=importlib.metadata.version("aios-runtime"))


@router.get("/agents", summary="Installed agents, each with its manifest or why it cannot run")
async def agents(_who: User, state: State) -> list[AgentInfo]:
    return await catalog(functools.partial(read_manifest, host=state.host))


@router.get("/kv", summary="What each loaded engine holds in its KV cache, per process")
async def kv(_who: User, state: State) -> list[KVView]:
    return [KVView(engine=name, entries=entries) for name, entries in state.records.kv().items()]


@router.post("/tokens", status_code=201, summary="A new user token (admin only); shown once")
async def create_token(body: NewToken, _who: Admin, state: State) -> CreatedToken:
    token, info = await asyncio.to_thread(
        state.users.create, body.user, admin=body.admin, label=body.label, expires_in_s=body.expires_in_s
    )
    return CreatedToken(token=token, info=info)


@router.get("/tokens", summary="Every token's owner and dates, never its text (admin only)")
async def list_tokens(_who: Admin, state: State) -> list[TokenInfo]:
    return await asyncio.to_thread(state.users.list)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a token (admin only)")
async def revoke_token(token_id: Id, _who: Admin, state: State) -> None:
    if not await asyncio.to_thread(state.users.revoke, token_id):
        raise HTTPException(404, f"no live token {token_id}")


@router.post("/session", status_code=204, summary="Dashboard login: a token becomes an HttpOnly cookie")
async def login(body: Login, state: State, response: Response) -> None:
    if body.token.startswith(PROCESS_TOKEN_PREFIX) or state.users.check(body.token) is None:
        raise HTTPException(401, "unknown, expired or revoked token")
    common = {"samesite": "strict", "secure": state.secure_cookies, "path": "/"}
    response.set_cookie(SESSION_COOKIE, body.token, httponly=True, **common)  # type: ignore[arg-type]
    response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(24), httponly=False, **common)  # type: ignore[arg-type]


@router.delete("/session", status_code=204, summary="Dashboard logout")
async def logout(_who: User, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
