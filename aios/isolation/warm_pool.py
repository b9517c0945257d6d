"""Agent sandboxes started before their agent is known, so a spawn hands one its bootstrap instead of paying
for bubblewrap, the interpreter and the SDK's imports on the engine's cores.

A member is a generic agent sandbox, started one at a time in the background. Before its agent is known it
has seen only what every agent sandbox of this kernel gets: the system, the interpreter and the import path
read-only (secret files masked as of its start), the kernel's socket, the fixed environment; and of its own,
an empty home folder and a uid of the warm range that no other sandbox holds. It has run aios's own code only
(the child's imports) and waits on its stdin. It has not seen a token, a pid, a task, an agent's name or
code, a process's files, or anything of an earlier agent: a member serves one spawn and ends with it.

At the spawn the member's command line must equal the one a start would make now for its uid and home (a
secret file found since, or a changed setting, and it is started again), and the process's work dir must be
new and empty: the member's home is moved in its place (the sandbox keeps seeing it, a bind mount follows
the folder), and the process takes the member's uid for its commands and apps (`sandbox_user.assign`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections import deque
from pathlib import Path

from aios.isolation.sandboxes import AgentSandbox, SandboxSpec, start_sandbox
from aios.tools.process_groups import alive
from aios.tools.sandbox_user import hand_over, lend, release

logger = logging.getLogger(__name__)

STAGING_PREFIX = "pool-"
"""Each pool's folder of members' homes is `pool-<os pid>-*`: one of a daemon that died is removed."""


class WarmPool:
    """Up to `size` started agent sandboxes, refilled in the background after each spawn takes one."""

    def __init__(self, spec: SandboxSpec, *, size: int, staging: Path) -> None:
        self.spec = spec
        self.size = size
        self.staging = staging
        """Where members' homes wait: on the file system of the processes' work dirs (a move, not a copy)."""
        self.is_closed = False
        self._ready: deque[AgentSandbox] = deque()
        self._wanted = asyncio.Event()
        self._settled = asyncio.Event()
        """Set while no member is being started (all are, or the last start failed)."""
        self._keeper: asyncio.Task[None] | None = None
        self._homes: Path | None = None

    def start(self) -> None:
        """Begin filling in the background (from the event loop; a second call does nothing)."""
        if self._keeper is None and not self.is_closed and self.size > 0:
            self._keeper = asyncio.create_task(self._keep(), name="aios-warm-pool")

    def ready(self) -> int:
        """Members started and waiting."""
        return len(self._ready)

    async def settled(self) -> None:
        """Until no member is being started (a benchmark measures a daemon at rest)."""
        self.start()
        await self._settled.wait()

    async def take(self, workdir: Path) -> AgentSandbox | None:
        """A started sandbox whose home is now `workdir` (a new, empty folder it replaces), or None: start
        one as before."""
        self.start()
        if not self._ready or not _is_empty(workdir):
            return None
        while self._ready and not self.is_closed:
            member = self._ready.popleft()
            self._wanted.set()
            self._settled.clear()
            try:
                is_current = await self._is_current(member)
            except BaseException:
                await _discard(member)
                raise
            if not is_current:
                logger.info("a warm agent sandbox ended or is out of date; another is started")
                await _discard(member)
                continue
            try:
                os.rename(member.home, workdir)
            except OSError as e:  # another file system, or the folder is no longer empty
                logger.warning("a warm agent sandbox could not take %s: %s", workdir, e)
                self._ready.appendleft(member)
                return None
            member.home = workdir
            return member
        return None

    async def _is_current(self, member: AgentSandbox) -> bool:
        """Whether it still runs, and a start now would make the same sandbox (nothing weaker)."""
        if member.proc.returncode is not None:
            return False
        now = await asyncio.to_thread(self.spec.argv, member.user, member.home, self.spec.config.nice)
        return now == member.argv and not self.is_closed

    async def close(self) -> None:
        """Stop every member and remove their homes (an agent already handed one goes on)."""
        self.is_closed = True
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.wait({self._keeper})

    async def _keep(self) -> None:
        try:
            self._homes = await asyncio.to_thread(_homes_folder, self.staging)
        except OSError as e:
            logger.warning("no warm agent sandboxes: %s", e)
            self._settled.set()
            return
        try:
            while True:
                while len(self._ready) < self.size:
                    member = await self._start_one(self._homes)
                    if member is None:
                        break  # tried again at the next spawn
                    self._ready.append(member)
                self._wanted.clear()
                self._settled.set()
                await self._wanted.wait()
        finally:
            while self._ready:
                await _discard(self._ready.popleft())
            if self._homes is not None:
                await asyncio.to_thread(shutil.rmtree, self._homes, ignore_errors=True)

    async def _start_one(self, homes: Path) -> AgentSandbox | None:
        user = lend()
        if user is None:
            logger.warning("every warm uid is lent: agents start cold until one is given back")
            return None
        home = Path(tempfile.mkdtemp(dir=homes, prefix="home-"))
        try:
            hand_over(home, user)
            # at the agents' niceness: a start in the background yields to the engine
            nice = self.spec.config.nice
            member = await start_sandbox(
                self.spec, user=user, home=home, name="agent-warm", nice=nice, is_lent=True
            )
        except BaseException as e:
            release(user)
            shutil.rmtree(home, ignore_errors=True)
            if not isinstance(e, Exception):
                raise
            logger.warning("could not start a warm agent sandbox: %s", e)
            return None
        try:
            said = await member.ready()
        except BaseException:
            await _discard(member)
            raise
        if not member.is_ready:
            await _discard(member)
            logger.warning("a warm agent sandbox failed to start: %r", said[-300:])
            return None
        return member


async def _discard(member: AgentSandbox) -> None:
    await member.kill()
    await member.end()
    await asyncio.to_thread(shutil.rmtree, member.home, ignore_errors=True)


def _is_empty(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return next(entries, None) is None


def _homes_folder(staging: Path) -> Path:
    """This pool's own folder under `staging`, after removing those of pools whose daemon died."""
    staging.mkdir(mode=0o700, parents=True, exist_ok=True)
    for old in staging.glob(f"{STAGING_PREFIX}*-*"):
        owner = old.name.removeprefix(STAGING_PREFIX).split("-", 1)[0]
        if owner.isdigit() and not alive(int(owner)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=staging, prefix=f"{STAGING_PREFIX}{os.getpid()}-"))
