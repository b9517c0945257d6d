"""The in-process engine: llama.cpp on one thread, every running generation advanced in each decode."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import threading
from pathlib import Path

from llama_cpp.llama_grammar import json_schema_to_gbnf

from aios.kernel.engines.calibration import CalibrationMeter
from aios.kernel.engines.chat_format import (
    ChatTemplate,
    grammar_friendly,
    template_messages,
    tool_call_schema,
)
from aios.kernel.engines.configs import LocalEngineConfig
from aios.kernel.engines.decode_loop import DecodeLoop
from aios.kernel.engines.engine_stats import EngineStats
from aios.kernel.engines.generation import Generation
from aios.kernel.engines.interface import Engine, EngineCapacity, EngineInfo, PreparedCall, Yielded
from aios.kernel.engines.kv_cache import KVCache
from aios.kernel.engines.llama_runtime import LlamaRuntime, default_threads
from aios.kernel.engines.mtmd_runtime import VisionRuntime
from aios.kernel.engines.requantize import weights_file
from aios.kernel.engines.vision_prompt import ImagePrompt, image_bytes, marked_request, request_images
from aios.kernel.errors import ContextOverflow, EngineError, InvalidSyscall, ModelCannotSee
from aios.kernel.kv_types import Calibration, KVDecision, KVEntry
from aios.kernel.syscalls import LLMResult, LLMSyscall

logger = logging.getLogger(__name__)

TEXT_ONLY = (
    "the embedded engine runs a text-only model; configure its projector (local.mmproj, a vision model's "
    "mmproj GGUF) or serve a vision model through litellm (a llama.cpp server started with its --mmproj "
    "file, Ollama, vLLM) and name it in the call"
)


class LocalEngine(Engine):
    """One llama.cpp context owned by one thread (see `decode_loop`); the kernel decides who runs."""

    def __init__(self, config: LocalEngineConfig | None = None, *, name: str = "local") -> None:
        self.config = config or LocalEngineConfig()
        self.name = name
        self.model_path: Path = weights_file(self.config)
        self.mmproj_path = Path(self.config.mmproj).expanduser() if self.config.mmproj else None
        self._vision: VisionRuntime | None = None
        self._keys = itertools.count()
        self._loop = self._start_thread()
        runtime = self._loop.runtime
        self._runtime = runtime
        self._template = ChatTemplate(
            runtime.chat_template(),
            bos_token=runtime.token_text(runtime.bos),
            eos_token=runtime.token_text(runtime.eos),
        )
        self.model_name = self._loop.model_name
        self._capacity = EngineCapacity(
            max_running=min(self.config.max_concurrency, self.config.n_seq_max),
            context_tokens=runtime.n_ctx_seq,
            kv_cells=None if runtime.per_sequence_kv else runtime.n_ctx,
        )

    def _start_thread(self) -> DecodeLoop:
        """Load the model on the engine's own thread: all llama.cpp compute must happen on one thread."""
        config = self.config
        threads = config.n_threads or default_threads()
        kv_type = config.resolved_kv_type
        ready = threading.Event()
        box: dict[str, object] = {}

        def main() -> None:
            runtime: LlamaRuntime | None = None
            vision: VisionRuntime | None = None
            try:
                runtime = LlamaRuntime(
                    self.model_path,
                    n_ctx=config.n_ctx,
                    n_seq_max=config.n_seq_max,
                    n_batch=config.n_batch,
                    n_threads=threads,
                    use_extra_buffers=config.use_extra_buffers,
                    repack_weights=config.weights != "as_is",
                    kv_type=kv_type,
                    per_sequence_kv=config.deterministic,
                )
                if self.mmproj_path is not None:
                    vision = VisionRuntime(
                        self.mmproj_path, model=runtime.model, n_threads=threads, n_batch=config.n_batch
                    )
                meter = CalibrationMeter(
                    kv_bytes_per_token=runtime.kv_bytes_per_token,
                    key=f"{self.model_path}|{threads}|{kv_type}",
                    path=Path(config.calibration_file) if config.calibration_file else None,
                )
                loop = DecodeLoop(
                    runtime,
                    model_name=runtime.meta("general.name") or self.model_path.stem,
                    swap_budget_bytes=config.swap_budget_mb * 1024 * 1024,
                    meter=meter,
                    share=config.share_prefixes,
                )
                box["loop"], box["vision"] = loop, vision
            except BaseException as e:
                box["error"] = e
                if vision is not None:
                    vision.close()
                if runtime is not None:
                    runtime.close()
                return
            finally:
                ready.set()
            try:
                loop.run_forever()
            finally:
                if vision is not None:
                    vision.close()
                runtime.close()

        self._thread = threading.Thread(target=main, name=f"aios-engine-{self.name}", daemon=True)
        self._thread.start()
        ready.wait()
        error = box.get("error")
        if isinstance(error, BaseException):
            raise error
        loop, vision = box["loop"], box["vision"]
        assert isinstance(loop, DecodeLoop) and (vision is None or isinstance(vision, VisionRuntime))
        self._vision = vision
        return loop

    # ---- what the kernel and the CLI read ----------------------------------------------------------

    @property
    def kv(self) -> KVCache:
        """The KV cache (its stats are read by benchmarks; mutate it only on the engine thread)."""
        return self._loop.kv

    @property
    def stats(self) -> EngineStats:
        return self._loop.stats

    @property
    def calibration(self) -> Calibration:  # type: ignore[override]
        return self._loop.meter.current()

    def capacity(self) -> EngineCapacity:
        return self._capacity

    def cannot_see(self) -> str | None:
        vision = self._vision
        if vision is None:
            return TEXT_ONLY
        if not vision.can_see:
            return f"the projector local.mmproj = {vision.path} has no vision input (libmtmd says so)"
        return None

    def info(self) -> EngineInfo:
        config = self.config
        layout = "per-sequence streams" if config.deterministic else "shared"
        return EngineInfo(
            name=self.name,
            kind="local",
            model=self.model_name,
            max_concurrency=self._capacity.max_running,
            detail=f"{self.model_path} n_ctx={config.n_ctx} n_seq_max={config.n_seq_max} "
            f"kv={config.resolved_kv_type} {layout}"
            + (f" mmproj={self.mmproj_path}" if self.mmproj_path else ""),
        )

    def render_prompt(self, request: LLMSyscall) -> str:
        """The exact text the model sees for a request."""
        return self._template.render(template_messages(request))

    def kv_entries(self) -> list[KVEntry]:
        """The KV cache as of the engine's last step (a snapshot; safe from any thread)."""
        return self._loop.snapshot()

    def call_on_engine_thread(self, function: object) -> None:
        """Run a function between decode steps (tests probe llama.cpp state this way)."""
        assert callable(function)
        self._loop.call(function)

    # ---- the engine contract -------------------------------------------------------------------------

    async def prepare(
        self, request: LLMSyscall, *, owner: int, program_arrival: float, scope: str | None = None
    ) -> PreparedCall:
        """Render, tokenize and compile the grammar off the event loop and off the decode thread."""
        self._check_alive()
        generation = await asyncio.to_thread(self._prepare, request, owner, program_arrival)
        generation.scope = scope
        return PreparedCall(
            owner=owner,
            request=request,
            prompt_tokens=len(generation.prompt),
            max_new_tokens=generation.max_new,
            handle=generation,
        )

    def _prepare(self, request: LLMSyscall, owner: int, program_arrival: float) -> Generation:
        grammar = None
        is_tool_reply = False
        if request.tools and request.tool_choice != "none":
            schema = tool_call_schema(request.choosable_tools(), allow_answer=request.tool_choice == "auto")
            grammar = _compile_schema(schema)
            is_tool_reply = True
        elif request.response_schema is not None:
            grammar = _compile_schema(request.response_schema)
        vision = self._image_prompt(request) if request_images(request) else None
        prompt = list(vision.plan.tokens) if vision else self._runtime.tokenize(self.render_prompt(request))
        context = self._capacity.context_tokens
        if len(prompt) >= context:
            raise ContextOverflow(f"prompt of {len(prompt)} tokens does not fit the context of {context}")
        seed = request.sampling.seed
        return Generation(
            key=next(self._keys),
            owner=owner,
            request=request,
            prompt=prompt,
            max_new=min(request.max_tokens, context - len(prompt)),
            grammar=grammar,
            program_arrival=program_arrival,
            is_tool_reply=is_tool_reply,
            seed=seed if seed is not None else random.getrandbits(32),
            vision=vision,
        )

    def _image_prompt(self, request: LLMSyscall) -> ImagePrompt:
        """The prompt rendered with a media marker where each image goes, split by libmtmd into chunks."""
        blind = self.cannot_see()
        if blind is not None or self._vision is None:
            raise ModelCannotSee(f"model {self.model_name!r} ({self.name}) cannot read images: {blind}")
        images = [image_bytes(source, i) for i, source in enumerate(request_images(request))]
        text = self._template.render(template_messages(marked_request(request, self._vision.marker)))
        return self._vision.tokenize(text, images)

    async def run(self, call: PreparedCall, *, budget_tokens: int | None = None) -> LLMResult | Yielded:
        """Start the call, or continue it after it yielded; cancelling abandons it."""
        self._check_alive()
        generation = call.handle
        assert isinstance(generation, Generation), "run takes what this engine's prepare returned"
        loop = asyncio.get_running_loop()
        generation.loop, generation.future = loop, loop.create_future()
        generation.budget, generation.cancelled = budget_tokens, False
        generation.offload_when_evicted = call.offload_when_evicted
        generation.on_text = call.on_text
        if generation.started:
            self._loop.resume(generation)
        else:
            self._loop.start(generation)
        try:
            return await generation.future
        except asyncio.CancelledError:
            generation.cancelled = True
            self._loop.wake()
            raise

    async def park(self, owner: int, decision: KVDecision) -> None:
        self._loop.park(owner, decision)

    async def release(self, owner: int) -> None:
        self._loop.release(owner)

    async def close(self) -> None:
        if self._thread.is_alive():
            self._loop.stop()
            await asyncio.to_thread(self._thread.join)

    def _check_alive(self) -> None:
        if not self._thread.is_alive():
            raise EngineError(f"engine {self.name!r} is stopped")


def _compile_schema(schema: dict[str, object]) -> str:
    try:
        return json_schema_to_gbnf(json.dumps(grammar_friendly(schema)))
    except Exception as e:
        raise InvalidSyscall(f"response_schema cannot be turned into a grammar: {e}") from e
