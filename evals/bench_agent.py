"""`aios bench agent`: one agent, three greedy 32-token calls with 0.5 s tool pauses, through the kernel on a
fresh data dir, against the same calls on a plain llama-cpp-python server (`python -m llama_cpp.server`)
with the same model and settings.

Two times per side: the calls (model loaded) and end to end (from nothing: boot and model load included,
which for the kernel means a data dir with no stored calibration).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from pydantic import BaseModel

from aios.config import load_settings
from aios.kernel.engines.model_file import resolve_model_path
from aios.kernel.syscalls import LLMResult, LLMSyscall, Message, ToolSyscall

TOPICS = ("the sea", "mountains", "old libraries")
PAUSE_CMD = "sleep 0.5"
CALL_TOKENS = 32


class AgentRun(BaseModel):
    calls_s: float
    end_to_end_s: float
    tokens: int
    finished_at: float = 0.0
    """Wall-clock time the calls ended (to measure from another process's start)."""


class AgentBenchReport(BaseModel):
    kernel: list[AgentRun]
    server: list[AgentRun]
    server_missing: str | None = None

    @staticmethod
    def _median(runs: list[AgentRun], field: str) -> float:
        return statistics.median(getattr(r, field) for r in runs) if runs else float("nan")

    def markdown(self) -> str:
        lines = ["| side | calls s (median) | end to end s (median) | runs |", "|---|---|---|---|"]
        for side, runs in (("kernel", self.kernel), ("llama-cpp-python server", self.server)):
            if runs:
                calls = ", ".join(f"{r.calls_s:.2f}" for r in runs)
                lines.append(
                    f"| {side} | {self._median(runs, 'calls_s'):.2f} | "
                    f"{self._median(runs, 'end_to_end_s'):.2f} | {calls} |"
                )
        if self.server_missing:
            lines.append(f"\nserver side not measured: {self.server_missing}")
        return "\n".join(lines) + "\n"

    def last_line(self) -> str:
        line = (
            f"kernel_calls_s={self._median(self.kernel, 'calls_s'):.2f} "
            f"kernel_e2e_s={self._median(self.kernel, 'end_to_end_s'):.2f}"
        )
        if self.server:
            line += (
                f" server_calls_s={self._median(self.server, 'calls_s'):.2f}"
                f" server_e2e_s={self._median(self.server, 'end_to_end_s'):.2f}"
                f" kernel_vs_server_calls="
                f"{self._median(self.kernel, 'calls_s') / self._median(self.server, 'calls_s'):.2f}"
            )
        return line


def _turn(i: int) -> str:
    return (
        f"Write a long story about {TOPICS[0]}."
        if i == 0
        else f"Tool output: done. Now write about {TOPICS[i]}."
    )


async def kernel_run() -> AgentRun:
    """The agent through a kernel booted on an empty data dir (as on a fresh machine), in this process;
    `end_to_end_s` here counts from boot (see `kernel_run_in_new_process` for the whole start-up)."""
    from aios.boot import boot

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aios-bench-agent-") as tmp:
        folder = Path(tmp)
        (folder / "config.toml").write_text("")
        settings = load_settings(folder / "config.toml", data_dir=folder / "data")
        kernel = await boot(settings, cwd=folder, preload=True)  # as `aios run` does
        try:
            await kernel.engines.acquire(None)
            tokens = 0

            async def program(pid: int) -> str:
                nonlocal tokens
                history: list[Message] = []
                for i in range(3):
                    history.append(Message(role="user", content=_turn(i)))
                    result = await kernel.syscall(
                        pid, LLMSyscall(messages=tuple(history), max_tokens=CALL_TOKENS)
                    )
                    assert isinstance(result, LLMResult)
                    tokens += result.usage.completion_tokens
                    history.append(Message(role="assistant", content=result.content))
                    if i < 2:
                        await kernel.syscall(
                            pid, ToolSyscall(name="shell.exec", arguments={"cmd": PAUSE_CMD})
                        )
                return "done"

            calls_started = time.perf_counter()
            pid = await kernel.spawn(
                program, agent="bench", task="three calls", capabilities=["llm", "shell.exec"]
            )
            record = await kernel.wait(pid)
            finished, finished_at = time.perf_counter(), time.time()
            if record.state != "done":
                raise RuntimeError(f"the bench agent ended {record.state}: {record.error}")
        finally:
            await kernel.shutdown()
    return AgentRun(
        calls_s=finished - calls_started,
        end_to_end_s=finished - started,
        tokens=tokens,
        finished_at=finished_at,
    )


async def kernel_run_in_new_process() -> AgentRun:
    """`kernel_run` in a new Python process: end to end counts interpreter start and imports too, as the
    server's does."""
    launched_at = time.time()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import asyncio; from aios.evals.bench_agent import kernel_run; "
        "print(asyncio.run(kernel_run()).model_dump_json())",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"the kernel side of the benchmark exited with {child.returncode}")
    run = AgentRun.model_validate_json(out.decode().strip().splitlines()[-1])
    return run.model_copy(update={"end_to_end_s": run.finished_at - launched_at})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SERVER_LAUNCHER = """
import runpy
import llama_cpp.llama_cpp as low

default_params = low.llama_model_default_params

def plain_buffers():
    params = default_params()
    params.use_extra_bufts = False
    return params

low.llama_model_default_params = plain_buffers
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""
"""`python -m llama_cpp.server` with the model's weights in plain buffers, as the kernel's engine loads
them: llama.cpp repacks them for AMX where the CPU has it, and that build (GCC 12) crashes on any prompt of
more than one token (the comparison would otherwise measure a server that dies at its first call)."""


@contextlib.asynccontextmanager
async def llama_cpp_server(threads: int, n_ctx: int) -> AsyncIterator[str]:
    """`python -m llama_cpp.server` on the embedded model, started for the block; yields its base URL."""
    import httpx

    port = _free_port()
    command = [
        sys.executable, "-c", SERVER_LAUNCHER, "--model", str(resolve_model_path(None)),
        "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--n_threads_batch", str(threads),
        "--flash_attn", "true", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    server = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/v1/models")).status_code == 200:
                        break
                if server.returncode is not None:
                    raise RuntimeError(f"llama_cpp.server exited with {server.returncode}")
                await asyncio.sleep(0.1)
        yield url
    finally:
        server.terminate()
        await server.wait()


async def server_run(threads: int, n_ctx: int) -> AgentRun:
    """The same calls on `python -m llama_cpp.server`, started for this run and stopped after it."""
    import httpx

    started = time.perf_counter()
    async with (
        llama_cpp_server(threads, n_ctx) as url,
        httpx.AsyncClient(base_url=url, timeout=120) as client,
    ):
        history: list[dict[str, str]] = []
        tokens = 0
        calls_started = time.perf_counter()
        for i in range(3):
            history.append({"role": "user", "content": _turn(i)})
            body = {"messages": history, "max_tokens": CALL_TOKENS, "temperature": 0.0}
            answer = (await client.post("/v1/chat/completions", json=body)).json()
            tokens += int(answer["usage"]["completion_tokens"])
            history.append({"role": "assistant", "content": answer["choices"][0]["message"]["content"]})
            if i < 2:
                pause = await asyncio.create_subprocess_shell(PAUSE_CMD)
                await pause.wait()
        finished = time.perf_counter()
    return AgentRun(calls_s=finished - calls_started, end_to_end_s=finished - started, tokens=tokens)


async def run_agent_bench(
    *, runs: int, with_server: bool, progress: Callable[[str], None] = lambda _m: None
) -> AgentBenchReport:
    threads = len(os.sched_getaffinity(0))
    kernel: list[AgentRun] = []
    for run in range(runs):
        progress(f"kernel, run {run + 1}/{runs}")
        kernel.append(await kernel_run_in_new_process())
    server: list[AgentRun] = []
    missing = None
    if not with_server:
        missing = "skipped (--no-server)"
    elif importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        missing = "llama_cpp.server needs its extras: pip install 'llama-cpp-python[server]'"
    else:
        for run in range(runs):
            progress(f"llama-cpp-python server, run {run + 1}/{runs}")
            server.append(await server_run(threads, n_ctx=8192))
    return AgentBenchReport(kernel=kernel, server=server, server_missing=missing)
