"""OSWorld's Writer metrics on what a document says: its paragraphs, lines, references and tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz

from aios.evals.osworld.metrics import Metric
from aios.evals.osworld.writer_files import (
    OptionGaps,
    doc_kind,
    flatten,
    open_document,
    paragraph_texts,
    unknown_options,
)

if TYPE_CHECKING:
    from docx.document import Document


def compare_docx_files(result: str | None, expected: str | None, **options: Any) -> float:
    """Same text, both .docx or both .odt; `content_only` scores partial credit by fuzzy ratio instead."""
    if not result or not expected or doc_kind(result) is None or doc_kind(result) != doc_kind(expected):
        return 0.0
    mine, theirs = paragraph_texts(result), paragraph_texts(expected)
    if mine is None or theirs is None:
        return 0.0
    if options.get("ignore_order", False):
        mine, theirs = sorted(mine), sorted(theirs)
    fold: Callable[[str], str] = str.lower if options.get("ignore_case", False) else str
    if options.get("content_only", False):
        return fuzz.ratio(fold(flatten(mine)), fold(flatten(theirs))) / 100.0
    if options.get("ignore_blanks", True):
        return float(fold(flatten(mine)) == fold(flatten(theirs)))
    return float([fold(t) for t in mine] == [fold(t) for t in theirs])


def compare_docx_files_and_ignore_new_lines(
    result: str | None, expected: str | None, **options: Any
) -> float:
    """Like compare_docx_files on .docx, but empty paragraphs never count, even with `ignore_blanks` off."""
    if not result or not expected or doc_kind(result) != ".docx" or doc_kind(expected) != ".docx":
        return 0.0
    mine, theirs = open_document(result), open_document(expected)
    if mine is None or theirs is None:
        return 0.0
    ours = [p.text for p in mine.paragraphs if p.text != ""]
    gold = [p.text for p in theirs.paragraphs if p.text != ""]
    if options.get("ignore_blanks", True):
        return float(flatten(ours) == flatten(gold))
    return float(ours == gold)


def compare_docx_lines(result: str | None, expected: str | None) -> float:
    """The same set of non-empty lines, in any order and with repeats collapsed."""
    mine, theirs = open_document(result), open_document(expected)
    if mine is None or theirs is None:
        return 0.0
    return float(_line_set(mine) == _line_set(theirs))


def _line_set(document: Document) -> set[str]:
    return {p.text.strip() for p in document.paragraphs if p.text.strip()}


def compare_references(result: str | None, expected: str | None, **options: Any) -> float:
    """Fuzzy-matched entries after the indicator, rescaled above `reference_base_result`; as in OSWorld,
    `content_only` changes nothing."""
    if not result or not expected or doc_kind(result) != ".docx" or doc_kind(expected) != ".docx":
        return 0.0
    mine, theirs = open_document(result), open_document(expected)
    if mine is None or theirs is None:
        return 0.0
    indicator = options.get("reference_indicator", "References")
    ours, gold = _references(mine, indicator), _references(theirs, indicator)
    if ours is None or gold is None:
        return float(ours is None and gold is None)
    if len(ours) != len(gold):
        return 0.0
    if not ours:
        return 1.0
    similarity = sum(fuzz.ratio(a, b) / 100.0 for a, b in zip(ours, gold, strict=True)) / len(ours)
    base = float(options.get("reference_base_result", 0.5))
    if similarity < base:
        return 0.0
    return 1.0 if base >= 1.0 else (similarity - base) / (1.0 - base)


def _references(document: Document, indicator: str) -> list[str] | None:
    """Non-empty paragraphs after the first one that is exactly the indicator; None without one."""
    texts = [p.text for p in document.paragraphs]
    if indicator not in texts:
        return None
    return [t for t in texts[texts.index(indicator) + 1 :] if t.strip()]


def compare_docx_tables(result: str | None, expected: str | None) -> float:
    """Same number and shape of tables and the same cell texts (outer whitespace aside)."""
    mine, theirs = open_document(result), open_document(expected)
    if mine is None or theirs is None or len(mine.tables) != len(theirs.tables):
        return 0.0
    return float(all(_same_table(a, b) for a, b in zip(mine.tables, theirs.tables, strict=True)))


def _same_table(mine: Any, theirs: Any) -> bool:
    """A ragged table python-docx cannot index by grid differs (OSWorld crashes on it)."""
    rows, columns = len(mine.rows), len(mine.columns)
    if rows != len(theirs.rows) or columns != len(theirs.columns):
        return False
    try:
        return all(
            mine.cell(i, j).text.strip() == theirs.cell(i, j).text.strip()
            for i in range(rows)
            for j in range(columns)
        )
    except IndexError:
        return False


_OPTIONS: dict[str, frozenset[str]] = {
    "compare_docx_files": frozenset({"ignore_blanks", "ignore_case", "ignore_order", "content_only"}),
    "compare_docx_files_and_ignore_new_lines": frozenset({"ignore_blanks"}),
    "compare_references": frozenset({"content_only", "reference_base_result", "reference_indicator"}),
}

METRICS: dict[str, Metric] = {
    "compare_docx_files": compare_docx_files,
    "compare_docx_files_and_ignore_new_lines": compare_docx_files_and_ignore_new_lines,
    "compare_docx_lines": compare_docx_lines,
    "compare_references": compare_references,
    "compare_docx_tables": compare_docx_tables,
}
OPTION_GAPS: dict[str, OptionGaps] = {
    name: unknown_options(_OPTIONS.get(name, frozenset())) for name in METRICS
}
