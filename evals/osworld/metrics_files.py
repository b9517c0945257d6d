"""OSWorld's general file metrics: PDFs, archives, JSON/YAML, csv, config and text files."""

from __future__ import annotations

from typing import Any

from aios.evals.osworld.getters import Getter
from aios.evals.osworld.metrics import Metric

METRICS: dict[str, Metric] = {}
GETTERS: dict[str, Getter] = {}
OPTION_GAPS: dict[str, Any] = {}
