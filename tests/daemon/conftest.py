"""A daemon in the test's own event loop, and the test agents installed the way a stranger's package is.

Two daemons: `fake_daemon` answers LLM calls with the fake engine and is reached in-process
(`asgi_client`), for what needs no model; `daemon` serves the real embedded model, for what only a model
shows. `client` speaks real HTTP over TCP: SSE that follows, a stream read as it comes, a client that
hangs up.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from aios.config import Settings
from aios.daemon import Daemon, start_daemon
from aios.kernel.engines.interface import Engine
from aios.kernel.engines.local import LocalEngine
from tests.fakes import FakeEngine

TEST_AGENTS = {
    "journaler": "tests.isolation.probe_agents:Journaler",
    "sleeper": "tests.isolation.probe_agents:Sleeper",
    "crasher": "tests.isolation.probe_agents:Crasher",
    "counter": "tests.isolation.probe_agents:Counter",
    "asker": "tests.isolation.probe_agents:Asker",
    "spoof": "tests.isolation.probe_agents:Spoof",
}


def install_agents(root: Path, package: str, agents: dict[str, str]) -> Path:
    """What `pip install` of a third-party agent package leaves behind: a distribution whose entry points
    name the agents, in `root` (a folder for the import path)."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # as site-packages is: sandboxed agents run as uids of their own and must read it
    info = root / f"{package.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1.0\n")
    lines = "\n".join(f"{name} = {target}" for name, target in agents.items())
    (info / "entry_points.txt").write_text(f"[aios.agents]\n{lines}\n")
    return root


@pytest.fixture(scope="session")
def agents_dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder on the import path holding an installed distribution whose entry points name test agents."""
    root = install_agents(tmp_path_factory.mktemp("site"), "aios-test-agents", TEST_AGENTS)
    sys.path.append(str(root))
    yield root
    sys.path.remove(str(root))


@pytest.fixture
def daemon_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"daemon": settings.daemon.model_copy(update={"port": 0})})


@contextlib.asynccontextmanager
async def started(settings: Settings, cwd: Path, engine: Engine) -> AsyncIterator[Daemon]:
    """A daemon whose "local" model is `engine`; the engine outlives it (a shared one is not closed)."""
    running = await start_daemon(settings, cwd=cwd, preload=False)
    running.kernel.engines.register("local", engine)
    yield running
    await running.kernel.shutdown(close_engines=False, interrupt=True)
    await running.close()


@pytest.fixture
async def daemon(
    daemon_settings: Settings, tmp_path: Path, local_engine: LocalEngine, agents_dist: Path
) -> AsyncIterator[Daemon]:
    async with started(daemon_settings, tmp_path, local_engine) as running:
        yield running


@pytest.fixture
def fake_engine() -> FakeEngine:
    """The fake daemon's "local" model: a test may script its tool calls and answers before it calls."""
    return FakeEngine()


@pytest.fixture
async def fake_daemon(
    daemon_settings: Settings, tmp_path: Path, fake_engine: FakeEngine, agents_dist: Path
) -> AsyncIterator[Daemon]:
    """A daemon whose "local" model is the fake engine: every route, no model loaded."""
    async with started(daemon_settings, tmp_path, fake_engine) as running:
        yield running


def admin_token(daemon: Daemon) -> str:
    return daemon.settings.cli_token_path.read_text().strip()


def user_token(daemon: Daemon, user: str, *, admin: bool = False) -> str:
    token, _ = daemon.users.create(user, admin=admin)
    return token


def client(daemon: Daemon, token: str | None = None) -> httpx.AsyncClient:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{daemon.port}", headers=headers, timeout=60)


def asgi_client(daemon: Daemon, token: str | None = None) -> httpx.AsyncClient:
    """The daemon's app in this process, without a socket. It reads a whole response before returning, so
    an event stream must not follow (`follow=false`) and a streamed completion comes back in one piece."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=daemon.app)
    return httpx.AsyncClient(transport=transport, base_url="http://aios", headers=headers, timeout=60)
