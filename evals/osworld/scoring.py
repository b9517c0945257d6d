"""Scores a finished task with OSWorld's semantics: infeasible tasks, FAIL, and/or over several metrics."""

from __future__ import annotations

import logging

from aios.evals.osworld.catalog import get, metric
from aios.evals.osworld.getters import TASK_COMPUTER, GetterContext
from aios.evals.osworld.task import Check, Evaluator

logger = logging.getLogger(__name__)


def score(evaluator: Evaluator, ctx: GetterContext, *, last_action: str | None) -> float:
    """0..1. Unsupported getters or metrics raise; a missing file scores 0 (as a getter returning None)."""
    failed = last_action == "FAIL"
    if evaluator.infeasible:
        return float(failed)
    if failed:
        return 0.0
    checks = evaluator.metrics()
    for name, *_ in checks:
        metric(name)  # an unknown metric is unsupported before any getter runs
    computer = TASK_COMPUTER.set(ctx.guest)
    try:
        return _scored(evaluator, checks, ctx)
    finally:
        TASK_COMPUTER.reset(computer)


def _scored(evaluator: Evaluator, checks: list[Check], ctx: GetterContext) -> float:
    scores = []
    for name, result_spec, expected_spec, options in checks:
        try:
            result = get(ctx, result_spec)
            value = (
                metric(name)(result, get(ctx, expected_spec), **options)
                if expected_spec
                else metric(name)(result, **options)
            )
        except FileNotFoundError as exc:
            logger.info("%s: %s: scored 0", name, exc)
            value = 0.0
        scores.append(float(value))
        if evaluator.conj == "and" and value == 0:
            return 0.0
        if evaluator.conj == "or" and value == 1:
            return 1.0
    return sum(scores) / len(scores) if evaluator.conj == "and" else max(scores)
