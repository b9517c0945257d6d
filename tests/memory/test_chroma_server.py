"""The vector index on a Chroma server (`memory.chroma_url`) instead of the embedded client."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aios.kernel.errors import ConfigError
from aios.memory.retrieval import RecallQuery
from aios.memory.schema import scope_token
from aios.memory.vector_index import VectorIndex

from .conftest import make_manager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    """`chroma run` (shipped with the chromadb package) on 127.0.0.1; stopped after the test."""
    binary = shutil.which("chroma")
    assert binary, "the chroma command comes with the chromadb package"
    port = free_port()
    server = subprocess.Popen(
        [binary, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "chroma server did not start"
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


async def test_recall_through_a_chroma_server(tmp_path: Path, chroma_server: str) -> None:
    manager = make_manager(f"sqlite:///{tmp_path / 'm.db'}", tmp_path, chroma_url=chroma_server)
    try:
        item = manager.store.add(
            user="u", agent="a", tier="long", kind="fact", text="The spare key is under the blue flowerpot"
        ).id
        manager.indexer.poke()
        hits = await manager.recall(
            RecallQuery(scopes=[scope_token("u", "a")], text="where is the house key hidden", k=3)
        )
        assert [h.item.id for h in hits] == [item]
        assert hits[0].vector_rank == 1
        assert manager.index().count(scope_token("u", "a")) == 1
        assert not (tmp_path / "chroma").exists()  # nothing was written by an embedded client
    finally:
        await manager.close()


def test_a_bad_chroma_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="chroma_url"):
        VectorIndex(url="localhost:8000")
