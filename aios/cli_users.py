"""`aios users`: what each user's tokens may start (the local admin edits the daemon's database)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from aios.cli_common import _settings, console
from aios.kernel.errors import UserError

if TYPE_CHECKING:
    from aios.api.grants import UserGrant, UserGrants

users_app = typer.Typer(help="What each user's tokens may start (capability grants).", no_args_is_help=True)
Capabilities = Annotated[list[str], typer.Argument(help="Capability patterns: shell.exec, browser.*, ...")]


@contextmanager
def _grants() -> Iterator[UserGrants]:
    from aios.api.grants import UserGrants
    from aios.boot import configured_drivers
    from aios.kernel.access import user_defaults
    from aios.kernel.store import ProcessStore

    settings = _settings()
    drivers = configured_drivers(settings)
    store = ProcessStore(settings.db_url)
    try:
        yield UserGrants(store.engine, lambda: user_defaults(drivers.values()))
    finally:
        store.close()


def _show(grant: UserGrant) -> None:
    source = f"set by {grant.updated_by}" if grant.explicit else "the default for users"
    console.print(f"[bold]{escape(grant.user)}[/] ({source}): {escape(', '.join(grant.capabilities))}")


def _checked(capabilities: list[str]) -> list[str]:
    from pydantic import ValidationError

    from aios.api.grants import Grant

    try:
        return Grant(capabilities=capabilities).capabilities
    except ValidationError as e:
        raise UserError(f"not a capability pattern (letters, digits, '.', '_', '-', '*'): {e}") from None


@users_app.command("list")
def users_list() -> None:
    """Users with a token or a grant, and what their processes may hold at most."""
    from aios.api.tokens import UserTokens

    with _grants() as grants:
        names = {t.user for t in UserTokens(grants.engine).list() if t.revoked_at is None and not t.admin}
        for name in sorted(names | set(grants.explicit_users())):
            _show(grants.show(name))
        console.print(f"[dim]a user without a grant gets: {', '.join(grants.defaults())}[/]")


@users_app.command("show")
def users_show(user: Annotated[str, typer.Argument(help="The user.")]) -> None:
    """What one user's processes may hold at most."""
    with _grants() as grants:
        _show(grants.show(user))


@users_app.command("grant")
def users_grant(user: Annotated[str, typer.Argument(help="The user.")], capabilities: Capabilities) -> None:
    """Add capabilities to what a user may hold (starting from the default)."""
    added = _checked(capabilities)
    with _grants() as grants:
        _show(grants.set(user, [*grants.show(user).capabilities, *added], by="local admin"))


@users_app.command("revoke")
def users_revoke(user: Annotated[str, typer.Argument(help="The user.")], capabilities: Capabilities) -> None:
    """Take capabilities (exactly as listed) from what a user may hold; running processes keep theirs."""
    taken = set(_checked(capabilities))
    with _grants() as grants:
        current = grants.show(user).capabilities
        missing = sorted(taken - set(current))
        if missing:
            raise UserError(f"{user} holds no {missing} as such; they hold {current}")
        _show(grants.set(user, [c for c in current if c not in taken], by="local admin"))


@users_app.command("reset")
def users_reset(user: Annotated[str, typer.Argument(help="The user.")]) -> None:
    """Give a user the default again."""
    with _grants() as grants:
        _show(grants.reset(user))
