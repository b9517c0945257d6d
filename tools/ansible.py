"""The `ansible` driver: check a playbook (`--check --diff`), and apply it once a human has approved.

Every call stages its playbook (`ansible_staging`), which runs the static guard (`playbook_guard`) on it
and on the inventory first, because check mode still runs lookups, plugins and `check_mode: false` tasks;
then ansible-playbook runs through ansible-runner (`ansible_run`), and its events become the report
(`ansible_report`).

How calls end:
- the playbook does not parse, or the guard refuses it: InvalidSyscall naming the problems (nothing ran);
- tasks fail or hosts are unreachable: a report with `ok: false` and the failed tasks with their messages
  (an apply may have changed things before the failure, so this is data, not an exception);
- the time limit passes: ToolTimeout, after the ansible process group was killed;
- ansible cannot be started at all: ToolError.

An apply runs even when the check before it reported failed tasks (a task may need the output of a command
that check mode skips): the human who approved it saw that check.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aios.kernel.drivers import CallContext, Driver, DriverHealth, Operation, RiskLevel
from aios.kernel.errors import InvalidSyscall, ToolTimeout
from aios.tools.ansible_args import PlaybookArgs
from aios.tools.ansible_inventory import parse_inventory
from aios.tools.ansible_report import ApplyReport, RunResult, fit_report, summarise
from aios.tools.ansible_run import base_environment, bin_dir, run_playbook
from aios.tools.ansible_staging import StagedPlaybook, stage_playbook
from aios.tools.configs import AnsibleConfig

PREVIEWS_KEPT = 32


@dataclass(frozen=True, kw_only=True)
class _Preview:
    pid: int
    at: float
    run: RunResult


class AnsibleDriver(Driver):
    """Runs playbooks through ansible-runner: a guarded dry run for anyone, the real run after approval."""

    name = "ansible"
    exclusive = False
    max_concurrency = 2

    def __init__(self, config: AnsibleConfig | None = None) -> None:
        self.config = config or AnsibleConfig()
        self._previews: dict[str, _Preview] = {}  # staged key -> the check shown for an apply

    def operations(self) -> dict[str, Operation]:
        return {
            "check": Operation(
                name="check",
                description=(
                    "Dry-run an ansible playbook (--check --diff) and report per task and host what would "
                    "change, with diffs. Changes nothing. Relative paths are in your work dir."
                ),
                args_model=PlaybookArgs,
                risk=RiskLevel.READ,
                timeout_s=self.config.timeout_s,
                capability="ansible.check",
            ),
            "apply": Operation(
                name="apply",
                description=(
                    "Apply an ansible playbook for real after a human approves it; reports what changed "
                    "and whether a second check finds the result idempotent."
                ),
                args_model=PlaybookArgs,
                risk=RiskLevel.WRITE,
                timeout_s=self.config.timeout_s,
                capability="ansible.apply",
                ask_first=True,
            ),
        }

    def unconfined(self) -> frozenset[str]:
        """An apply runs its playbook with the daemon's rights (on localhost, as the daemon's OS user); so
        does a check when config turns its sandbox off."""
        return frozenset({"apply"} if self.config.sandbox_check else {"apply", "check"})

    async def health(self) -> DriverHealth:
        """ansible-playbook starts, and ansible can read the configured inventory."""
        playbook_bin = bin_dir() / "ansible-playbook"
        if not playbook_bin.exists():
            return DriverHealth(ok=False, detail=f"{playbook_bin} not found (pip install ansible-core)")
        try:
            await asyncio.to_thread(parse_inventory, self.config.inventory)
        except InvalidSyscall as e:
            return DriverHealth(ok=False, detail=f"the configured inventory: {e.message}")
        proc = await asyncio.create_subprocess_exec(
            str(playbook_bin),
            "--version",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=base_environment(),
        )
        out, _ = await proc.communicate()
        first = out.decode(errors="replace").splitlines()[:1]
        if proc.returncode != 0 or not first:
            return DriverHealth(ok=False, detail=f"ansible-playbook --version failed: {out[-300:]!r}")
        return DriverHealth(
            ok=True, detail=f"{first[0].strip()}; connections: {self.config.allowed_connections}"
        )

    async def preview(self, operation: str, args: Any, ctx: CallContext) -> Any | None:
        """For an apply: the check report, so the human approving it sees what would change."""
        if operation != "apply":
            return None
        assert isinstance(args, PlaybookArgs), f"unexpected arguments {type(args).__name__}"
        async with self._deadline("ansible.apply preview"), stage_playbook(args, ctx, self.config) as staged:
            run = await self._run(staged, ctx, check=True)
        self._remember(staged.key, _Preview(pid=ctx.pid, at=time.monotonic(), run=run))
        return run.report.model_dump()

    async def call(self, operation: str, args: Any, ctx: CallContext) -> dict[str, Any]:
        assert operation in ("check", "apply"), f"unexpected operation {operation}"
        assert isinstance(args, PlaybookArgs), f"unexpected arguments {type(args).__name__}"
        async with self._deadline(f"ansible.{operation}"):
            if operation == "check":
                async with stage_playbook(args, ctx, self.config) as staged:
                    run = await self._run(staged, ctx, check=True)
                return run.report.model_dump()
            return (await self._apply(args, ctx)).model_dump()

    async def release(self, pid: int) -> None:
        for key in [k for k, p in self._previews.items() if p.pid == pid]:
            del self._previews[key]

    async def _apply(self, args: PlaybookArgs, ctx: CallContext) -> ApplyReport:
        async with stage_playbook(args, ctx, self.config) as staged:
            predicted = self._reuse(staged.key, ctx.pid)
            reused = predicted is not None
            if predicted is None:
                predicted = await self._run(staged, ctx, check=True)
            applied = await self._run(staged, ctx, check=False)
            idempotent: bool | None = None
            still: list[str] = []
            if self.config.check_idempotency and applied.report.ok:
                again = await self._run(staged, ctx, check=True)
                still = again.would_change(applied.changed())
                idempotent = again.report.ok and not still
        report = ApplyReport(
            **applied.report.model_dump(),
            predicted=predicted.report.totals,
            preview_reused=reused,
            idempotent=idempotent,
            still_changing=still,
        )
        return fit_report(report, self.config.max_output_chars)

    @contextlib.asynccontextmanager
    async def _deadline(self, what: str) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.config.timeout_s):
                yield
        except TimeoutError as e:
            partial = "; changes made before the limit stay" if what == "ansible.apply" else ""
            raise ToolTimeout(f"{what} ran past {self.config.timeout_s:.0f}s and was stopped{partial}") from e

    def _remember(self, key: str, preview: _Preview) -> None:
        self._previews[key] = preview
        while len(self._previews) > PREVIEWS_KEPT:
            del self._previews[next(iter(self._previews))]

    def _reuse(self, key: str, pid: int) -> RunResult | None:
        """The check shown to the approver, if it was of exactly these files and arguments, and recent."""
        preview = self._previews.pop(key, None)
        if preview is None or preview.pid != pid:
            return None
        if time.monotonic() - preview.at > self.config.preview_reuse_s:
            return None
        return preview.run

    async def _run(self, staged: StagedPlaybook, ctx: CallContext, *, check: bool) -> RunResult:
        """One run as a report; the staged playbook's generated file name never shows in it."""
        outcome = await run_playbook(staged, ctx, self.config, check=check)
        return summarise(outcome, check=check, config=self.config, names={str(staged.playbook): staged.name})
