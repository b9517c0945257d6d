"""The `osworld` driver: how an SDK agent, in its own process, sees and acts on its task's computer. The
runner hands it each observation and takes back the agent's actions; the runner executes them.

A screenshot reaches the agent as a file in its work folder, sized for a model (`ScreenshotConfig`) and
described with `gui.screenshot`'s keys, so the agent passes it on in one line:
`user(text, view["screenshot"])`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aios.kernel.drivers import CallContext, Driver, Operation, RiskLevel
from aios.kernel.errors import ToolError
from aios.tools.sandbox_user import for_process
from aios.tools.screen_images import ScreenshotConfig, encode_png
from aios.tools.workdir_files import save_for

OBSERVE_TIMEOUT_S = 3600.0
"""An observation waits for the runner to finish the previous step (actions, settling, screenshot)."""


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ObserveArgs(_Args):
    pass


class ActArgs(_Args):
    actions: list[Any] = Field(min_length=1, max_length=20)
    """pyautogui code strings or computer_13 dicts (by the run's action space), or WAIT / FAIL / DONE."""
    response: str = Field(default="", max_length=20000)
    """The model's raw answer, kept in the trajectory."""


@dataclass(frozen=True)
class View:
    """One step's observation on its way to the agent."""

    fields: dict[str, Any]
    """What the agent reads as is: instruction, step, action space, accessibility tree..."""
    screenshot_png: bytes | None = None
    """The screen as the runner caught it (full size); the driver sizes it for the model."""


@dataclass
class Exchange:
    """One task's hand-over between the runner and the agent process."""

    observations: asyncio.Queue[View | None] = field(default_factory=asyncio.Queue)
    actions: asyncio.Queue[ActArgs] = field(default_factory=asyncio.Queue)


class TaskComputerDriver(Driver):
    """Bound per process by the runner; any other process calling it gets a clear error."""

    name = "osworld"
    max_concurrency = 64

    def __init__(self, screenshots: ScreenshotConfig | None = None) -> None:
        self.screenshots = screenshots or ScreenshotConfig()
        self._by_pid: dict[int, Exchange] = {}  # pid -> its task's hand-over

    def bind(self, pid: int, exchange: Exchange) -> None:
        self._by_pid[pid] = exchange

    def unconfined(self) -> frozenset[str]:
        """A process acts only on its own task's computer, a sandbox of its own."""
        return frozenset()

    def unbind(self, pid: int) -> None:
        exchange = self._by_pid.pop(pid, None)
        if exchange is not None:
            exchange.observations.put_nowait(None)  # an agent waiting for its next view learns it is over

    def operations(self) -> dict[str, Operation]:
        return {
            "observe": Operation(
                name="observe",
                description="The task's instruction and the screen as it is now (by the run's "
                "observation type: a screenshot file in the work folder, the accessibility tree, or both); "
                "`done` is true once the task is over.",
                args_model=ObserveArgs,
                risk=RiskLevel.READ,
                timeout_s=OBSERVE_TIMEOUT_S,
                capability="osworld.observe",
            ),
            "act": Operation(
                name="act",
                description="Do the next actions on the task's computer (WAIT, DONE, FAIL, or actions in "
                "the run's action space).",
                args_model=ActArgs,
                risk=RiskLevel.WRITE,
                timeout_s=30.0,
                capability="osworld.act",
            ),
        }

    async def call(self, operation: str, args: BaseModel, ctx: CallContext) -> Any:
        exchange = self._by_pid.get(ctx.pid)
        if exchange is None:
            raise ToolError(f"osworld.{operation}: process {ctx.pid} is not running an evaluation task")
        if operation == "observe":
            view = await exchange.observations.get()
            if view is None:
                return {"done": True}
            if view.screenshot_png is None:
                return {**view.fields, "screenshot": None}
            step = view.fields.get("step", 0)
            return {**view.fields, "screenshot": await self._save_shot(view.screenshot_png, step, ctx)}
        assert isinstance(args, ActArgs)
        exchange.actions.put_nowait(args)
        return {"accepted": len(args.actions)}

    async def _save_shot(self, png: bytes, step: int, ctx: CallContext) -> dict[str, Any]:
        """The screenshot scaled and encoded off the event loop, written into the agent's work folder."""
        config = self.screenshots

        def encode_and_save() -> dict[str, Any]:  # decoding, scaling and compressing take tens of ms
            shot = encode_png(png, config)
            ctx.workdir.mkdir(parents=True, exist_ok=True)
            name = f"step-{step}{shot.suffix}"
            return shot.output(save_for(ctx.workdir, "screenshots", name, shot.data, for_process(ctx.pid)))

        return await asyncio.to_thread(encode_and_save)
