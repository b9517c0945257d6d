"""An SDK agent as the runner's agent: spawned as a kernel process per task, fed observations and read
for actions through the `osworld` driver, so it is scheduled, audited and confined like any other."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from aios.agent_launch import spawn_agent
from aios.evals.osworld.agents import Observation, Prediction
from aios.evals.osworld.driver import Exchange, TaskComputerDriver, View
from aios.evals.osworld.task import Task
from aios.kernel.contracts import KernelAPI
from aios.kernel.records import ProcessRecord, ProcessState

if TYPE_CHECKING:
    from aios.agent_host import AgentHost


END_GRACE_S = 5.0
"""How long an agent may take to end after its task is over before it is killed."""


class AgentEnded(RuntimeError):
    """The agent process ended without finishing its task (crashed, killed)."""


class KernelAgent:
    """One per task. `reset` spawns the process; `close` kills it if it still runs."""

    def __init__(
        self,
        kernel: KernelAPI,
        driver: TaskComputerDriver,
        agent: str,
        *,
        host: AgentHost | None,
        model: str | None,
        action_space: str,
        observation_type: str,
    ) -> None:
        self.kernel, self.driver, self.name = kernel, driver, agent
        self.host, self.model = host, model
        self.action_space, self.observation_type = action_space, observation_type
        self.exchange = Exchange()
        self.pid: int | None = None
        self._ended: asyncio.Task[ProcessRecord] | None = None
        self._step = 0
        self._tokens = 0

    async def reset(self, task: Task) -> None:
        self.pid = await spawn_agent(
            self.kernel, self.name, task.instruction, host=self.host, model=self.model
        )
        self.driver.bind(self.pid, self.exchange)
        self._ended = asyncio.ensure_future(self.kernel.wait(self.pid))

    async def predict(self, observation: Observation) -> Prediction:
        assert self.pid is not None and self._ended is not None, "reset first"
        self._step += 1
        fields = {
            "done": False,
            "step": self._step,
            "instruction": observation.instruction,
            "action_space": self.action_space,
            "observation_type": self.observation_type,
            "accessibility_tree": observation.accessibility_tree,
        }
        # the driver saves the screenshot, sized for the model, as a file in the agent's work folder
        self.exchange.observations.put_nowait(View(fields, screenshot_png=observation.screenshot or None))
        answer = asyncio.ensure_future(self.exchange.actions.get())
        await asyncio.wait({answer, self._ended}, return_when=asyncio.FIRST_COMPLETED)
        if not answer.done():
            answer.cancel()
            record = self._ended.result()
            if record.state != ProcessState.DONE:
                raise AgentEnded(
                    f"the agent process ended {record.state.value}: {record.error or ''}".strip()
                )
            return Prediction(response=record.result or "", actions=["DONE"], tokens=self._new_tokens())
        act = answer.result()
        return Prediction(response=act.response, actions=act.actions, tokens=self._new_tokens())

    def _new_tokens(self) -> int:
        assert self.pid is not None
        record = self.kernel.process(self.pid)
        total = record.tokens_in + record.tokens_out
        new, self._tokens = total - self._tokens, total
        return new

    async def close(self) -> None:
        if self.pid is None:
            return
        self.driver.unbind(self.pid)  # its next observe answers `done`: a polite agent ends by itself
        if self._ended is None or self._ended.done():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._ended), timeout=END_GRACE_S)
            return
        with contextlib.suppress(Exception):
            await self.kernel.kill(self.pid)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._ended, timeout=30)
