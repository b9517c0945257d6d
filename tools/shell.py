"""The `shell` driver: one command per call inside a bubblewrap sandbox."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from aios.kernel.drivers import CallContext, Driver, DriverHealth, Operation, RiskLevel
from aios.kernel.errors import SandboxUnavailable, ToolTimeout
from aios.tools.cgroups import Bounds, bounded
from aios.tools.configs import ShellConfig
from aios.tools.process_groups import kill_group
from aios.tools.sandbox import (
    Limits,
    bwrap_command,
    find_bwrap,
    launch_environment,
    strip_setid,
    unsandboxed_command,
)
from aios.tools.sandbox_user import for_process, for_service, hand_over, switching
from aios.tools.secret_files import find_secrets, mask_args

logger = logging.getLogger(__name__)

SandboxMode = Literal["bubblewrap", "unsandboxed", "unavailable"]


class ExecArgs(BaseModel):
    """Arguments of `shell.exec`."""

    cmd: str = Field(
        min_length=1,
        max_length=8000,
        description="A POSIX shell command line.",
        examples=["ls -la"],
    )


class ExecResult(BaseModel):
    exit_code: int
    stdout: str
    stderr: str
    truncated: bool
    duration_ms: float
    sandbox: SandboxMode


class ShellDriver(Driver):
    """Runs shell commands confined by bubblewrap: read-only system, private work dir, no network."""

    name = "shell"
    exclusive = False
    max_concurrency = 4

    def __init__(
        self, config: ShellConfig | None = None, *, cwd: Path | None = None, private: tuple[Path, ...] = ()
    ) -> None:
        self.config = config or ShellConfig()
        self.cwd = (cwd or Path.cwd()).resolve()
        self.private = tuple(p.resolve() for p in private)
        """The runtime's own folders (its data dir: database, tokens, other processes' work): hidden when
        they lie inside the user's folder."""
        self._mode: SandboxMode | None = None
        self._probe_error = ""

    def operations(self) -> dict[str, Operation]:
        return {
            "exec": Operation(
                name="exec",
                description=(
                    "Run a shell command in a sandbox (read-only system, no network) and get its exit code, "
                    "stdout and stderr. Starts in the user's folder; write files under /workspace."
                ),
                args_model=ExecArgs,
                risk=RiskLevel.WRITE,
                timeout_s=self.config.timeout_s,
                capability="shell.exec",
            )
        }

    @property
    def limits(self) -> Limits:
        return Limits(
            cpu_seconds=self.config.cpu_seconds,
            memory_bytes=self.config.memory_mb * 1024 * 1024,
            file_size_bytes=self.config.file_size_mb * 1024 * 1024,
            processes=self.config.max_processes,
        )

    @property
    def bounds(self) -> Bounds:
        return Bounds(
            max_processes=self.config.max_processes, memory_bytes=self.config.memory_mb * 1024 * 1024
        )

    async def mode(self) -> SandboxMode:
        """Which confinement commands get: probed once by running `true` in the sandbox."""
        if self._mode is None:
            self._mode = await self._probe()
        return self._mode

    async def _probe(self) -> SandboxMode:
        bwrap = find_bwrap(self.config.bwrap)
        if bwrap is None:
            self._probe_error = (
                f"{self.config.bwrap!r} not found on PATH (Debian: apt-get install bubblewrap)"
            )
        else:
            probe_dir = Path(os.environ.get("TMPDIR", "/tmp"))
            # in a thread: building the first command line asks bubblewrap what it supports (cached after)
            argv = await asyncio.to_thread(
                bwrap_command,
                bwrap,
                "true",
                user=for_service("shell-probe"),
                workdir=probe_dir,
                readonly_dir=None,
                limits=self.limits,
            )
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=launch_environment(),
                start_new_session=True,
            )
            try:
                _, err = await proc.communicate()
            except asyncio.CancelledError:  # the first call was killed while it probed: no probe outlives it
                await asyncio.shield(_stop(proc, ()))
                raise
            if proc.returncode == 0:
                return "bubblewrap"
            self._probe_error = f"bubblewrap failed: {err.decode(errors='replace').strip()}"
        logger.warning("shell sandbox unavailable: %s", self._probe_error)
        return "unsandboxed" if self.config.allow_unsandboxed else "unavailable"

    def unconfined(self) -> frozenset[str]:
        """With `allow_unsandboxed`, a command may run as the daemon's OS user (where bubblewrap fails)."""
        return frozenset({"exec"} if self.config.allow_unsandboxed else ())

    async def health(self) -> DriverHealth:
        mode = await self.mode()
        if mode == "bubblewrap":
            who = "a uid of its own" if switching() else "uid nobody (your own uid)"
            return DriverHealth(ok=True, detail=f"bubblewrap sandbox (no network, read-only root, {who})")
        if mode == "unsandboxed":
            return DriverHealth(
                ok=True, detail=f"UNSANDBOXED by config (shell.allow_unsandboxed): {self._probe_error}"
            )
        return DriverHealth(ok=False, detail=f"{self._probe_error}; shell.exec will refuse to run")

    async def call(self, operation: str, args: object, ctx: CallContext) -> dict[str, object]:
        assert operation == "exec", f"unexpected operation {operation}"
        assert isinstance(args, ExecArgs), f"unexpected arguments {type(args).__name__}"
        mode = await self.mode()
        if mode == "unavailable":
            raise SandboxUnavailable(
                f"shell.exec refused: {self._probe_error}. Install bubblewrap or set shell.allow_unsandboxed"
            )
        if mode == "bubblewrap":
            bwrap = find_bwrap(self.config.bwrap)
            assert bwrap is not None
            readonly = self.cwd if self.config.mount_cwd else None
            hidden: list[str] = []
            if readonly is not None:
                secrets = await asyncio.to_thread(find_secrets, readonly, self.config.hidden_files)
                hidden = mask_args(secrets)
                for folder in self.private:
                    if folder.is_relative_to(readonly) and folder.is_dir():
                        hidden += ["--tmpfs", str(folder)]
            user = for_process(ctx.pid)
            hand_over(ctx.workdir, user)
            argv = bwrap_command(
                bwrap,
                args.cmd,
                user=user,
                workdir=ctx.workdir,
                readonly_dir=readonly,
                limits=self.limits,
                hidden=hidden,
            )
            cwd = None
        else:
            argv = unsandboxed_command(args.cmd, limits=self.limits)
            cwd = ctx.workdir
        cgroup = await asyncio.to_thread(bounded, f"shell-{ctx.pid}", self.bounds)
        try:
            argv = [*cgroup.join(), *argv] if cgroup is not None else argv
            return (await self._run(argv, cwd=cwd, cmd=args.cmd, mode=mode)).model_dump()
        finally:
            if cgroup is not None:
                await asyncio.to_thread(cgroup.remove)
            stripped = await asyncio.to_thread(strip_setid, ctx.workdir)
            if stripped:
                names = [str(p) for p in stripped]
                logger.warning("pid %d: cleared setuid/setgid bits of %s", ctx.pid, names)

    async def _run(self, argv: list[str], *, cwd: Path | None, cmd: str, mode: SandboxMode) -> ExecResult:
        started = time.monotonic()
        spawning = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=launch_environment() if cwd is None else {**launch_environment(), "HOME": str(cwd)},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        )
        try:
            proc = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            # killed while the command was starting: let it start, then kill its whole group at once
            proc = await spawning
            kill_group(proc.pid)
            await proc.wait()
            raise
        limit = self.config.output_bytes
        assert proc.stdout is not None and proc.stderr is not None
        readers = (
            asyncio.ensure_future(_read_capped(proc, proc.stdout, limit)),
            asyncio.ensure_future(_read_capped(proc, proc.stderr, limit)),
        )
        try:
            async with asyncio.timeout(self.config.timeout_s):
                (out, out_cut), (err, err_cut) = await asyncio.gather(*readers)
                code = await proc.wait()
        except TimeoutError as e:
            await _stop(proc, readers)
            raise ToolTimeout(
                f"shell.exec: {cmd[:80]!r} ran past {self.config.timeout_s:.0f}s and was killed"
            ) from e
        except asyncio.CancelledError:
            await asyncio.shield(_stop(proc, readers))
            raise
        return ExecResult(
            exit_code=code,
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
            truncated=out_cut or err_cut,
            duration_ms=(time.monotonic() - started) * 1000,
            sandbox=mode,
        )


async def _read_capped(
    proc: asyncio.subprocess.Process, stream: asyncio.StreamReader, limit: int
) -> tuple[bytes, bool]:
    """Read a stream to its end, or stop the command once it has written more than `limit` bytes."""
    data = bytearray()
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return bytes(data), False
        data.extend(chunk)
        if len(data) > limit:
            kill_group(proc.pid)
            while await stream.read(65536):
                pass  # drain to EOF so the pipe closes
            return bytes(data[:limit]), True


async def _stop(proc: asyncio.subprocess.Process, readers: tuple[asyncio.Future[object], ...]) -> None:
    """Kill the command and wait until its pipes close, so nothing is left behind."""
    kill_group(proc.pid)
    await asyncio.wait({*readers, asyncio.ensure_future(proc.wait())}, timeout=5)
    for reader in readers:
        reader.cancel()
