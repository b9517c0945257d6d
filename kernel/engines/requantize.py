"""The `weights` option: the model requantized once to a faster format, kept in the data dir and reused.

The cached file is named after the source's size and modification time, so replacing the source makes a
new one (and the stale one is removed). It is written to a temporary name and renamed, so a crash or two
engines starting at once never leave a half-written model behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import time
from pathlib import Path

import llama_cpp

from aios.kernel.engines.configs import LocalEngineConfig, Weights
from aios.kernel.engines.llama_runtime import default_threads, init_backend
from aios.kernel.engines.model_file import resolve_model_path
from aios.kernel.errors import EngineError

logger = logging.getLogger(__name__)

_FTYPES: dict[Weights, int] = {"q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0}
"""llama.cpp's file type for each requantized format."""


def weights_dir(config: LocalEngineConfig) -> Path:
    """Where requantized models are kept: `models/` in the data dir (the calibration file's folder)."""
    if config.calibration_file:
        return Path(config.calibration_file).expanduser().parent / "models"
    base = os.environ.get("XDG_DATA_HOME") or "~/.local/share"
    return Path(base).expanduser() / "aios" / "models"


def requantized(source: Path, weights: Weights, folder: Path) -> Path:
    """The source model in the `weights` format: made on first use, reused while the source is unchanged."""
    ftype = _FTYPES.get(weights)
    if ftype is None:
        raise EngineError(f"no requantization to {weights!r}")
    stat = source.stat()
    target = folder / f"{source.stem}.{stat.st_size}-{stat.st_mtime_ns}.{weights}.gguf"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{target.name}.{os.getpid()}.partial"
    init_backend()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True  # the source is quantized already (the embedded model is Q4_1)
    params.nthread = default_threads()
    started = time.perf_counter()
    try:
        rc = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), ctypes.byref(params))
        if rc != 0:
            raise EngineError(f"llama.cpp could not requantize {source} to {weights} (code {rc})")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    for stale in folder.glob(f"{source.stem}.*.{weights}.gguf"):
        if stale != target:
            stale.unlink(missing_ok=True)
    logger.info(
        "requantized %s to %s in %.1f s: %s", source.name, weights, time.perf_counter() - started, target
    )
    return target


def weights_file(config: LocalEngineConfig) -> Path:
    """The file an engine loads: the configured (or embedded) model, requantized when `weights` asks."""
    source = resolve_model_path(config.model_path)
    if config.weights == "as_is":
        return source
    return requantized(source, config.weights, weights_dir(config))
