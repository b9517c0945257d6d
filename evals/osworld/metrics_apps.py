"""OSWorld's app-state metrics and getters: VLC, Thunderbird and VS Code settings and state."""

from __future__ import annotations

from typing import Any

from aios.evals.osworld.getters import Getter
from aios.evals.osworld.metrics import Metric

METRICS: dict[str, Metric] = {}
GETTERS: dict[str, Getter] = {}
OPTION_GAPS: dict[str, Any] = {}
