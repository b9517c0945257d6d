"""Every getter and metric the runner has, by OSWorld's name, gathered from the modules that implement
them; and which of a metric's options it lacks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aios.evals.osworld import (
    getters,
    metrics,
    metrics_chrome,
    metrics_docs_format,
    metrics_docs_text,
    metrics_files,
    metrics_formats,
    metrics_images,
    metrics_slides,
    metrics_table,
    metrics_thunderbird,
    metrics_vlc,
    metrics_vscode,
    pptx_compare,
)
from aios.evals.osworld.getters import Getter, GetterContext
from aios.evals.osworld.metrics import Metric
from aios.evals.osworld.unsupported import Unsupported

_MODULES = (
    metrics_table,
    metrics_docs_text,
    metrics_docs_format,
    pptx_compare,
    metrics_slides,
    metrics_images,
    metrics_files,
    metrics_formats,
    metrics_vlc,
    metrics_thunderbird,
    metrics_vscode,
    metrics_chrome,
)
"""In this order: a later module's name wins (metrics_chrome's URL checks over metrics' simpler ones)."""

METRICS: dict[str, Metric] = dict(metrics.METRICS)
GETTERS: dict[str, Getter] = dict(getters.GETTERS)
OPTION_GAPS: dict[str, Callable[[dict[str, Any]], list[str]]] = {}
"""Metric -> a function naming the options it is given that it cannot honour ([] when it can)."""
for _module in _MODULES:
    METRICS.update(getattr(_module, "METRICS", {}))
    GETTERS.update(getattr(_module, "GETTERS", {}))
    OPTION_GAPS.update(getattr(_module, "OPTION_GAPS", {}))


def metric(name: str) -> Metric:
    """The metric by OSWorld's name; an unknown one raises Unsupported, so its task is reported, not run."""
    found = METRICS.get(name)
    if found is None:
        raise Unsupported(f"metric:{name}")
    return found


def option_gaps(name: str, options: dict[str, Any]) -> list[str]:
    """The options of this metric's call that it does not implement (named `metric:<name>:<option>`)."""
    check = OPTION_GAPS.get(name)
    return [f"{name}:{gap}" for gap in check(options)] if check is not None else []


def get(ctx: GetterContext, spec: dict[str, Any] | None) -> Any:
    """The value a getter spec names; an unknown type raises Unsupported."""
    if spec is None:
        return None
    getter = GETTERS.get(spec.get("type", ""))
    if getter is None:
        raise Unsupported(f"getter:{spec.get('type')}")
    return getter(ctx, spec)
