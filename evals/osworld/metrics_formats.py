"""OSWorld's metrics on whole files of one format: PDFs, archives of files, HTML pages, epub books and mp3
tags."""

from __future__ import annotations

import logging
import operator
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from aios.evals.osworld.id3 import EASY_FRAMES, read_tags
from aios.evals.osworld.metrics import Metric
from aios.evals.osworld.result_files import read_text
from aios.evals.osworld.unsupported import Unsupported
from aios.evals.osworld.value_rules import match_value

log = logging.getLogger(__name__)

_RELATIONS = {"eq", "ne", "lt", "le", "gt", "ge"}


def check_pdf_pages(result: str | None, rules: dict[str, Any]) -> float:
    """The page count stands in `relation` (an operator name) to `ref_value`."""
    if result is None or not Path(result).is_file():
        return 0.0
    if rules["relation"] not in _RELATIONS:
        raise Unsupported(f"metric:check_pdf_pages:relation={rules['relation']}")
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        pages = len(PdfReader(result).pages)
    except (PdfReadError, OSError, ValueError):
        return 0.0
    return float(getattr(operator, rules["relation"])(pages, rules["ref_value"]))


def _pdf_text(path: str) -> str:
    """Each page's text ending in a newline, as PyMuPDF (OSWorld's reader) lays pages end to end."""
    from pypdf import PdfReader

    return "".join(page.extract_text() + "\n" for page in PdfReader(path).pages).strip()


def compare_pdfs(result: str | list[str] | None, expected: str | list[str] | None) -> float:
    """Mean text similarity (rapidfuzz ratio) of each pair of PDFs; an unreadable one scores 0."""
    pairs = (
        list(zip(result or [], expected, strict=False))
        if isinstance(expected, list)
        else [(result, expected)]
    )
    total = 0.0
    for mine, theirs in pairs:
        try:
            total += fuzz.ratio(_pdf_text(str(mine)), _pdf_text(str(theirs))) / 100
        except Exception as err:  # pypdf raises many types for a damaged or missing file
            log.info("compare_pdfs: %s", err)
    count = len(expected) if isinstance(expected, list) else 1
    return total / count if count else 0.0


def _pdf_pages(path: str) -> list[tuple[str, list[bytes]]]:
    """Each page's text and its images decoded to RGB pixels."""
    from pypdf import PdfReader

    pages = []
    for page in PdfReader(path).pages:
        images = [image.image.convert("RGB").tobytes() for image in page.images if image.image]
        pages.append((page.extract_text(), images))
    return pages


def compare_pdf_images(result: str | None, expected: str | None, **_: Any) -> float:
    """Same pages: OSWorld compares rendered pages pixel by pixel; without a renderer, each page's
    images (decoded pixels) and text must be equal."""
    if not result or not expected or not Path(result).is_file():
        return 0.0
    try:
        return float(_pdf_pages(result) == _pdf_pages(expected))
    except Exception as err:  # pypdf and Pillow raise many types for a damaged file
        log.info("compare_pdf_images: %s", err)
        return 0.0


_ARCHIVE_METRICS = {
    "text": "compare_text_file",
    "pdf": "compare_pdfs",
    "docx": "compare_docx_files",
    "ppt": "compare_pptx_files",
    "image": "compare_images",
    "csv": "compare_csv",
    "table": "compare_table",
    "audio": "compare_audios",
    "video": "compare_videos",
}


def _archive_metric(file_type: str) -> Metric:
    from aios.evals.osworld import catalog

    found = catalog.METRICS.get(_ARCHIVE_METRICS.get(file_type, ""))
    if found is None:
        raise Unsupported(f"metric:compare_archive:file_type={file_type}")
    return found


def _unpack(archive: str, into: Path) -> None:
    """Tar members are filtered to plain data inside the folder (a hostile archive stays inside)."""
    if zipfile.is_zipfile(archive):
        shutil.unpack_archive(archive, into, format="zip")
    else:
        shutil.unpack_archive(archive, into, filter="data")


def compare_archive(result: str | None, expected: str | None, **options: Any) -> float:
    """Same file names (in `file_path` inside the archives), each pair scored by the `file_type` metric;
    the mean."""
    if not result or not expected or not Path(result).is_file():
        return 0.0
    inner = options.pop("file_path", "")
    compare = _archive_metric(options.pop("file_type", "text"))
    with tempfile.TemporaryDirectory() as scratch:
        mine, theirs = Path(scratch, "result"), Path(scratch, "expected")
        try:
            _unpack(result, mine)
            _unpack(expected, theirs)
            names = sorted(p.name for p in (mine / inner).iterdir())
            if names != sorted(p.name for p in (theirs / inner).iterdir()) or not names:
                return 0.0
        except (OSError, ValueError, shutil.ReadError, zipfile.BadZipFile) as err:
            log.info("compare_archive: %s", err)
            return 0.0
        return sum(_safe_score(compare, mine / inner / n, theirs / inner / n, options) for n in names) / len(
            names
        )


def _safe_score(compare: Metric, mine: Path, theirs: Path, options: dict[str, Any]) -> float:
    try:
        return float(compare(str(mine), str(theirs), **options))
    except Unsupported:
        raise
    except Exception as err:  # each file metric raises its own types for a file of another kind
        log.info("compare_archive: %s vs %s: %s", mine, theirs, err)
        return 0.0


def _archive_gaps(options: dict[str, Any]) -> list[str]:
    kind = options.get("file_type", "text")
    from aios.evals.osworld import catalog

    return [] if _ARCHIVE_METRICS.get(kind, "") in catalog.METRICS else [f"file_type={kind}"]


_LIST_ATTRIBUTES = {"class", "rel", "rev", "accept-charset", "headers", "accesskey", "dropzone"}
"""Attributes BeautifulSoup (OSWorld's HTML reader) splits into word lists: spacing in them is ignored."""


def _html_nodes(path: str) -> Iterator[Any]:
    """Tags and text pieces in document order, as BeautifulSoup walks a page."""
    from lxml import html

    text = Path(path).read_text(encoding="utf-8")
    root = html.document_fromstring(text) if text.strip() else None
    if root is None:
        return
    doctype = root.getroottree().docinfo.doctype
    if doctype:
        yield doctype.removeprefix("<!DOCTYPE ").removesuffix(">")
    for node in _top_level(root):
        yield from _walk(node)


def _top_level(root: Any) -> list[Any]:
    before, after = [], []
    node = root.getprevious()
    while node is not None:
        before.insert(0, node)
        node = node.getprevious()
    node = root.getnext()
    while node is not None:
        after.append(node)
        node = node.getnext()
    return [*before, root, *after]


def _walk(node: Any) -> Iterator[Any]:
    if not isinstance(node.tag, str):
        yield node.text or ""
    else:
        yield node
        if node.text:
            yield node.text
        for child in node:
            yield from _walk(child)
            if child.tail:
                yield child.tail


def _attributes(element: Any) -> dict[str, Any]:
    return {k: v.split() if k in _LIST_ATTRIBUTES else v for k, v in element.attrib.items()}


def _same_node(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    return (
        a.tag == b.tag
        and a.text_content().strip() == b.text_content().strip()
        and _attributes(a) == _attributes(b)
    )


def compare_htmls(result: str | None, expected: str | None) -> float:
    """Tag by tag in document order: same name, attributes and text (pairs beyond the shorter page are not
    compared, as in OSWorld)."""
    if read_text(result) is None or read_text(expected) is None:
        return 0.0
    pairs = zip(_html_nodes(str(result)), _html_nodes(str(expected)), strict=False)
    return float(all(_same_node(a, b) for a, b in pairs))


# --- others.py: epub and mp3 ---


def _epub_parts(path: str) -> list[tuple[str, list[str]]] | None:
    """The parts OSWorld compares, by name: toc.ncx without navPoint lines, content.opf without
    dc:identifier lines, each .html re-printed from one line; None if not an epub."""
    from lxml import html

    try:
        with zipfile.ZipFile(path) as book:
            toc = book.read("toc.ncx").decode().splitlines()
            opf = book.read("content.opf").decode().splitlines()
            parts = [
                ("toc.ncx", [ln for ln in toc if "navPoint" not in ln]),
                ("content.opf", [ln for ln in opf if "dc:identifier" not in ln]),
            ]
            for name in book.namelist():
                if name.endswith(".html"):
                    flat = book.read(name).decode().replace("\n", "").replace("\r", "")
                    page = html.tostring(html.fromstring(flat), pretty_print=True, encoding="unicode")
                    parts.append((name, page.splitlines()))
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, OSError) as err:
        log.info("compare_epub: %s: %s", path, err)
        return None
    return sorted(parts)


def compare_epub(result: str | None, expected: str | None) -> float:
    """The product of each part's line similarity (parts paired in name order)."""
    if not result or not expected:
        return 0.0
    mine, theirs = _epub_parts(result), _epub_parts(expected)
    if mine is None or theirs is None:
        return 0.0
    import difflib

    score = 1.0
    for (_, a), (_, b) in zip(mine, theirs, strict=False):
        score *= difflib.SequenceMatcher(None, a, b).ratio()
    return score


def check_mp3_meta(result: str | None, rules: dict[str, dict[str, Any]]) -> float:
    """Each named tag (mutagen's EasyID3 names: title, artist, ...) passes its `{method, ref}` rule."""
    if result is None or not Path(result).is_file():
        return 0.0
    tags = read_tags(Path(result).read_bytes())
    if tags is None:
        return 0.0
    unknown = [key for key in rules if key not in EASY_FRAMES]
    if unknown:
        raise Unsupported(f"metric:check_mp3_meta:tag={unknown[0]}")
    return float(all(match_value(",".join(tags.get(key, [])), rule) for key, rule in rules.items()))


METRICS: dict[str, Metric] = {
    "check_pdf_pages": check_pdf_pages,
    "check_mp3_meta": check_mp3_meta,
    "compare_epub": compare_epub,
    "compare_pdfs": compare_pdfs,
    "compare_archive": compare_archive,
    "compare_htmls": compare_htmls,
    "compare_pdf_images": compare_pdf_images,
}
OPTION_GAPS: dict[str, Callable[[dict[str, Any]], list[str]]] = {"compare_archive": _archive_gaps}
"""Only options are checked here (a task's `expected` rules are not seen by the coverage check)."""
