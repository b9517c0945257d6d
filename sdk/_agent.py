from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from aios.sdk._context import Context
from aios.sdk._manifest import Manifest


class Agent(ABC):
    """Base class of every agent app; register the subclass in the `aios.agents` entry-point group."""

    manifest: ClassVar[Manifest]

    @abstractmethod
    async def run(self, task: str, ctx: Context) -> str:
        """Do the task using only `ctx`; the returned text is the process's result."""
