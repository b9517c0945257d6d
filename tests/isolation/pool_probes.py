"""Agents of the warm pool tests: one says when its process started, one leaves traces, one looks."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

from aios.isolation.child import AGENT_SOCKET
from aios.sdk import Agent, Context, Manifest
from aios.sdk._wire import Wire


def process_started() -> float:
    """When this OS process began, on the wall clock (a warm sandbox's began before its spawn)."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    start_ticks = int(fields[19])  # field 22, starttime: clock ticks after boot
    uptime_s = float(Path("/proc/uptime").read_text().split()[0])
    return time.time() - (uptime_s - start_ticks / os.sysconf("SC_CLK_TCK"))


class StartClock(Agent):
    """Writes a file in its home, has a command read it back, and says when its process started and at what
    niceness it runs."""

    manifest = Manifest(name="start-clock", capabilities=("llm", "shell.exec"))

    async def run(self, task: str, ctx: Context) -> str:
        Path("here.txt").write_text(task)
        shown = await ctx.tool("shell.exec", cmd="cat /workspace/here.txt; echo; id -u")
        try:
            os.nice(-1)
            lowered = "lowered"
        except PermissionError:
            lowered = "refused"
        return json.dumps(
            {
                "started": process_started(),
                "uid": os.getuid(),
                "home": os.getcwd(),
                "shell": shown["stdout"],
                "nice": os.nice(0),
                "lower_nice": lowered,
            }
        )


class Leaver(Agent):
    """Leaves what an agent can: files in its home and /tmp, a variable, a process; answers its token."""

    manifest = Manifest(name="leaver", capabilities=("llm",))

    async def run(self, task: str, ctx: Context) -> str:
        await ctx.noop()
        token: str = ctx._transport.wire.token  # type: ignore[attr-defined]
        Path("notes.txt").write_text(f"{task} {token}")
        Path("/tmp/left.txt").write_text(token)
        os.environ["LEFT_BY_EARLIER_AGENT"] = token
        await asyncio.create_subprocess_exec("sleep", "600", start_new_session=True)
        return json.dumps({"token": token, "uid": os.getuid(), "started": process_started()})


class Looker(Agent):
    """Looks for anything an earlier agent left, and tries that agent's token on the kernel's socket."""

    manifest = Manifest(name="looker", capabilities=("llm",))

    async def run(self, task: str, ctx: Context) -> str:
        earlier = json.loads(task)["token"]
        processes = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    processes.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
                except OSError:
                    continue
        seen = [f for root in (Path.cwd(), Path("/tmp")) for f in root.rglob("*")]
        holding = [str(p) for p in seen if p.is_file() and earlier in p.read_text(errors="replace")]
        stolen = Wire(token=earlier, socket=AGENT_SOCKET)
        try:
            answer = await stolen.post("/v1/syscalls", b'{"kind": "noop"}')
        finally:
            await stolen.aclose()
        return json.dumps(
            {
                "home": sorted(os.listdir(".")),
                "tmp": sorted(os.listdir("/tmp")),
                "environ": [k for k, v in os.environ.items() if "LEFT_BY" in k or earlier in v],
                "processes": processes,
                "files_with_token": holding,
                "earlier_token": answer.status_code,
                "uid": os.getuid(),
                "started": process_started(),
            }
        )
