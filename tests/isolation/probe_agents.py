"""Agents the isolation tests run in a sandbox: importable by module and name, as isolated agents must be."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
from pathlib import Path

from aios.sdk import Agent, Context, InvalidSyscall, LimitExceeded, Manifest, PermissionDenied


class TraceProbe(Agent):
    """A fixed sequence of syscalls, refused ones included, so two runs can be compared call by call."""

    manifest = Manifest(name="trace-probe", capabilities=("llm", "shell.exec"))

    async def run(self, task: str, ctx: Context) -> str:
        await ctx.noop()
        echoed = await ctx.tool("shell.exec", cmd="echo isolated; pwd")
        outcomes = {"stdout": echoed["stdout"]}
        try:
            await ctx.tool("browser.open", url="http://127.0.0.1/")
        except PermissionDenied as e:
            outcomes["browser"] = type(e).__name__
        try:
            await ctx.tool("shell.exec", command="ls")
        except InvalidSyscall as e:
            outcomes["invalid"] = type(e).__name__
        outcomes["caps"] = [await ctx.has_capability("shell.exec"), await ctx.has_capability("browser.open")]
        outcomes["tools"] = sorted(t.name for t in await ctx.tools())
        answer = await ctx.llm(task, max_tokens=8)
        outcomes["llm"] = [answer.usage.completion_tokens, answer.content]
        return json.dumps(outcomes, sort_keys=True)


class Burglar(Agent):
    """Tries what a stranger's package would: read the user's files, widen its rights, reach the network."""

    manifest = Manifest(name="burglar", capabilities=("llm", "shell.exec"))

    async def run(self, task: str, ctx: Context) -> str:
        target = json.loads(task)
        got: dict[str, object] = {}
        try:
            got["secret"] = Path(target["secret"]).read_text()
        except OSError as e:
            got["secret"] = f"refused: {type(e).__name__}"
        kernel = getattr(ctx._transport, "kernel", None)  # what worked when agents ran inside the kernel
        if kernel is not None:
            proc = kernel.table.live(ctx.pid)
            proc.record = proc.record.model_copy(update={"capabilities": ["*"]})
            got["widened"] = "through the kernel object"
        got["browser_cap"] = await ctx.has_capability("browser.open")
        try:
            socket.create_connection(("127.0.0.1", target["port"]), timeout=2).close()
            got["network"] = "connected"
        except OSError as e:
            got["network"] = f"refused: {type(e).__name__}"
        got["environ"] = sorted(os.environ)
        got["uid"] = os.getuid()
        return json.dumps(got)


class Crasher(Agent):
    manifest = Manifest(name="crasher", capabilities=("llm",))

    async def run(self, task: str, ctx: Context) -> str:
        await ctx.noop()
        if task == "raise":
            raise ValueError("the agent gave up")
        print("about to crash", flush=True)
        os._exit(7)


class Sleeper(Agent):
    manifest = Manifest(name="sleeper", capabilities=("llm",))

    async def run(self, task: str, ctx: Context) -> str:
        await ctx.noop()
        await asyncio.sleep(3600)
        return "woke"


class Flooder(Agent):
    """Sends far more syscalls at once than a process may have in flight."""

    manifest = Manifest(name="flooder", capabilities=("llm", "shell.exec"))

    async def run(self, task: str, ctx: Context) -> str:
        calls = [ctx.tool("shell.exec", cmd="sleep 0.5") for _ in range(int(task))]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        refused = sum(isinstance(o, LimitExceeded) for o in outcomes)
        done = sum(isinstance(o, dict) for o in outcomes)
        return json.dumps({"refused": refused, "done": done})


class GarbageSender(Agent):
    """Speaks to the kernel's socket directly, with its own token, and sends what no SDK would."""

    manifest = Manifest(name="garbage", capabilities=("llm",))

    async def run(self, task: str, ctx: Context) -> str:
        wire = ctx._transport.wire
        bodies = {
            "garbage": b"\x00not json",
            "list": b"[1, 2]",
            "reboot": b'{"kind": "reboot"}',
            "noop": b'{"kind": "noop"}',
        }
        out = {}
        for name, body in bodies.items():
            response = await wire.post("/v1/syscalls", body)
            answer = response.json()
            out[name] = [response.status_code, answer.get("title") or answer.get("kind")]
        return json.dumps(out)


class Journaler(Agent):
    """Counts its tool runs in a file, waits at a gate the test opens, and answers with the model's words.

    `task` is a JSON object: `say` (what the first command echoes), `gate` (a file that must exist before
    the agent goes past the wait).
    """

    manifest = Manifest(name="journaler", capabilities=("llm", "shell.exec"))

    async def run(self, task: str, ctx: Context) -> str:
        spec = json.loads(task)
        said = await ctx.tool("shell.exec", cmd=f"echo {spec['say']} >> /workspace/runs; cat /workspace/runs")
        await ctx.noop()
        first = await ctx.llm("Name a colour.", max_tokens=6)
        await ctx.tool("shell.exec", cmd=f"while [ ! -e {spec['gate']} ]; do sleep 0.05; done")
        second = await ctx.llm(f"Say {first.content}", max_tokens=6)
        return json.dumps({"runs": said["stdout"], "first": first.content, "second": second.content})


class Wanderer(Agent):
    """Asks for what a file says today: run again after the file changed, it asks for something else."""

    manifest = Manifest(name="wanderer", capabilities=("llm", "shell.exec"))

    async def run(self, task: str, ctx: Context) -> str:
        spec = json.loads(task)
        word = Path(spec["word_file"]).read_text().strip()
        await ctx.tool("shell.exec", cmd=f"echo {word}")
        await ctx.tool("shell.exec", cmd=f"while [ ! -e {spec['gate']} ]; do sleep 0.05; done")
        return word


class Counter(Agent):
    """Makes `task` syscalls (JSON: `calls`, every `llm_every`-th a tiny LLM call and every
    `tool_every`-th a shell command, the rest no-ops) and reports how many were answered."""

    manifest = Manifest(name="counter", capabilities=("llm", "shell.exec"))

    async def run(self, task: str, ctx: Context) -> str:
        spec = json.loads(task)
        answered = 0
        for i in range(1, spec["calls"] + 1):
            if spec.get("llm_every") and i % spec["llm_every"] == 0:
                await ctx.llm(f"Count {i}", max_tokens=2)
            elif spec.get("tool_every") and i % spec["tool_every"] == 0:
                await ctx.tool("shell.exec", cmd=f"echo {i}")
            else:
                await ctx.noop()
            answered += 1
        return str(answered)


class Deaf(Agent):
    """Pipelines syscalls on a raw connection of its own and never reads a reply, then finishes normally."""

    manifest = Manifest(name="deaf", capabilities=("llm",))

    async def run(self, task: str, ctx: Context) -> str:
        from aios.isolation.child import AGENT_SOCKET

        token = f"Bearer {ctx._transport.wire.token}"
        body = b'{"kind": "noop"}'
        request = (
            f"POST /v1/syscalls HTTP/1.1\r\nHost: aios\r\nAuthorization: {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(AGENT_SOCKET)
        raw.setblocking(False)
        sent = 0
        loop = asyncio.get_running_loop()
        for _ in range(int(task)):
            try:
                await asyncio.wait_for(loop.sock_sendall(raw, request), 0.5)
                sent += 1
            except TimeoutError:
                break  # the kernel stopped reading from us: our replies fill the socket
        await ctx.noop()
        raw.close()
        return str(sent)


class Quitter(Agent):
    """Starts a slow tool call and exits without waiting for it."""

    manifest = Manifest(name="quitter", capabilities=("llm", "shell.exec"))

    async def run(self, task: str, ctx: Context) -> str:
        command = "touch /workspace/running && sleep 20"
        asyncio.get_running_loop().create_task(ctx.tool("shell.exec", cmd=command))
        async with asyncio.timeout(60):  # the shared work dir shows when the kernel is running the call
            while not Path("running").exists():
                await asyncio.sleep(0.02)
        os._exit(3)


class Asker(Agent):
    """One shell command (which a test's approval rules hold for a human), and its output as the answer."""

    manifest = Manifest(name="asker", capabilities=("llm", "shell.exec"))

    async def run(self, task: str, ctx: Context) -> str:
        out = await ctx.tool("shell.exec", cmd=f"echo {task}")
        return str(out["stdout"]).strip()


class Peeker(Agent):
    """Reads the file its task names: an evaluation's answers, if it can see them."""

    manifest = Manifest(name="peeker", capabilities=("llm",))

    async def run(self, task: str, ctx: Context) -> str:
        try:
            return "read:" + Path(task).read_text()[:40]
        except OSError as e:
            return f"hidden:{type(e).__name__}"


class Napper(Agent):
    """Works between syscalls for longer than the server keeps an idle connection: blocking its event loop
    (`block`, as local computation does) or awaiting (`await`); each nap's shell command is counted in a
    file, so a syscall sent twice would show."""

    manifest = Manifest(name="napper", capabilities=("llm", "shell.exec"))

    async def run(self, task: str, ctx: Context) -> str:
        spec = json.loads(task)
        for how in spec["naps"]:
            await ctx.tool("shell.exec", cmd="echo nap >> /workspace/runs")
            if how == "block":
                time.sleep(spec["seconds"])  # noqa: ASYNC251 - the agent's own work holds its event loop
            else:
                await asyncio.sleep(spec["seconds"])
        runs = await ctx.tool("shell.exec", cmd="cat /workspace/runs")
        return str(str(runs["stdout"]).count("nap"))


class Spoof(Agent):
    """Installed as `spoof`, it says it is `diary` and reads what the diary agent remembers."""

    manifest = Manifest(name="diary", capabilities=("llm", "memory.own"))

    async def run(self, task: str, ctx: Context) -> str:
        hits = await ctx.memory.recall(task)
        return json.dumps([hit.item.text for hit in hits])


class ForkBomber(Agent):
    """Starts as many child processes as it can, up to `task`, and reports how many it got."""

    manifest = Manifest(name="fork-bomber", capabilities=("llm",))

    async def run(self, task: str, ctx: Context) -> str:
        await ctx.noop()
        children = []
        refusal = ""
        for _ in range(int(task)):
            try:
                children.append(subprocess.Popen(["sleep", "60"]))  # noqa: ASYNC220 - a bomb, on purpose
            except OSError as e:
                refusal = f"{type(e).__name__}: {e.strerror}"
                break
        started = len(children)
        for child in children:
            child.kill()
            child.wait()
        await ctx.noop()  # the kernel still answers it
        return json.dumps({"started": started, "refusal": refusal})


class SecretReader(Agent):
    """Reads each file its task lists, itself and through a shell command, and says what it got."""

    manifest = Manifest(name="secret-reader", capabilities=("llm", "shell.exec"))

    async def run(self, task: str, ctx: Context) -> str:
        got: dict[str, list[str]] = {}
        for path in json.loads(task):
            try:
                mine = "read:" + Path(path).read_text()
            except OSError as e:
                mine = f"refused:{type(e).__name__}"
            out = await ctx.tool("shell.exec", cmd=f"cat {path}")
            got[path] = [mine, f"exit {out['exit_code']}: {out['stdout']}{out['stderr']}"]
        return json.dumps(got)
