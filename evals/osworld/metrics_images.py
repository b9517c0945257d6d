"""OSWorld's image metrics (GIMP tasks): pictures compared as OSWorld does."""

from __future__ import annotations

from typing import Any

from aios.evals.osworld.getters import Getter
from aios.evals.osworld.metrics import Metric

METRICS: dict[str, Metric] = {}
GETTERS: dict[str, Getter] = {}
OPTION_GAPS: dict[str, Any] = {}
