"""What OSWorld's Writer metrics share: documents opened and their paragraphs read as OSWorld reads them
(.docx through python-docx, .odt through its XML parts), and which of a metric's options it honours."""

from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

if TYPE_CHECKING:
    from docx.document import Document

log = logging.getLogger(__name__)

TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"

OptionGaps = Callable[[dict[str, Any]], list[str]]


def xml_parser() -> etree.XMLParser:
    """Files come from the task computer, so entities and network lookups stay off."""
    return etree.XMLParser(resolve_entities=False, no_network=True)


def open_document(path: str | None) -> Document | None:
    """The document, or None where there is none to read (a missing or damaged file scores 0)."""
    if not path or not Path(path).is_file():
        return None
    import docx

    try:
        return docx.Document(path)
    except Exception as error:  # python-docx, zipfile and lxml each raise their own types for a bad file
        log.info("%s is not a readable .docx: %s", path, error)
        return None


def doc_kind(path: str) -> str | None:
    """OSWorld tells formats apart by the (case-sensitive) name ending only."""
    return next((kind for kind in (".docx", ".odt") if str(path).endswith(kind)), None)


def odt_parts(path: str) -> list[etree._Element] | None:
    """content.xml then styles.xml: the order in which odfpy, OSWorld's reader, meets their paragraphs."""
    if not Path(path).is_file():
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if not {"META-INF/manifest.xml", "content.xml"} <= names:
                return None
            return [
                etree.fromstring(archive.read(name), xml_parser())
                for name in ("content.xml", "styles.xml")
                if name in names
            ]
    except (zipfile.BadZipFile, etree.XMLSyntaxError, OSError) as error:
        log.info("%s is not a readable .odt: %s", path, error)
        return None


def _odt_paragraph_text(paragraph: etree._Element) -> str:
    """Text directly in the paragraph or directly in a span of it; OSWorld skips spaces, tabs and links."""
    parts = [paragraph.text or ""]
    for child in paragraph:
        if child.tag == f"{TEXT}span":
            parts.append(child.text or "")
            parts.extend(inner.tail or "" for inner in child)
        parts.append(child.tail or "")
    return "".join(parts)


def paragraph_texts(path: str) -> list[str] | None:
    """Every paragraph's text, body order, of either format; None where the file cannot be read."""
    if doc_kind(path) == ".odt":
        parts = odt_parts(path)
        if parts is None:
            return None
        return [_odt_paragraph_text(p) for part in parts for p in part.iter(f"{TEXT}p")]
    document = open_document(path)
    return None if document is None else [p.text for p in document.paragraphs]


def flatten(texts: Iterable[str]) -> str:
    """Paragraph breaks and runs of whitespace all become one space, as OSWorld's blank-insensitive mode."""
    return re.sub(r"\s+", " ", "\n".join(texts)).strip()


def runs(document: Document) -> Iterator[Any]:
    """The body's runs in order (tables, headers and footers are not looked at, as in OSWorld)."""
    return (run for paragraph in document.paragraphs for run in paragraph.runs)


def unknown_options(known: frozenset[str]) -> OptionGaps:
    """Options OSWorld's version of the metric would not read either are named, not silently ignored."""
    return lambda options: sorted(set(options) - known)
