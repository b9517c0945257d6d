"""Workbooks as OSWorld's spreadsheet rules read them: openpyxl's saved and value views, raw cell XML, and
the sheet indices ("RI0", "EN<name>"...) that pick a sheet of the result or of the expected workbook."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from openpyxl import Workbook, load_workbook

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"


class XmlCells:
    """Raw cell values from the xlsx XML, typed the way OSWorld's reader types them."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._shared: list[str] | None = None
        self._sheets: dict[str, etree._Element | None] = {}

    def value(self, sheet: str, coordinate: str) -> Any:
        """Numbers as float, shared and formula strings as text, anything else (booleans too) None."""
        root = self.sheet(sheet)
        if root is None:
            return None
        cell = next(
            iter(root.iterfind(f"{{{MAIN}}}sheetData/{{{MAIN}}}row/{{{MAIN}}}c[@r='{coordinate}']")), None
        )
        if cell is None:
            return None
        kind, raw = cell.get("t", "n"), cell.findtext(f"{{{MAIN}}}v")
        if raw is None:
            return None
        try:
            if kind == "n":
                return float(raw)
            if kind == "s":
                return self._strings()[int(raw)]
        except (ValueError, IndexError):
            return None
        return raw if kind == "str" else None

    def _strings(self) -> list[str]:
        if self._shared is None:
            self._shared = []
            root = self._part("xl/sharedStrings.xml")
            if root is not None:
                items = root.iterfind(f"{{{MAIN}}}si")
                self._shared = ["".join(t.text or "" for t in si.iter(f"{{{MAIN}}}t")) for si in items]
        return self._shared

    def sheet(self, name: str) -> etree._Element | None:
        """A worksheet's XML, parsed once: rules that read raw cells and extensions share it."""
        if name not in self._sheets:
            part = sheet_parts(self.path).get(name)
            self._sheets[name] = self._part(part) if part else None
        return self._sheets[name]

    def _part(self, name: str) -> etree._Element | None:
        try:
            with zipfile.ZipFile(self.path) as z:
                return etree.fromstring(z.read(name))
        except (KeyError, zipfile.BadZipFile, etree.XMLSyntaxError):
            return None


def sheet_parts(path: str) -> dict[str, str]:
    """Sheet name -> its worksheet part, through the workbook's relationships."""
    try:
        with zipfile.ZipFile(path) as z:
            book = etree.fromstring(z.read("xl/workbook.xml"))
            rels = etree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, zipfile.BadZipFile, etree.XMLSyntaxError):
        return {}
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels.iter(f"{{{_PKG_REL}}}Relationship")}
    parts = {}
    for sheet in book.iter(f"{{{MAIN}}}sheet"):
        target = targets.get(sheet.get(f"{{{_REL}}}id"), "")
        parts[sheet.get("name", "")] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return parts


@dataclass
class Book:
    """One workbook, read three ways: as saved (styles, charts...), as values, and as raw XML."""

    path: str
    saved: Workbook
    xml: XmlCells
    _values: Workbook | None = field(default=None, repr=False)

    @classmethod
    def open(cls, path: str) -> Book:
        """The saved view and the raw XML now; the value view is read only when a rule needs it."""
        return cls(path, load_workbook(path), XmlCells(path))

    @property
    def names(self) -> list[str]:
        """Sheet names in tab order, which positional indices count in."""
        return self.saved.sheetnames

    def values(self) -> Workbook:
        """Cached formula results in place of formulas, as pandas reads a sheet."""
        if self._values is None:
            self._values = load_workbook(self.path, data_only=True)
        return self._values


def pick(index: int | str, result: Book, expected: Book | None) -> tuple[Book | None, str]:
    """OSWorld's sheet index: an int or "RI<n>" (result, by position), "RN<name>", "EI<n>", "EN<name>"."""
    if isinstance(index, int):
        book, how, key = result, "I", str(index)
    elif index[:2] in ("RI", "RN", "EI", "EN"):
        book, how, key = (result if index[0] == "R" else expected), index[1], index[2:]
    else:
        raise ValueError(f"unrecognised sheet index {index!r}")
    if how == "N":
        return book, key
    try:
        return book, book.names[int(key)] if book is not None else ""
    except (IndexError, ValueError):
        return book, ""


def sheet_of(book: Book | None, name: str, *, values: bool = False) -> Any:
    """The named worksheet, or None where the book or the sheet is missing (the rule then fails)."""
    if book is None or name not in book.names:
        return None
    return (book.values() if values else book.saved)[name]


Check = Callable[[dict[str, Any], Book, Book | None], bool]
"""One compare_table rule: the rule, the result workbook and the expected one (None when not given)."""
