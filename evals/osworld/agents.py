"""The agent interface of the runner (OSWorld's predict loop) and the agents that need no model."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from aios.evals.osworld.task import Task


class Observation(BaseModel):
    """What the agent sees after each step, by the run's observation type."""

    instruction: str
    screenshot: bytes | None = None
    accessibility_tree: str | None = None


class Prediction(BaseModel):
    """The agent's answer for one step: its raw response and the actions parsed from it."""

    response: str = ""
    actions: list[Any]
    tokens: int = 0


class EvalAgent(Protocol):
    """One instance per task: `reset` once, then `predict` once per step."""

    name: str

    async def reset(self, task: Task) -> None: ...

    async def predict(self, observation: Observation) -> Prediction: ...

    async def close(self) -> None: ...


class OracleAgent:
    """Replays the task's reference solution through the same action interface, then says DONE."""

    name = "oracle"

    def __init__(self) -> None:
        self._plan: list[Any] = []

    async def reset(self, task: Task) -> None:
        if task.solution is None:
            raise ValueError(f"task {task.id} has no reference solution for the oracle")
        self._plan = [*task.solution, "DONE"]

    async def predict(self, observation: Observation) -> Prediction:
        return Prediction(
            response="reference solution", actions=[self._plan.pop(0)] if self._plan else ["DONE"]
        )

    async def close(self) -> None:
        return None


class FixedAgent:
    """Answers every step with one action: DONE at once (`noop`, fails every feasible task) or FAIL
    (`fail`, succeeds exactly on the infeasible ones)."""

    def __init__(self, name: str, action: str) -> None:
        self.name = name
        self.action = action

    async def reset(self, task: Task) -> None:
        return None

    async def predict(self, observation: Observation) -> Prediction:
        return Prediction(response=self.action, actions=[self.action])

    async def close(self) -> None:
        return None


BUILTIN = {
    "oracle": OracleAgent,
    "noop": lambda: FixedAgent("noop", "DONE"),
    "fail": lambda: FixedAgent("fail", "FAIL"),
}
