"""`aios bench vision`: what it costs an agent to show a vision model its screen.

One step is what a computer-use agent does each turn: `gui.screenshot` on the task display (scaled and
encoded by the gui driver's `[gui.screenshot]` settings), then `ctx.llm([user(text, shot)])` to a litellm
model that sees. The provider is `VisionStub`, in a thread of this process, so the time a request reached it
is on this process's clock.

- `observe_ms`: from just before the screenshot call to the request's arrival at the provider (in-process
  agent: its clock is ours);
- `request_bytes`: the provider's request body, the base64 image inside;
- `wire_overhead_ms`: the median step (screenshot to answer) of an isolated agent, over its socket, less
  that of an in-process agent.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from aios.agent_launch import AgentSandboxes, spawn_agent
from aios.daemon import Daemon
from aios.evals.bench_vision_agent import LookingAgent, step_tag
from aios.evals.vision_stub import StubRequest, VisionStub
from aios.kernel.contracts import KernelAPI
from aios.kernel.drivers import CallContext
from aios.kernel.engines.configs import RemoteModelConfig
from aios.tools.gui import GuiDriver, LaunchArgs, NoArgs

STUB_MODEL = "bench-vision"
STAGE_PID = 2**31 - 1
"""Whose apps the desktop's windows are: no kernel process, so none ending closes them."""
CELL_PX = (8, 17)
"""An xterm character cell in DejaVu Sans Mono 10, in pixels: the windows are sized in cells."""
WINDOW_TEXT = (
    "ls -la /usr/bin | head -100",
    "python3 -c 'import this'; echo; PAGER=cat python3 -c 'help(\"for\")'",
    "cat /etc/services",
    "ls -la /usr/share",
)
"""What the four xterms of the task display show: dense text, as a work screen has."""
WARM_STEPS = 2
"""Steps each agent takes before the measured ones (litellm's first request, the agent process's imports)."""
SETTLE_S = 20.0
"""How long the xterms may take to draw their text."""


class VisionBenchParams(BaseModel):
    steps: int = Field(default=50, ge=1)
    """Steps measured per agent, in-process and isolated (each: a screenshot, then one vision call)."""
    rounds: int = Field(default=5, ge=1)
    """The in-process and the isolated agent take turns this many times (a few steps each), so a change in
    the machine's load falls on both alike."""


class VisionBenchReport(BaseModel):
    display: str
    image: str
    """The image the provider received: size and format after the driver scaled it."""
    steps: int
    observe_ms: list[float]
    request_bytes: list[int]
    image_bytes: list[int]
    inprocess_step_ms: list[float]
    isolated_step_ms: list[float]
    observe_p50_ms: float
    request_bytes_p50: int
    image_bytes_p50: int
    inprocess_step_p50_ms: float
    isolated_step_p50_ms: float
    wire_overhead_ms: float

    def markdown(self) -> str:
        p90 = statistics.quantiles(self.observe_ms, n=10)[-1] if len(self.observe_ms) > 1 else 0.0
        rows = [
            ("task display", f"{self.display}, four xterms of text"),
            ("image sent (after scaling), p50", f"{self.image}, {self.image_bytes_p50 / 1000:.0f} KB"),
            (
                "screenshot to request at the provider, in-process (p50 / p90)",
                f"{self.observe_p50_ms:.1f} / {p90:.1f} ms",
            ),
            (
                "request size (p50)",
                f"{self.request_bytes_p50} bytes ({self.request_bytes_p50 / 1000:.0f} KB)",
            ),
            ("step (screenshot to answer), in-process agent (p50)", f"{self.inprocess_step_p50_ms:.1f} ms"),
            ("step (screenshot to answer), isolated agent (p50)", f"{self.isolated_step_p50_ms:.1f} ms"),
            ("isolated agent's wire (difference of the medians)", f"{self.wire_overhead_ms:.2f} ms"),
        ]
        return f"{self.steps} steps per agent\n\n| measure | value |\n|---|---|\n" + "\n".join(
            f"| {a} | {b} |" for a, b in rows
        )

    def last_line(self) -> str:
        return (
            f"observe_p50_ms={self.observe_p50_ms:.1f} request_bytes_p50={self.request_bytes_p50} "
            f"wire_overhead_ms={self.wire_overhead_ms:.2f}"
        )


async def stage_desktop(driver: GuiDriver, workdir: Path) -> None:
    """Four xterms of text tiling the display, launched as `STAGE_PID`'s (`driver.release` closes them)."""
    width, height = driver.config.width // 2, driver.config.height // 2
    columns, rows = (width - 16) // CELL_PX[0], (height - 30) // CELL_PX[1]
    corners = [(0, 0), (width, 0), (0, height), (width, height)]
    ctx = CallContext(pid=STAGE_PID, workdir=workdir)
    for (x, y), text in zip(corners, WINDOW_TEXT, strict=True):
        font = ["-fa", "DejaVu Sans Mono", "-fs", "10"]
        args = ["-geometry", f"{columns}x{rows}+{x}+{y}", *font, "-hold", "-e", "sh", "-c", text]
        launched = await driver.call("launch", LaunchArgs(app="xterm", args=args), ctx)
        if launched["window"] is None:
            raise RuntimeError("an xterm of the task display showed no window")
    await _settled(driver, ctx)


async def _settled(driver: GuiDriver, ctx: CallContext) -> None:
    """Return once two screenshots in a row are the same: every xterm has drawn its text."""
    deadline = time.monotonic() + SETTLE_S
    last = b""
    while time.monotonic() < deadline:
        shot = await asyncio.to_thread(_taken, (await driver.call("screenshot", NoArgs(), ctx))["path"])
        if shot == last:
            return
        last = shot
    raise RuntimeError(f"the task display was still changing after {SETTLE_S:.0f} s")


def _taken(path: str) -> bytes:
    """A screenshot's bytes; its file is removed (only the comparison needs it)."""
    shot = Path(path)
    data = shot.read_bytes()
    shot.unlink()
    return data


async def _agent_steps(
    kernel: KernelAPI, host: AgentSandboxes | None, run: str, steps: int
) -> list[dict[str, Any]]:
    """One agent's steps: when each began (its own clock) and how long it took, in ms."""
    task = json.dumps({"run": run, "steps": steps, "model": STUB_MODEL})
    pid = await spawn_agent(kernel, LookingAgent, task, host=host)
    record = await kernel.wait(pid)
    if record.state != "done":
        logs = host.output(pid) if host is not None else ""
        raise RuntimeError(f"bench process {pid} ended {record.state}: {record.error} {logs}".strip())
    answer: list[dict[str, Any]] = json.loads(record.result or "")
    return answer


def _requests(stub: VisionStub, run: str, steps: int) -> list[StubRequest]:
    """The provider's request of each step of `run`, each with the one screenshot it carried."""
    found: list[StubRequest] = []
    for step in range(steps):
        tag = step_tag(run, step)
        matches = [r for r in stub.received if tag in r.text]
        if len(matches) != 1 or len(matches[0].images) != 1:
            images = [len(r.images) for r in matches]
            raise RuntimeError(f"step {tag}: the provider got {len(matches)} requests with {images} images")
        found.append(matches[0])
    return found


def _split(steps: int, rounds: int) -> list[int]:
    """`steps` as the step counts of up to `rounds` rounds, as even as can be."""
    return [n for n in (steps // rounds + (i < steps % rounds) for i in range(rounds)) if n]


async def run_vision_bench(
    daemon: Daemon,
    stub: VisionStub,
    params: VisionBenchParams,
    progress: Callable[[str], None] = lambda _m: None,
) -> VisionBenchReport:
    """Every figure on one daemon whose agents are isolated (`agents.isolation = "process"`): its gui
    driver's display is the task display, and `stub` serves the vision model."""
    kernel, host = daemon.kernel, daemon.host
    if host is None:
        raise RuntimeError("bench vision needs isolated agents: set agents.isolation = 'process'")
    driver = kernel.drivers.get("gui")
    if not isinstance(driver, GuiDriver):
        raise RuntimeError("bench vision needs the gui driver")
    kernel.engines.models[STUB_MODEL] = RemoteModelConfig(
        model=f"openai/{stub.model}", api_base=stub.api_base, api_key="sk-bench", vision=True
    )
    progress("starting the task display")
    try:
        await stage_desktop(driver, kernel.workdir(STAGE_PID))
        progress("warm-up")
        await _agent_steps(kernel, None, "warm-in", WARM_STEPS)
        await _agent_steps(kernel, host, "warm-iso", WARM_STEPS)
        inside: list[dict[str, Any]] = []
        isolated: list[dict[str, Any]] = []
        requests: list[StubRequest] = []
        for round_, count in enumerate(_split(params.steps, params.rounds)):
            progress(f"round {round_ + 1}: {count} steps, in-process agent")
            inside += await _agent_steps(kernel, None, f"in{round_}", count)
            requests += _requests(stub, f"in{round_}", count)
            progress(f"round {round_ + 1}: {count} steps, isolated agent")
            isolated += await _agent_steps(kernel, host, f"iso{round_}", count)
            _requests(stub, f"iso{round_}", count)  # the isolated agent's steps reached the provider too
    finally:
        await driver.release(STAGE_PID)
    observe = [(r.received_at - s["started"]) * 1000 for r, s in zip(requests, inside, strict=True)]
    request_bytes = [r.body_bytes for r in requests]
    image_bytes = [r.images[0].bytes for r in requests]
    first = requests[0].images[0]
    inprocess_ms = [s["step_ms"] for s in inside]
    isolated_ms = [s["step_ms"] for s in isolated]
    return VisionBenchReport(
        display=f"{driver.config.width}x{driver.config.height}",
        image=f"{first.width}x{first.height} {first.format}",
        steps=params.steps,
        observe_ms=observe,
        request_bytes=request_bytes,
        image_bytes=image_bytes,
        inprocess_step_ms=inprocess_ms,
        isolated_step_ms=isolated_ms,
        observe_p50_ms=statistics.median(observe),
        request_bytes_p50=round(statistics.median(request_bytes)),
        image_bytes_p50=round(statistics.median(image_bytes)),
        inprocess_step_p50_ms=statistics.median(inprocess_ms),
        isolated_step_p50_ms=statistics.median(isolated_ms),
        wire_overhead_ms=statistics.median(isolated_ms) - statistics.median(inprocess_ms),
    )
