"""Which physical KV cells a sequence's positions live in, so cells shared by a prefix copy count once.

In llama.cpp's shared cache a prefix copy (`llama_memory_seq_cp`) adds a second sequence id to the same
cells instead of writing new ones. A cell is named here by the run that wrote it (`origin`) and its
position: every sequence writes its own new tokens under a fresh origin, and a copied prefix keeps the
donor's names. Counting distinct names over the resident sequences gives the cells in use.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

_origins = itertools.count(1)

Run = tuple[int, int, int]
"""(start, end, origin): positions [start, end) live in cells written by `origin`."""


@dataclass(eq=False)
class CellRuns:
    """One sequence's cells: the runs it holds from earlier writers, then its own from `base` on."""

    inherited: list[Run] = field(default_factory=list)
    base: int = 0
    origin: int = field(default_factory=lambda: next(_origins))

    def runs(self, length: int) -> list[Run]:
        """The runs covering positions [0, length)."""
        own = [(self.base, length, self.origin)] if length > self.base else []
        return [*self.inherited, *own]

    def trim(self, keep: int, length: int) -> None:
        """Positions from `keep` on were removed: later tokens go into new cells (others may hold the old)."""
        if keep >= length:
            return
        self.inherited = _clip(self.runs(keep), keep)
        self.base = keep
        self.origin = next(_origins)

    def reset(self) -> None:
        """The sequence holds no cells (dropped, swapped out, or reloaded into cells of its own)."""
        self.trim(0, 1)

    def inherit(self, donor: CellRuns, donor_length: int, length: int) -> None:
        """Positions [0, length) now share the donor's cells (it holds `donor_length` tokens)."""
        self.inherited = _clip(donor.runs(donor_length), length)
        self.base = length
        self.origin = next(_origins)


def _clip(runs: list[Run], end: int) -> list[Run]:
    return [(start, min(stop, end), origin) for start, stop, origin in runs if start < end]


def distinct_cells(holders: list[tuple[CellRuns, int]]) -> int:
    """Cells in use by sequences given as (runs, tokens held): shared cells count once."""
    return sum(exclusive_counts(holders))


def exclusive_counts(holders: list[tuple[CellRuns, int]]) -> list[int]:
    """Cells each holder is the first in the list to hold: they sum to `distinct_cells`."""
    seen: dict[int, list[tuple[int, int]]] = {}
    counts = []
    for runs, length in holders:
        count = 0
        for start, stop, origin in runs.runs(length):
            spans = seen.setdefault(origin, [])
            count += stop - start - _overlap(spans, start, stop)
            spans.append((start, stop))
        counts.append(count)
    return counts


def _overlap(spans: list[tuple[int, int]], start: int, stop: int) -> int:
    """Positions of [start, stop) already covered by `spans` (which may overlap one another)."""
    points: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        a, b = max(a, start), min(b, stop)
        if a >= b:
            continue
        if points and a <= points[-1][1]:
            points[-1] = (points[-1][0], max(points[-1][1], b))
        else:
            points.append((a, b))
    return sum(b - a for a, b in points)
