"""Named engines from configuration, created on first use; any litellm model string works ad hoc."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aios.kernel.engines.configs import LocalModelConfig, RemoteModelConfig
from aios.kernel.engines.interface import Engine, EngineInfo
from aios.kernel.errors import UnknownModel


class EngineRegistry:
    """Maps model names to engines; the kernel asks it for the engine of each LLM syscall."""

    def __init__(
        self,
        models: dict[str, LocalModelConfig | RemoteModelConfig],
        *,
        default: str,
        on_load: Callable[[str], None] = lambda _name: None,
    ) -> None:
        self.models = dict(models)
        self.default = default
        self.on_load = on_load
        """Told the name of an engine about to load (a local model takes a moment): the CLI shows it."""
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
            # engines import llama.cpp or litellm: only when one is first used
            if isinstance(config, LocalModelConfig):
                from aios.kernel.engines.local import LocalEngine

                self.on_load(name)
                engine = LocalEngine(config, name=name)
            else:
                from aios.kernel.engines.litellm_engine import LiteLLMEngine

                engine = LiteLLMEngine(config, name=name)
            self._engines[name] = engine
        return engine

    async def acquire(self, name: str | None = None) -> Engine:
        """Like `get`, but a model is loaded in a thread so the event loop keeps serving."""
        name = self.resolve(name)
        engine = self._engines.get(name)
        if engine is not None:
            return engine
        return await asyncio.shield(self._loading.get(name) or self._load(name))

    def preload(self, name: str | None = None) -> None:
        """Start loading an engine in the background; the first call that needs it waits for this load."""
        name = self.resolve(name)
        if name not in self._engines and name not in self._loading:
            self._load(name)

    def _load(self, name: str) -> asyncio.Task[Engine]:
        task = asyncio.ensure_future(asyncio.to_thread(self.get, name))
        self._loading[name] = task

        def done(finished: asyncio.Task[Engine]) -> None:
            self._loading.pop(name, None)
            if not finished.cancelled():
                finished.exception()  # whoever awaits it sees the error; nobody may

        task.add_done_callback(done)
        return task

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
                        detail=f"n_ctx={config.n_ctx} n_seq_max={config.n_seq_max} "
                        f"kv={config.resolved_kv_type}"
                        + (f" weights={config.weights}" if config.weights != "as_is" else "")
                        + (" deterministic" if config.deterministic else ""),
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
