"""The door agent processes come through: the API's agent family on a private socket, and their sandboxes."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from aios.api.agent_routes import AgentSyscalls
from aios.api.app import create_app
from aios.api.auth import Gate
from aios.api.server import ApiServer, unix_listener
from aios.isolation.channels import AgentChannels
from aios.isolation.config import AgentsConfig
from aios.isolation.supervisor import IsolatedAgents
from aios.kernel.contracts import KernelAPI, Program
from aios.sdk import Manifest


class AgentHost:
    """Isolated agents of one kernel and the server their syscalls arrive on (an `AgentSandboxes`)."""

    def __init__(self, agents: IsolatedAgents, server: ApiServer, scratch: Path) -> None:
        self.agents = agents
        self.server = server
        self._scratch = scratch

    async def manifest(self, name: str) -> Manifest:
        return await self.agents.manifest(name)

    def program(self, entry: str, task: str) -> Program:
        return self.agents.program(entry, task)

    def output(self, pid: int) -> str:
        path = self.agents.log_dir / f"{pid}.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    async def close(self) -> None:
        await self.server.stop()
        shutil.rmtree(self._scratch, ignore_errors=True)


async def start_agent_host(
    kernel: KernelAPI,
    config: AgentsConfig,
    *,
    data_dir: Path,
    hidden: Sequence[Path] = (),
    image_bytes: int = 0,
) -> AgentHost:
    """A private socket (in a fresh 0700 folder) that only this kernel's agent processes get a token for.

    `hidden` folders stay invisible to agents even where they lie on the import path; `image_bytes` is what
    one syscall's inline images may add to its body (`[images] max_call_bytes`).
    """
    scratch = Path(tempfile.mkdtemp(prefix="aios-"))  # short: a socket path has at most 107 bytes
    socket = scratch / "kernel.sock"
    channels = AgentChannels(max_inflight=config.max_inflight_syscalls)
    server = ApiServer()
    app = create_app(
        [AgentSyscalls(kernel, channels)], Gate(users=None, channels=channels), image_bytes=image_bytes
    )
    await server.listen(app, unix_listener(socket))
    # sandboxed agents run as uids of their own: they may connect (the 0700 folder keeps everyone else out,
    # and a process token is still needed to say anything)
    socket.chmod(0o666)
    agents = IsolatedAgents(
        config,
        channels=channels,
        socket=socket,
        workdir=kernel.workdir,
        log_dir=data_dir / "logs",
        data_dir=data_dir,
        hidden=hidden,
    )
    return AgentHost(agents, server, scratch)
