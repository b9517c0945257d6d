"""Named engines from configuration, created on first use; any litellm model string works ad hoc."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from pydantic import Field

from aios.kernel.engines.interface import Engine, EngineInfo
from aios.kernel.engines.litellm_engine import LiteLLMEngine, RemoteModelConfig
from aios.kernel.engines.local import LocalEngine, LocalEngineConfig
from aios.kernel.errors import UnknownModel


class LocalModelConfig(LocalEngineConfig):
    """A configured local (llama.cpp) engine."""

    kind: Literal["local"] = "local"


ModelConfig = Annotated[LocalModelConfig | RemoteModelConfig, Field(discriminator="kind")]


class EngineRegistry:
    """Maps model names to engines; the kernel asks it for the engine of each LLM syscall."""

    def __init__(self, models: dict[str, LocalModelConfig | RemoteModelConfig], *, default: str) -> None:
        self.models = dict(models)
        self.default = default
        self._engines: dict[str, Engine] = {}
        self._loading: dict[str, asyncio.Task[Engine]] = {}

    def names(self) -> list[str]:
        """Configured names, the default first."""
        return sorted(self.models, key=lambda n: (n != self.default, n))

    def resolve(self, name: str | None) -> str:
        """The engine name a syscall's `model` field means; unknown plain names are an error."""
        name = name or self.default
        if name in self.models or "/" in name:
            return name
        raise UnknownModel(
            f"no model named {name!r}; configured: {self.names()} (or use a litellm 'provider/model')"
        )

    def get(self, name: str | None = None) -> Engine:
        """The engine for a name, creating it on first use (loading a local model takes a moment)."""
        name = self.resolve(name)
        engine = self._engines.get(name)
        if engine is None:
            config = self.models.get(name) or RemoteModelConfig(model=name)
            if isinstance(config, LocalModelConfig):
                engine = LocalEngine(config, name=name)
            else:
                engine = LiteLLMEngine(config, name=name)
            self._engines[name] = engine
        return engine

    async def acquire(self, name: str | None = None) -> Engine:
        """Like `get`, but a model is loaded in a thread so the event loop keeps serving."""
        name = self.resolve(name)
        engine = self._engines.get(name)
        if engine is not None:
            return engine
        task = self._loading.get(name)
        if task is None:
            task = asyncio.ensure_future(asyncio.to_thread(self.get, name))
            self._loading[name] = task
            task.add_done_callback(lambda _t: self._loading.pop(name, None))
        return await asyncio.shield(task)

    def register(self, name: str, engine: Engine) -> None:
        """Serve `name` with an engine built elsewhere (embedding, sharing one loaded model)."""
        if name not in self.models and "/" not in name:
            raise UnknownModel(f"no model named {name!r} is configured")
        self._engines[name] = engine

    def loaded(self) -> list[Engine]:
        return list(self._engines.values())

    def describe(self) -> list[EngineInfo]:
        """What is configured, without loading anything."""
        out = []
        for name in self.names():
            config = self.models[name]
            if isinstance(config, LocalModelConfig):
                out.append(
                    EngineInfo(
                        name=name,
                        kind="local",
                        model=config.model_path or "SmolLM2-135M-Instruct (embedded)",
                        max_concurrency=min(config.max_concurrency, config.n_seq_max),
                        detail=f"n_ctx={config.n_ctx} n_seq_max={config.n_seq_max}",
                    )
                )
            else:
                out.append(
                    EngineInfo(
                        name=name,
                        kind="litellm",
                        model=config.model,
                        max_concurrency=config.max_concurrency,
                        detail=config.api_base or "provider default endpoint",
                    )
                )
        return out

    async def close(self) -> None:
        for engine in self._engines.values():
            await engine.close()
        self._engines.clear()
