"""The `osworld` driver: how an SDK agent, in its own process, sees and acts on its task's computer. The
runner hands it each observation and takes back the agent's actions; the runner executes them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aios.kernel.drivers import CallContext, Driver, Operation, RiskLevel
from aios.kernel.errors import ToolError

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


@dataclass
class Exchange:
    """One task's hand-over between the runner and the agent process."""

    observations: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)
    actions: asyncio.Queue[ActArgs] = field(default_factory=asyncio.Queue)


class TaskComputerDriver(Driver):
    """Bound per process by the runner; any other process calling it gets a clear error."""

    name = "osworld"
    max_concurrency = 64

    def __init__(self) -> None:
        self._by_pid: dict[int, Exchange] = {}

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
                description="The task's instruction and the screen as it is now (accessibility tree); "
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
            observation = await exchange.observations.get()
            return observation if observation is not None else {"done": True}
        assert isinstance(args, ActArgs)
        exchange.actions.put_nowait(args)
        return {"accepted": len(args.actions)}
