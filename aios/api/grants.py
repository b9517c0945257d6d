"""What each user of the daemon may be given: a token grants at most what an admin granted its user.

A user with no grant of their own gets the kernel's safe default (`KernelAPI.user_capabilities`: the
model, memory, and every operation that runs confined); an admin widens or narrows it per user. Admin
tokens have no ceiling. Every process a user token starts (spawn, attach, MCP, the OpenAI endpoint) has
its capabilities cut to its user's ceiling; a running process keeps what it got when the grant changes,
a resumed one is cut to the grant of the day.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import JSON, Engine, Float, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from aios.api.tokens import Principal
from aios.kernel.access import CAPABILITY_PATTERN, within
from aios.kernel.errors import PermissionDenied


class _Base(DeclarativeBase):
    pass


class GrantRow(_Base):
    __tablename__ = "user_capabilities"

    user: Mapped[str] = mapped_column(String(200), primary_key=True)
    capabilities: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[float] = mapped_column(Float)
    updated_by: Mapped[str] = mapped_column(String(200))


Capability = Annotated[str, StringConstraints(pattern=CAPABILITY_PATTERN)]


class Grant(BaseModel):
    """What an admin lets a user's tokens start: capability patterns (`shell.exec`, `browser.*`, `*`)."""

    model_config = ConfigDict(extra="forbid")

    capabilities: list[Capability] = Field(max_length=256)


class UserGrant(BaseModel):
    """A user's ceiling, and where it comes from."""

    user: str
    admin: bool = False
    """Only for the caller's own view: an admin token has no ceiling."""
    capabilities: list[str]
    """The most any process of this user may hold (`*` for an admin)."""
    explicit: bool
    """An admin set it; otherwise it is the daemon's default for users."""
    updated_at: float | None = None
    updated_by: str | None = None


class UserGrants:
    """The admin-set ceilings, in the kernel's database (table `user_capabilities`)."""

    def __init__(self, engine: Engine, defaults: Callable[[], list[str]]) -> None:
        self.engine = engine
        self.defaults = defaults
        """The ceiling of a user with no grant of their own (the kernel's `user_capabilities`)."""

    def ceiling(self, who: Principal) -> list[str] | None:
        """The most `who`'s processes may hold; None for an admin (no ceiling)."""
        if who.admin:
            return None
        return self.show(who.user).capabilities

    def of_owner(self, user: str, admins: set[str]) -> list[str] | None:
        """The ceiling of a process's owner when no token is at hand (a resume at the daemon's start): none
        for a user who holds an admin token, else the user's grant."""
        return None if user in admins else self.show(user).capabilities

    def narrow(self, who: Principal, capabilities: Sequence[str]) -> list[str]:
        """`capabilities` cut to `who`'s ceiling (what an agent's manifest asks for)."""
        ceiling = self.ceiling(who)
        return list(capabilities) if ceiling is None else within(ceiling, capabilities)

    def check(self, who: Principal, requested: Sequence[str]) -> list[str]:
        """`requested`, named one by one by the caller: refused whole unless `who` was granted all of it."""
        ceiling = self.ceiling(who)
        if ceiling is None:
            return list(requested)
        beyond = [c for c in requested if within(ceiling, [c]) != [c]]
        if beyond:
            raise PermissionDenied(
                f"user {who.user!r} may not start a process with {beyond}: an admin granted {ceiling} "
                f"(aios users grant {who.user} CAPABILITY)"
            )
        return list(requested)

    def show(self, user: str) -> UserGrant:
        with Session(self.engine) as session:
            row = session.get(GrantRow, user)
            if row is None:
                return UserGrant(user=user, capabilities=self.defaults(), explicit=False)
            return UserGrant(
                user=user,
                capabilities=list(row.capabilities),
                explicit=True,
                updated_at=row.updated_at,
                updated_by=row.updated_by,
            )

    def set(self, user: str, capabilities: list[str], *, by: str) -> UserGrant:
        with Session(self.engine) as session, session.begin():
            row = session.get(GrantRow, user)
            if row is None:
                row = GrantRow(user=user, capabilities=[], updated_at=0.0, updated_by="")
                session.add(row)
            row.capabilities = list(dict.fromkeys(capabilities))
            row.updated_at = time.time()
            row.updated_by = by
        return self.show(user)

    def reset(self, user: str) -> UserGrant:
        """Back to the default."""
        with Session(self.engine) as session, session.begin():
            row = session.get(GrantRow, user)
            if row is not None:
                session.delete(row)
        return self.show(user)

    def explicit_users(self) -> list[str]:
        with Session(self.engine) as session:
            return list(session.scalars(select(GrantRow.user).order_by(GrantRow.user)))
