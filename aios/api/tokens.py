"""User tokens: random, shown once, stored only as their SHA-256, revocable; a few checked ones are cached."""

from __future__ import annotations

import hashlib
import secrets
import time

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Boolean, Engine, Float, Integer, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

USER_TOKEN_PREFIX = "aiosu_"
CACHE_S = 5.0
"""How long a checked token is trusted without asking the database again (a revocation takes this long)."""


class _Base(DeclarativeBase):
    pass


class TokenRow(_Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(String(200))
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Principal(BaseModel):
    """Who a user token speaks for."""

    model_config = ConfigDict(frozen=True)

    user: str
    admin: bool = False
    token_id: int


class TokenInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user: str
    admin: bool
    label: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserTokens:
    """The daemon's user tokens, in the kernel's database (table `api_tokens`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._checked: dict[str, tuple[float, Principal]] = {}

    def create(
        self, user: str, *, admin: bool = False, label: str = "", expires_in_s: float | None = None
    ) -> tuple[str, TokenInfo]:
        """A new token for `user`: the only time its text exists outside the caller."""
        token = USER_TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = TokenRow(
                user=user,
                admin=admin,
                digest=_digest(token),
                label=label,
                created_at=now,
                expires_at=None if expires_in_s is None else now + expires_in_s,
            )
            session.add(row)
            session.flush()
            return token, TokenInfo.model_validate(row)

    def check(self, token: str) -> Principal | None:
        """The principal of a valid token; None for an unknown, expired or revoked one."""
        digest = _digest(token)
        now = time.monotonic()
        cached = self._checked.get(digest)
        if cached is not None and now - cached[0] < CACHE_S:
            return cached[1]
        with Session(self.engine) as session:
            row = session.scalar(select(TokenRow).where(TokenRow.digest == digest))
            if row is None or row.revoked_at is not None:
                return None
            if row.expires_at is not None and row.expires_at <= time.time():
                return None
            principal = Principal(user=row.user, admin=row.admin, token_id=row.id)
        if len(self._checked) > 10_000:
            self._checked.clear()
        self._checked[digest] = (now, principal)
        return principal

    def revoke(self, token_id: int) -> bool:
        with Session(self.engine) as session, session.begin():
            row = session.get(TokenRow, token_id)
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = time.time()
        self._checked = {d: v for d, v in self._checked.items() if v[1].token_id != token_id}
        return True

    def revoke_labelled(self, label: str) -> int:
        """Revoke every live token with this label (the daemon's own CLI token, replaced at each start)."""
        with Session(self.engine) as session, session.begin():
            rows = session.scalars(
                select(TokenRow).where(TokenRow.label == label, TokenRow.revoked_at.is_(None))
            ).all()
            for row in rows:
                row.revoked_at = time.time()
            ids = {row.id for row in rows}
        self._checked = {d: v for d, v in self._checked.items() if v[1].token_id not in ids}
        return len(ids)

    def admins(self) -> set[str]:
        """Users who hold a live admin token."""
        now = time.time()
        with Session(self.engine) as session:
            rows = session.scalars(select(TokenRow).where(TokenRow.admin, TokenRow.revoked_at.is_(None)))
            return {row.user for row in rows if row.expires_at is None or row.expires_at > now}

    def list(self) -> list[TokenInfo]:
        with Session(self.engine) as session:
            return [
                TokenInfo.model_validate(r) for r in session.scalars(select(TokenRow).order_by(TokenRow.id))
            ]
