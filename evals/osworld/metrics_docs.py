"""OSWorld's document metrics (LibreOffice Writer tasks): .docx files compared as OSWorld does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aios.evals.osworld.metrics import Metric


def compare_docx_files(result: str | None, expected: str | None, **options: Any) -> float:
    """Same paragraphs; `ignore_blanks`, `ignore_case` and `ignore_order` loosen the comparison."""
    if result is None or expected is None or not Path(result).is_file():
        return 0.0
    from docx import Document

    try:
        mine = [p.text for p in Document(result).paragraphs]
        theirs = [p.text for p in Document(expected).paragraphs]
    except Exception:  # python-docx and zipfile raise their own types for a file that is not a document
        return 0.0
    if options.get("ignore_blanks", True):
        mine = [re.sub(r"\s+", " ", t).strip() for t in mine if t.strip()]
        theirs = [re.sub(r"\s+", " ", t).strip() for t in theirs if t.strip()]
    if options.get("ignore_case"):
        mine, theirs = [t.lower() for t in mine], [t.lower() for t in theirs]
    if options.get("ignore_order"):
        mine, theirs = sorted(mine), sorted(theirs)
    return float(mine == theirs)


METRICS: dict[str, Metric] = {"compare_docx_files": compare_docx_files}
