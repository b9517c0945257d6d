"""Costs of prefill and swap on this machine, measured from the engine's own work as it runs.

The old calibration ran a 256-token prefill three times at engine load (about 2 s on a fresh data dir, on
another thread than the decode loop, which slowed every later decode). Now each prefill-heavy batch and
each swap is a sample; the figures are kept in `calibration.json` for the next run. Until a kind of work
has been seen, the stored figure (or a conservative default) stands.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from aios.kernel.kv_types import Calibration

logger = logging.getLogger(__name__)

MIN_PREFILL_SAMPLE = 32
"""Batches with fewer prompt tokens say more about per-call overhead than about prefill speed."""
SMOOTHING = 0.3
DEFAULT_PREFILL_TOKENS_PER_S = 300.0
DEFAULT_SWAP_BYTES_PER_S = 1e9


class CalibrationMeter:
    """Running estimates of the costs the KV policies weigh; read from any thread, written by one."""

    def __init__(self, *, kv_bytes_per_token: float, key: str, path: Path | None) -> None:
        self._key = key
        self._path = path
        stored = _load(path, key)
        self._prefill = stored.prefill_tokens_per_s if stored else None
        self._swap_out = stored.swap_out_bytes_per_s if stored else None
        self._swap_in = stored.swap_in_bytes_per_s if stored else None
        self._kv_bytes_per_token = kv_bytes_per_token
        self._dirty = False

    def current(self) -> Calibration:
        return Calibration(
            prefill_tokens_per_s=self._prefill or DEFAULT_PREFILL_TOKENS_PER_S,
            swap_out_bytes_per_s=self._swap_out or DEFAULT_SWAP_BYTES_PER_S,
            swap_in_bytes_per_s=self._swap_in or DEFAULT_SWAP_BYTES_PER_S,
            kv_bytes_per_token=self._kv_bytes_per_token,
        )

    def observe_batch(self, *, prefill_tokens: int, total_tokens: int, seconds: float) -> None:
        """One `llama_decode`: a sample of the prefill rate when prompt tokens dominate it."""
        if prefill_tokens < MIN_PREFILL_SAMPLE or prefill_tokens < 0.8 * total_tokens or seconds <= 0:
            return
        self._prefill = _smooth(self._prefill, total_tokens / seconds)
        self._dirty = True

    def observe_swap(self, *, out_bytes: int, out_s: float, in_bytes: int, in_s: float) -> None:
        """Bytes copied out of and into the engine since the last call, and the time it took."""
        if out_bytes and out_s > 0:
            self._swap_out = _smooth(self._swap_out, out_bytes / out_s)
            self._dirty = True
        if in_bytes and in_s > 0:
            self._swap_in = _smooth(self._swap_in, in_bytes / in_s)
            self._dirty = True

    def save(self) -> None:
        """Keep what was measured for the next run (only once something was)."""
        if not self._dirty or self._path is None or self._prefill is None:
            return
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            payload = {"key": self._key, "calibration": self.current().model_dump()}
            self._path.write_text(json.dumps(payload))
            self._dirty = False
        except OSError as e:
            logger.warning("could not keep the calibration in %s: %s", self._path, e)


def _smooth(old: float | None, sample: float) -> float:
    return sample if old is None else (1 - SMOOTHING) * old + SMOOTHING * sample


def _load(path: Path | None, key: str) -> Calibration | None:
    if path is None or not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
        if stored.get("key") == key:
            return Calibration.model_validate(stored["calibration"])
    except (ValueError, KeyError, OSError):
        logger.warning("ignoring unreadable calibration file %s", path)
    return None
