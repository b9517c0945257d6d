"""OSWorld's browser getters and metrics that read Chrome's profile (bookmarks, history, preferences)."""

from __future__ import annotations

from typing import Any

from aios.evals.osworld.getters import Getter
from aios.evals.osworld.metrics import Metric

METRICS: dict[str, Metric] = {}
GETTERS: dict[str, Getter] = {}
OPTION_GAPS: dict[str, Any] = {}
