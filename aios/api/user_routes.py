"""Users' grants: what a user's tokens may start (admins set them; every user may read their own)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from aios.api.auth import Admin, User
from aios.api.families import Routes, family
from aios.api.grants import Grant, UserGrant, UserGrants
from aios.api.tokens import UserTokens

router = APIRouter(prefix="/v1/users", tags=["users"])


class Users(Routes, router=router):
    """Users' grants: what each user's tokens may start (admins set them; every user reads their own)."""

    def __init__(self, grants: UserGrants, users: UserTokens) -> None:
        self.grants = grants
        self.users = users


State = Annotated[Users, Depends(family(Users))]
UserName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.@-]{1,100}$", description="A user of the daemon")]


@router.get("/me", summary="What the caller's processes may hold at most")
async def me(who: User, state: State) -> UserGrant:
    if who.admin:
        return UserGrant(user=who.user, admin=True, capabilities=["*"], explicit=False)
    return await asyncio.to_thread(state.grants.show, who.user)


@router.get("", summary="Every user with a token or a grant, and what they may hold (admin only)")
async def list_users(_who: Admin, state: State) -> list[UserGrant]:
    grants = state.grants
    tokens = await asyncio.to_thread(state.users.list)
    explicit = await asyncio.to_thread(grants.explicit_users)
    names = sorted({t.user for t in tokens if t.revoked_at is None} | set(explicit))
    return [await asyncio.to_thread(grants.show, name) for name in names]


@router.get("/{user}", summary="What one user's processes may hold (admin only)")
async def show_user(user: UserName, _who: Admin, state: State) -> UserGrant:
    return await asyncio.to_thread(state.grants.show, user)


@router.put("/{user}/capabilities", summary="Set what a user's processes may hold (admin only)")
async def set_grant(user: UserName, body: Grant, who: Admin, state: State) -> UserGrant:
    return await asyncio.to_thread(state.grants.set, user, body.capabilities, by=who.user)


@router.delete("/{user}/capabilities", summary="Give a user the default again (admin only)")
async def reset_grant(user: UserName, _who: Admin, state: State) -> UserGrant:
    return await asyncio.to_thread(state.grants.reset, user)
