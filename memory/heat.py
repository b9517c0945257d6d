"""Segment heat (MemoryOS): how much a topic is used, decides promotion and eviction."""

from __future__ import annotations

import math

from aios.memory.config import HeatWeights


def heat(*, visits: int, pages: int, idle_s: float, weights: HeatWeights) -> float:
    """Visits, interaction length (pages) and recency, weighted; recency decays as exp(-idle / tau)."""
    recency = math.exp(-max(0.0, idle_s) / weights.recency_tau_s)
    return weights.visits_weight * visits + weights.length_weight * pages + weights.recency_weight * recency
