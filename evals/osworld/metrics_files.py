"""OSWorld's general file metrics: PDFs, archives, JSON/YAML, csv, epub, mp3 tags, config and text files;
and the getters for the screen, windows, wallpaper and time ranges."""

from __future__ import annotations

import ast
import csv
import datetime as dt
import functools
import json
import logging
import operator
import re
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

from rapidfuzz import fuzz

from aios.evals.osworld.a11y_selectors import AT_NAMESPACES, css_to_xpath
from aios.evals.osworld.getters import Getter, GetterContext, _copy
from aios.evals.osworld.guest import GuestConfig
from aios.evals.osworld.id3 import EASY_FRAMES, read_tags
from aios.evals.osworld.metrics import Metric, expected_records
from aios.evals.osworld.unsupported import Unsupported

log = logging.getLogger(__name__)


def _read(path: str | None) -> str | None:
    """A result file's text, or None when the agent never wrote it."""
    if not path or not Path(path).is_file():
        return None
    return Path(path).read_text(encoding="utf-8", errors="replace")


# --- values matched to rules (OSWorld's `method`/`ref` rules) ---

_COMPARISONS = {"eq", "ne", "le", "lt", "ge", "gt"}


def _regex_flags(method: str) -> re.RegexFlag:
    """`re.I.M` style methods name flags after the first dot."""
    names = method.split(".")[1:]
    return functools.reduce(operator.or_, (getattr(re, n) for n in names), re.RegexFlag(0))


def _approx(value: Any, method: str, ref: float) -> bool:
    try:
        return abs(float(value) - ref) <= float(method.split(":")[1])
    except (TypeError, ValueError):
        return False


def _in_range(value: Any, method: str, ref: list[Any]) -> bool:
    """`range.xy` bounds: each of x, y is `e` (inclusive) or `t` (exclusive)."""
    low = operator.le if method[6] == "e" else operator.lt
    high = operator.le if method[7] == "e" else operator.lt
    return low(ref[0], value) and high(value, ref[1])


def _cell_ranges_within(value: Any, ref: list[str]) -> bool:
    from openpyxl.worksheet.cell_range import MultiCellRange

    inner, outer = MultiCellRange(ref[0]), MultiCellRange(ref[1])
    return all(r in value for r in inner) and all(r in outer for r in value)


def match_value(value: Any, rule: dict[str, Any]) -> bool:
    """Whether a value passes an OSWorld `{method, ref}` rule."""
    method, ref = rule["method"], rule.get("ref")
    if method.startswith("re"):
        return isinstance(value, str) and re.search(ref, value, _regex_flags(method)) is not None
    if method in _COMPARISONS:
        return bool(getattr(operator, method)(value, ref))
    if method.startswith("approx"):
        return _approx(value, method, ref)
    if method == "spreadsheet_range":
        return _cell_ranges_within(value, ref)
    if method.startswith("range."):
        return _in_range(value, method, ref)
    if method in ("str_list_eq", "str_set_eq"):
        kind = list if method == "str_list_eq" else set
        return kind(str(value).strip("\"'").split(",")) == kind(ref)
    raise Unsupported(f"metric:rule-method:{method}")


# --- general.py ---


def _load_structured(path: str, is_yaml: bool) -> Any:
    import yaml

    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) if is_yaml else json.load(f)


def _lookup(data: Any, keys: list[Any]) -> tuple[bool, Any]:
    """Walks nested keys; (False, None) where one is missing."""
    for key in keys:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, data


def check_json(result: str | None, rules: dict[str, Any], is_yaml: bool = False) -> float:
    """Expected keys hold values passing their rules (a missing one fails); unexpected ones do not."""
    if _read(result) is None:
        return 0.0
    try:
        data = _load_structured(str(result), is_yaml)
    except (ValueError, OSError) as err:  # json and yaml parse errors are ValueError subclasses
        log.info("check_json: %s is not readable: %s", result, err)
        return 0.0
    for rule in rules.get("expect", []):
        found, value = _lookup(data, rule["key"])
        if not found or not match_value(value, rule):
            return 0.0
    for rule in rules.get("unexpect", []):
        if match_value(_lookup(data, rule["key"])[1], rule):
            return 0.0
    return 1.0


def _minutes_apart(a: str, b: str) -> float:
    fmt = "%H:%M"
    gap = abs((dt.datetime.strptime(a, fmt) - dt.datetime.strptime(b, fmt)).total_seconds()) / 60
    return min(gap, 24 * 60 - gap)


def compare_time_in_speedtest_results(result: str | None, time_diff: Any) -> float:
    """The first result's time (HH:MM ending the 2nd column of the 2nd line) is within `time_diff`
    minutes of now."""
    lines = (_read(result) or "").splitlines()
    if len(lines) < 2 or len(lines[1].split(",")) < 2:
        return 0.0
    stamp = lines[1].split(",")[1][-5:]
    try:
        return float(_minutes_apart(stamp, dt.datetime.now().strftime("%H:%M")) < int(time_diff))
    except (TypeError, ValueError):
        return 0.0


_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d")


def check_line_number(result: str | None, rules: dict[str, Any]) -> float:
    """As many lines carry an HH:MM:SS time as expected (a report with one line per sample)."""
    text = _read(result)
    if text is None:
        return 0.0
    count = sum(1 for line in text.splitlines() if _CLOCK.search(line))
    try:
        return float(count == int(rules["expected"]))
    except (TypeError, ValueError):
        return 0.0


def file_contains(result: str | None, rules: dict[str, Any]) -> float:
    text = _read(result)
    return float(text is not None and all(item in text for item in rules["expected"]))


def literal_match(result: Any, expected: Any, **options: Any) -> float:
    """Equal as text (`type` str) or item by item (`type` list); `ignore_case` folds case."""
    kind, fold = options.get("type", "str"), options.get("ignore_case", False)

    def text(value: Any) -> str:
        return str(value).lower() if fold else str(value)

    if kind == "str":
        return float(text(result) == text(expected))
    if kind == "list":
        if not isinstance(result, list | tuple) or not isinstance(expected, list | tuple):
            return 0.0
        return float([text(v) for v in result] == [text(v) for v in expected])
    raise Unsupported(f"metric:literal_match:type={kind}")


def _literal_gaps(options: dict[str, Any]) -> list[str]:
    kind = options.get("type", "str")
    return [] if kind in ("str", "list") else [f"type={kind}"]


def check_list(result: str | None, rules: dict[str, Any]) -> float:
    """Every `expect` regex matches some line and no `unexpect` regex matches any line."""
    text = _read(result)
    if text is None:
        return 0.0
    lines = text.splitlines(keepends=True)
    expected = all(any(re.search(p, line) for line in lines) for p in rules.get("expect", []))
    unexpected = any(re.search(p, line) for p in rules.get("unexpect", []) for line in lines)
    return float(expected and not unexpected)


def fuzzy_place_math(result: str | None, rules: dict[str, Any]) -> float:
    """A document of exactly three words (places), each scored by its closest expected answer."""
    if result is None or not Path(result).is_file():
        return 0.0
    from docx import Document

    try:
        words = [w for p in Document(result).paragraphs for w in p.text.split()]
    except Exception:  # python-docx and zipfile raise their own types for a file that is not a document
        return 0.0
    if len(words) != 3:
        return 0.0
    return sum(max((fuzz.ratio(w, a) / 100 for a in rules["expected"]), default=0.0) for w in words) / 3


def compare_python_pure_text(result: str | None, expected: str | None) -> float:
    """Same source once every whitespace character is removed."""
    mine, theirs = _read(result), _read(expected)
    if mine is None or theirs is None:
        return 0.0
    return float("".join(mine.split()) == "".join(theirs.split()))


def check_csv(result: str | None, rules: dict[str, Any]) -> float:
    """Each `expect` pattern matches some row (by column name) and no `unexpect` pattern matches any."""
    text = _read(result)
    if text is None:
        return 0.0
    return expected_records(list(csv.DictReader(text.splitlines())), rules)


def run_sqlite3(result: str | None, rules: dict[str, Any]) -> float:
    """The first column of the query's first row is the score (the query says what passing means)."""
    if result is None or not Path(result).is_file():
        return 0.0
    try:
        with sqlite3.connect(f"file:{result}?mode=ro", uri=True) as connection:
            row = connection.execute(rules["sql"]).fetchone()
    except sqlite3.Error as err:
        log.info("run_sqlite3: %s", err)
        return 0.0
    return float((row[0] if row else 0) or 0)


# --- accessibility tree ---


def _at_elements(tree: Any, rule: dict[str, Any]) -> list[Any]:
    if "xpath" in rule:
        return tree.xpath(rule["xpath"], namespaces=AT_NAMESPACES)
    if "selectors" in rule:
        selector = ", ".join(rule["selectors"])
        try:
            xpath = css_to_xpath(selector)
        except ValueError as err:
            raise Unsupported(f"metric:check_accessibility_tree:selector:{selector}") from err
        return tree.xpath(xpath, namespaces=AT_NAMESPACES)
    raise Unsupported("metric:check_accessibility_tree:rule without xpath or selectors")


def _text_score(elements: list[Any], rule: dict[str, Any]) -> float:
    if "text" not in rule:
        return 1.0
    if rule.get("exact", True):
        return float(any(rule["text"] == (e.text or None) for e in elements))
    return max(fuzz.ratio(rule["text"], e.text or "") / 100 for e in elements)


def check_accessibility_tree(result: str | None, rules: list[dict[str, Any]]) -> float:
    """Every rule selects some node (XPath or CSS) whose text, if given, matches; fuzzy scores multiply."""
    from lxml import etree

    if not result:
        return 0.0
    try:
        tree = etree.fromstring(result.encode())
    except etree.XMLSyntaxError:
        return 0.0
    score = 1.0
    for rule in rules:
        elements = _at_elements(tree, rule)
        if not elements:
            return 0.0
        score *= _text_score(elements, rule)
    return score


# --- basic_os.py ---


def is_in_vm_clickboard(rules: dict[str, Any], clipboard: str | None) -> float:
    """The clipboard text holds the expected text (every one of a list)."""
    if clipboard is None:
        return 0.0
    wanted = rules["expected"]
    items = wanted if isinstance(wanted, list) else [wanted]
    return float(all(item in clipboard for item in items))


def check_gnome_favorite_apps(result: str | None, rules: dict[str, Any]) -> float:
    """gsettings' favourite list holds exactly the expected apps, in any order."""
    text = (result or "").strip()
    if text.startswith("@as"):
        text = text[3:].strip()
    try:
        apps = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return 0.0
    expected = rules["expected"]
    return float(isinstance(apps, list) and len(apps) == len(expected) and set(apps) == set(expected))


def is_utc_0(result: str | None) -> float:
    """timedatectl's fourth line (Time zone) says offset +0000."""
    lines = (result or "").split("\n")
    return float(len(lines) > 3 and lines[3].endswith("+0000)"))


def check_text_enlarged(result: str | None) -> float:
    """gsettings' text-scaling-factor is above 1."""
    try:
        return float(float(str(result).strip()) > 1.0)
    except ValueError:
        return 0.0


# --- pdf.py and the file-based ones of chrome.py ---

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
    if _read(result) is None or _read(expected) is None:
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


# --- getters: info.py and misc.py ---


def vm_screen_size(ctx: GetterContext, config: dict[str, Any]) -> dict[str, int]:
    """The X screen's size (xwininfo on the root window), else the size every task computer is given."""
    shown = ctx.guest.run(["xwininfo", "-root"]).stdout
    width, height = re.search(r"Width:\s*(\d+)", shown), re.search(r"Height:\s*(\d+)", shown)
    if width and height:
        return {"width": int(width[1]), "height": int(height[1])}
    return {"width": GuestConfig().width, "height": GuestConfig().height}


_WINDOW_SCRIPT = r"""
for id in $(xprop -root _NET_CLIENT_LIST | sed 's/.*#//; s/,/ /g'); do
  class=$(xprop -id "$id" WM_CLASS 2>/dev/null | sed -n 's/^WM_CLASS([^)]*) = //p')
  echo "window $id $class"
  xwininfo -id "$id" 2>/dev/null | grep -E '^ *(Width|Height):'
done
"""
"""Each managed window's WM_CLASS and size, in the window manager's order (OSWorld's guest reads the same
list)."""


def _windows(listing: str) -> Iterator[tuple[list[str], dict[str, int]]]:
    classes: list[str] | None = None
    size: dict[str, int] = {}
    for line in listing.splitlines():
        if line.startswith("window "):
            if classes is not None:
                yield classes, size
            classes, size = re.findall(r'"([^"]*)"', line), {}
        elif m := re.match(r"\s*(Width|Height):\s*(\d+)", line):
            size[m[1].lower()] = int(m[2])
    if classes is not None:
        yield classes, size


def vm_window_size(ctx: GetterContext, config: dict[str, Any]) -> dict[str, int] | None:
    """The first window whose WM_CLASS (instance or class, any case) is `app_class_name`; None if none."""
    wanted = config["app_class_name"].lower()
    listing = ctx.guest.run(_WINDOW_SCRIPT, shell=True).stdout
    for classes, size in _windows(listing):
        if wanted in (c.lower() for c in classes) and len(size) == 2:
            return size
    return None


def vm_wallpaper(ctx: GetterContext, config: dict[str, Any]) -> str | None:
    """The picture GNOME's `picture-uri` names, copied out; None where it is unset or missing."""
    shown = ctx.guest.run(["gsettings", "get", "org.gnome.desktop.background", "picture-uri"])
    uri = shown.stdout.strip().replace("'", "")
    if shown.returncode != 0 or not uri:
        return None
    path = unquote(uri.removeprefix("file://"))
    return _copy(ctx, path, config.get("dest", PurePosixPath(path).name))


def time_diff_range(ctx: GetterContext, config: dict[str, Any]) -> Any:
    return config.get("diff_range_in_minutes")


METRICS: dict[str, Metric] = {
    "check_json": check_json,
    "compare_time_in_speedtest_results": compare_time_in_speedtest_results,
    "check_line_number": check_line_number,
    "file_contains": file_contains,
    "check_accessibility_tree": check_accessibility_tree,
    "literal_match": literal_match,
    "check_list": check_list,
    "fuzzy_place_math": fuzzy_place_math,
    "compare_python_pure_text": compare_python_pure_text,
    "check_csv": check_csv,
    "run_sqlite3": run_sqlite3,
    "is_in_vm_clickboard": is_in_vm_clickboard,
    "check_gnome_favorite_apps": check_gnome_favorite_apps,
    "is_utc_0": is_utc_0,
    "check_text_enlarged": check_text_enlarged,
    "check_pdf_pages": check_pdf_pages,
    "check_mp3_meta": check_mp3_meta,
    "compare_epub": compare_epub,
    "compare_pdfs": compare_pdfs,
    "compare_archive": compare_archive,
    "compare_htmls": compare_htmls,
    "compare_pdf_images": compare_pdf_images,
}
GETTERS: dict[str, Getter] = {
    "vm_screen_size": vm_screen_size,
    "vm_window_size": vm_window_size,
    "vm_wallpaper": vm_wallpaper,
    "time_diff_range": time_diff_range,
}
OPTION_GAPS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "literal_match": _literal_gaps,
    "compare_archive": _archive_gaps,
}
"""Only options are checked here (a task's `expected` rules are not seen by the coverage check)."""
