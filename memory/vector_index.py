"""The vector side of memory: one Chroma collection per user and agent, rebuilt from SQL at will."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from aios.kernel.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

COLLECTION_PREFIX = "aios_"


class VectorIndex:
    """Embedded `PersistentClient` by default, `HttpClient` when a server URL is configured.

    Collections are per scope so that a query needs no metadata filter (Chroma's filtered search is two
    orders of magnitude slower than a plain one at 100k vectors).
    """

    def __init__(self, *, path: Path | None = None, url: str | None = None) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if url:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ConfigError(f"memory.chroma_url: {url!r} is not an http(s)://host:port address")
            self._client: Any = chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=settings,
            )
        elif path is not None:
            path.mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(path=str(path), settings=settings)
        else:
            raise ConfigError("memory: the vector index needs chroma_path or chroma_url")
        self._collections: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _collection(self, scope: str, *, create: bool) -> Any | None:
        with self._lock:
            collection = self._collections.get(scope)
            if collection is not None:
                return collection
            name = COLLECTION_PREFIX + scope
            if create:
                collection = self._client.get_or_create_collection(
                    name, embedding_function=None, metadata={"hnsw:space": "cosine"}
                )
            else:
                try:
                    collection = self._client.get_collection(name, embedding_function=None)
                except Exception:
                    return None
            self._collections[scope] = collection
            return collection

    def upsert(
        self, scope: str, ids: Sequence[int], vectors: np.ndarray, metadatas: list[dict[str, Any]]
    ) -> None:
        collection = self._collection(scope, create=True)
        assert collection is not None
        collection.upsert(ids=[str(i) for i in ids], embeddings=vectors, metadatas=metadatas)

    def delete(self, scope: str, ids: Sequence[int]) -> None:
        collection = self._collection(scope, create=False)
        if collection is not None and ids:
            collection.delete(ids=[str(i) for i in ids])

    def query(self, scope: str, vector: np.ndarray, n: int) -> list[tuple[int, float]]:
        """Nearest items of `scope`: (id, cosine distance), closest first."""
        collection = self._collection(scope, create=False)
        if collection is None:
            return []
        # no count() first: it costs more than the search at 100k vectors, and Chroma caps n_results itself
        result = collection.query(query_embeddings=[vector], n_results=n, include=["distances"])
        return [(int(i), float(d)) for i, d in zip(result["ids"][0], result["distances"][0], strict=True)]

    def count(self, scope: str) -> int:
        collection = self._collection(scope, create=False)
        return 0 if collection is None else int(collection.count())

    def close(self) -> None:
        """Release the client's connections (an HTTP client keeps a pool open otherwise)."""
        with self._lock:
            self._collections.clear()
        # chromadb 1.5's HTTP client (and its admin client) do not close their httpx pools; do it for them
        servers = [
            getattr(c, "_server", None) for c in (self._client, getattr(self._client, "_admin_client", None))
        ]
        self._client.close()
        for server in servers:
            session = getattr(server, "_session", None)
            if session is not None:
                session.close()

    def drop_all(self) -> None:
        """Delete every memory collection (before `aios memory reindex`)."""
        with self._lock:
            self._collections.clear()
            for collection in self._client.list_collections():
                name = collection if isinstance(collection, str) else collection.name
                if name.startswith(COLLECTION_PREFIX):
                    self._client.delete_collection(name)
