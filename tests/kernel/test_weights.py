"""`weights = "q4_0"`: the model requantized once into the data dir, reused, run on repacked buffers.

Mechanics only (the file, its cache key, the engine running it), never what the model says.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from aios.kernel.engines.batching import BatchEntry
from aios.kernel.engines.configs import LocalEngineConfig
from aios.kernel.engines.llama_runtime import LlamaRuntime
from aios.kernel.engines.model_file import embedded_model_path
from aios.kernel.engines.requantize import requantized, weights_dir, weights_file

GGUF_MAGIC = b"GGUF"


def test_deterministic_refuses_requantized_weights() -> None:
    with pytest.raises(ValidationError, match="deterministic cannot use weights 'q4_0'"):
        LocalEngineConfig(deterministic=True, n_ctx=32768, weights="q4_0")
    assert LocalEngineConfig(deterministic=True, n_ctx=32768).weights == "as_is"


def test_requantized_models_live_next_to_the_calibration_file(tmp_path: Path) -> None:
    config = LocalEngineConfig(calibration_file=str(tmp_path / "data" / "calibration.json"))
    assert weights_dir(config) == tmp_path / "data" / "models"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the embedded model, so a test may change its modification time."""
    copy = tmp_path_factory.mktemp("source") / "model.Q4_1.gguf"
    shutil.copyfile(embedded_model_path(), copy)
    return copy


@pytest.mark.model
def test_requantized_once_then_reused_until_the_source_changes(source: Path, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    first = requantized(source, "q4_0", folder)
    assert first.parent == folder and first.name.endswith(".q4_0.gguf")
    assert first.read_bytes()[:4] == GGUF_MAGIC
    assert first.stat().st_size < source.stat().st_size  # Q4_0 drops Q4_1's per-block minimum
    written_ns = first.stat().st_mtime_ns
    assert requantized(source, "q4_0", folder) == first
    assert first.stat().st_mtime_ns == written_ns  # reused, not rewritten
    assert [p.name for p in folder.iterdir()] == [first.name]  # no partial file left behind

    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    second = requantized(source, "q4_0", folder)
    assert second != first
    assert [p.name for p in folder.iterdir()] == [second.name]  # the stale copy is gone


@pytest.mark.model
def test_the_requantized_model_decodes_batches_on_repacked_buffers(source: Path, tmp_path: Path) -> None:
    config = LocalEngineConfig(
        model_path=str(source), weights="q4_0", calibration_file=str(tmp_path / "data" / "calibration.json")
    )
    path = weights_file(config)
    assert path.parent == tmp_path / "data" / "models"
    assert weights_file(config.model_copy(update={"weights": "as_is"})) == source
    runtime = LlamaRuntime(path, n_ctx=1024, n_seq_max=4, n_batch=64, n_threads=2, repack_weights=True)
    try:
        assert runtime.meta("general.file_type") == "2"  # LLAMA_FTYPE_MOSTLY_Q4_0
        prompts = [runtime.tokenize(f"Count to {n}:") for n in range(3)]
        entries = [
            BatchEntry(token=t, pos=i, seq_id=seq, wants_logits=i == len(p) - 1)
            for seq, p in enumerate(prompts)
            for i, t in enumerate(p)
        ]
        assert runtime.decode(entries) == 0  # several sequences' prompts in one multi-token decode
        sampler = runtime.new_sampler(temperature=0.0, top_p=1.0, seed=0, repeat_penalty=1.0, grammar=None)
        rows = [i for i, e in enumerate(entries) if e.wants_logits]
        tokens = [runtime.sample(sampler, row) for row in rows]
        positions = [len(p) for p in prompts]
        for _ in range(4):
            step = [
                BatchEntry(token=t, pos=pos, seq_id=seq, wants_logits=True)
                for seq, (t, pos) in enumerate(zip(tokens, positions, strict=True))
            ]
            assert runtime.decode(step) == 0
            tokens = [runtime.sample(sampler, row) for row in range(len(step))]
            positions = [pos + 1 for pos in positions]
        assert all(0 <= t < runtime.n_vocab for t in tokens)
        runtime.free_sampler(sampler)
    finally:
        runtime.close()
