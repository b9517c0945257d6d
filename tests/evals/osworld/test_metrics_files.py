"""The general file metrics and the screen/window/wallpaper/time getters, on files made here."""

from __future__ import annotations

import datetime as dt
import io
import json
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import docx
import pytest
from PIL import Image

from aios.evals.osworld import getters as g
from aios.evals.osworld import metrics_files as mf
from aios.evals.osworld.a11y_selectors import css_to_xpath
from aios.evals.osworld.catalog import METRICS, OPTION_GAPS, metric
from aios.evals.osworld.guest import CommandResult
from aios.evals.osworld.unsupported import Unsupported


def _write(tmp_path: Path, name: str, data: str | bytes) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return str(path)


def _text_pdf(tmp_path: Path, name: str, pages: list[str]) -> str:
    """A PDF whose pages each show one line of Helvetica text, written object by object."""
    count = len(pages)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(count)) + b"] "
        b"/Count %d >>" % count,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        stream = b"BT /F1 12 Tf 72 720 Td (" + text.encode() + b") Tj ET"
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents %d 0 R >>" % (5 + 2 * i)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return _write(tmp_path, name, out.getvalue())


def _image_pdf(tmp_path: Path, name: str, colour: tuple[int, int, int]) -> str:
    path = tmp_path / name
    Image.new("RGB", (16, 16), colour).save(path, "PDF")
    return str(path)


def _zip(tmp_path: Path, name: str, files: dict[str, str | bytes]) -> str:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return str(path)


def test_check_json_and_yaml(tmp_path: Path) -> None:
    manifest = _write(tmp_path, "m.json", json.dumps({"name": "happy", "bg": {"scripts": ["a.js"]}, "n": 3}))
    good = {
        "expect": [
            {"key": ["name"], "method": "eq", "ref": "happy"},
            {"key": ["bg", "scripts"], "method": "eq", "ref": ["a.js"]},
            {"key": ["n"], "method": "approx:0.5", "ref": 3.2},
            {"key": ["name"], "method": "re.I", "ref": "HAP"},
        ]
    }
    assert metric("check_json")(manifest, good) == 1.0
    assert metric("check_json")(manifest, {"expect": [{"key": ["gone"], "method": "eq", "ref": 1}]}) == 0.0
    assert (
        metric("check_json")(manifest, {"unexpect": [{"key": ["n"], "method": "range.ee", "ref": [1, 3]}]})
        == 0
    )
    assert (
        metric("check_json")(manifest, {"unexpect": [{"key": ["gone"], "method": "re", "ref": "x"}]}) == 1.0
    )
    assert metric("check_json")(_write(tmp_path, "bad.json", "{"), {"expect": []}) == 0.0
    assert metric("check_json")(None, {"expect": []}) == 0.0
    config = _write(tmp_path, "c.yml", "author:\n  email: Test@gmail.com\n")
    email = {"expect": [{"key": ["author", "email"], "method": "eq", "ref": "Test@gmail.com"}]}
    assert metric("check_json")(config, email, is_yaml=True) == 1.0
    assert metric("check_json")(config, {"expect": [{**email["expect"][0], "ref": "x"}]}, is_yaml=True) == 0.0


def test_rule_methods() -> None:
    assert mf.match_value("a,b", {"method": "str_set_eq", "ref": ["b", "a"]})
    assert not mf.match_value("a,b", {"method": "str_list_eq", "ref": ["b", "a"]})
    assert mf.match_value(2, {"method": "range.te", "ref": [1, 2]})
    assert not mf.match_value(1, {"method": "range.te", "ref": [1, 2]})
    with pytest.raises(Unsupported):
        mf.match_value(1, {"method": "fuzzy", "ref": 1})


def test_speedtest_time(tmp_path: Path) -> None:
    def export(minutes_ago: int) -> str:
        stamp = (dt.datetime.now() - dt.timedelta(minutes=minutes_ago)).strftime("%Y-%m-%d %H:%M")
        return _write(tmp_path, f"s{minutes_ago}.csv", f"Date,Time,Down\n1,{stamp},500\n")

    assert metric("compare_time_in_speedtest_results")(export(5), "60") == 1.0
    assert metric("compare_time_in_speedtest_results")(export(120), "60") == 0.0
    assert metric("compare_time_in_speedtest_results")(_write(tmp_path, "h.csv", "Date\n"), "60") == 0.0
    assert metric("compare_time_in_speedtest_results")(None, "60") == 0.0


def test_line_number_and_file_contains(tmp_path: Path) -> None:
    report = _write(tmp_path, "r.txt", "Linux\n10:00:01 CPU %user\n10:00:02 all 1.0\n25:00:00 not a time\n")
    assert metric("check_line_number")(report, {"expected": "2"}) == 1.0
    assert metric("check_line_number")(report, {"expected": "3"}) == 0.0
    assert metric("check_line_number")(None, {"expected": "0"}) == 0.0
    assert metric("file_contains")(report, {"expected": ["CPU", "%user"]}) == 1.0
    assert metric("file_contains")(report, {"expected": ["CPU", "%idle"]}) == 0.0
    assert metric("file_contains")(None, {"expected": []}) == 0.0


def test_literal_match() -> None:
    assert metric("literal_match")("Yann", "yann", ignore_case=True) == 1.0
    assert metric("literal_match")("Yann", "yann") == 0.0
    assert metric("literal_match")(["A", 1], ["a", "1"], type="list", ignore_case=True) == 1.0
    assert metric("literal_match")("ab", ["a", "b"], type="list") == 0.0
    assert OPTION_GAPS["literal_match"]({"type": "dict"}) == ["type=dict"]
    assert OPTION_GAPS["literal_match"]({"type": "list"}) == []
    with pytest.raises(Unsupported):
        metric("literal_match")("a", "a", type="dict")


def test_check_list(tmp_path: Path) -> None:
    listing = _write(tmp_path, "ls.txt", "COMPANY.msf\nCOMPANY\nAttachment added!\n")
    assert metric("check_list")(listing, {"expect": [r"\bCOMPANY\.msf\b", r"\bCOMPANY/?(?!\.msf)"]}) == 1.0
    assert metric("check_list")(listing, {"expect": ["UNIVERSITY"]}) == 0.0
    assert metric("check_list")(listing, {"unexpect": ["added!$"]}) == 0.0
    assert metric("check_list")(_write(tmp_path, "nl.txt", "\n"), {"unexpect": [".+"]}) == 1.0
    assert metric("check_list")(None, {"expect": []}) == 0.0


def test_fuzzy_place_math(tmp_path: Path) -> None:
    places = ["Futian Road 1", "Xiangmei Road 2002", "Lianhua Village"]
    answers = ["FutianRoad1", "XiangmeiRoad2002", "LianhuaVillage", "Other"]

    def document(paragraphs: list[str]) -> str:
        made = docx.Document()
        for text in paragraphs:
            made.add_paragraph(text)
        path = tmp_path / f"p{len(paragraphs)}.docx"
        made.save(path)
        return str(path)

    assert (
        metric("fuzzy_place_math")(document([p.replace(" ", "") for p in places]), {"expected": answers}) == 1
    )
    assert metric("fuzzy_place_math")(document(places), {"expected": answers}) == 0.0  # nine words, not three
    assert metric("fuzzy_place_math")(None, {"expected": answers}) == 0.0


def test_python_pure_text_and_csv(tmp_path: Path) -> None:
    gold = _write(tmp_path, "g.py", "def f(x):\n    return x + 1\n")
    assert (
        metric("compare_python_pure_text")(_write(tmp_path, "a.py", "def f(x):\n\treturn x+1"), gold) == 1.0
    )
    assert (
        metric("compare_python_pure_text")(_write(tmp_path, "b.py", "def f(y):\n  return y+1"), gold) == 0.0
    )
    accounts = _write(tmp_path, "a.csv", "url,user\nimap://o.com,me@o.com\nsmtp://o.com,me@o.com\n")
    assert metric("check_csv")(accounts, {"expect": [{"url": "imap://o.com", "user": "me@o.com"}]}) == 1.0
    assert metric("check_csv")(accounts, {"expect": [{"url": "pop://o.com"}]}) == 0.0
    assert metric("check_csv")(accounts, {"unexpect": [{"url": "imap://o.com"}]}) == 0.0
    assert metric("check_csv")(None, {"expect": []}) == 0.0


def test_run_sqlite3(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite"
    with sqlite3.connect(db) as connection:
        connection.execute("create table t (a int)")
        connection.execute("insert into t values (1), (2)")
    assert metric("run_sqlite3")(str(db), {"sql": "select sum(1) > 0 from t where a = 2"}) == 1.0
    assert metric("run_sqlite3")(str(db), {"sql": "select sum(1) > 0 from t where a = 5"}) == 0.0
    assert metric("run_sqlite3")(str(db), {"sql": "select x from missing"}) == 0.0
    assert metric("run_sqlite3")(str(tmp_path / "none.sqlite"), {"sql": "select 1"}) == 0.0


TREE = """<desktop-frame xmlns:st="uri:deskat:state.at-spi.gnome.org"
 xmlns:attr="uri:deskat:attributes.at-spi.gnome.org">
<application name="Thunderbird"><page-tab-list attr:id="tabmail-tabs">
<page-tab name="About Profiles">About Profiles</page-tab></page-tab-list>
<tool-bar attr:id="MsgHeadersToolbar"><label name="To">To</label>
<section attr:class="address-pill"><label attr:class="pill-label" name="fox@uni.edu">fox</label></section>
</tool-bar><push-button name="Save" st:enabled="true">Save file</push-button></application></desktop-frame>"""


def test_check_accessibility_tree() -> None:
    check = metric("check_accessibility_tree")
    tab = (
        'application[name=Thunderbird] page-tab-list[attr|id="tabmail-tabs"]>page-tab[name="About Profiles"]'
    )
    pill = (
        'tool-bar[attr|id=MsgHeadersToolbar] label[name=To]~[attr|class="address-pill"]>label[name*="fox@"]'
    )
    assert check(TREE, [{"selectors": [tab]}, {"selectors": [pill]}]) == 1.0
    assert check(TREE, [{"selectors": [tab.replace("About Profiles", "Settings")]}]) == 0.0
    assert (
        check(TREE, [{"xpath": "//push-button[@st:enabled='true']", "text": "Save file", "exact": True}]) == 1
    )
    assert check(TREE, [{"xpath": "//push-button", "text": "Save fil", "exact": True}]) == 0.0
    assert 0.9 < check(TREE, [{"xpath": "//push-button", "text": "Save fil", "exact": False}]) < 1.0
    assert check(None, [{"xpath": "//x"}]) == 0.0
    with pytest.raises(Unsupported, match="selector"):
        check(TREE, [{"selectors": ["label:first-child"]}])


def test_css_to_xpath() -> None:
    assert css_to_xpath("a > b") == "descendant-or-self::a/b"
    assert (
        css_to_xpath("a + b, c")
        == "descendant-or-self::a/following-sibling::*[1]/self::b | descendant-or-self::c"
    )
    assert css_to_xpath("[x|y^='v']") == "descendant-or-self::*[@x:y and starts-with(@x:y, 'v')]"
    with pytest.raises(ValueError, match="unsupported selector"):
        css_to_xpath("a:hover")


def test_basic_os_metrics() -> None:
    assert metric("is_in_vm_clickboard")({"expected": "/home/user/x.docx"}, "/home/user/x.docx\n") == 1.0
    assert metric("is_in_vm_clickboard")({"expected": ["a", "c"]}, "a b") == 0.0
    assert metric("is_in_vm_clickboard")({"expected": "a"}, None) == 0.0
    favourites = {"expected": ["google-chrome.desktop", "thunderbird.desktop"]}
    apps = "['thunderbird.desktop', 'google-chrome.desktop']\n"
    assert metric("check_gnome_favorite_apps")(apps, favourites) == 1.0
    assert metric("check_gnome_favorite_apps")("['thunderbird.desktop']", favourites) == 0.0
    assert metric("check_gnome_favorite_apps")("@as []", {"expected": []}) == 1.0
    status = (
        "Local time: x\nUniversal time: x\nRTC time: x\n   Time zone: Atlantic/Faroe (WET, +0000)\nNTP: no\n"
    )
    assert metric("is_utc_0")(status) == 1.0
    assert metric("is_utc_0")(status.replace("+0000", "+0100")) == 0.0
    assert metric("is_utc_0")("short") == 0.0
    assert metric("check_text_enlarged")("1.25\n") == 1.0
    assert metric("check_text_enlarged")("1.0\n") == 0.0


def test_pdf_metrics(tmp_path: Path) -> None:
    one = _text_pdf(tmp_path, "one.pdf", ["Hello world"])
    same = _text_pdf(tmp_path, "same.pdf", ["Hello world"])
    other = _text_pdf(tmp_path, "other.pdf", ["Goodbye moon"])
    assert metric("check_pdf_pages")(one, {"relation": "eq", "ref_value": 1}) == 1.0
    assert (
        metric("check_pdf_pages")(
            _text_pdf(tmp_path, "two.pdf", ["a", "b"]), {"relation": "eq", "ref_value": 1}
        )
        == 0
    )
    assert metric("check_pdf_pages")(None, {"relation": "eq", "ref_value": 1}) == 0.0
    assert metric("compare_pdfs")(one, same) == 1.0
    assert metric("compare_pdfs")(one, other) < 0.5
    assert metric("compare_pdfs")([one, one], [same, other]) == pytest.approx(
        (1 + metric("compare_pdfs")(one, other)) / 2
    )
    assert metric("compare_pdfs")(None, same) == 0.0
    red, red2 = _image_pdf(tmp_path, "r.pdf", (255, 0, 0)), _image_pdf(tmp_path, "r2.pdf", (255, 0, 0))
    assert metric("compare_pdf_images")(red, red2) == 1.0
    assert metric("compare_pdf_images")(red, _image_pdf(tmp_path, "b.pdf", (0, 0, 255))) == 0.0
    assert metric("compare_pdf_images")(None, red2) == 0.0


def test_compare_archive(tmp_path: Path) -> None:
    gold = _zip(tmp_path, "gold.zip", {"a.txt": "x\n", "b.txt": "y\n"})
    assert (
        metric("compare_archive")(_zip(tmp_path, "same.zip", {"a.txt": "x\n", "b.txt": "y\n"}), gold) == 1.0
    )
    assert (
        metric("compare_archive")(_zip(tmp_path, "half.zip", {"a.txt": "x\n", "b.txt": "Y\n"}), gold) == 0.5
    )
    assert metric("compare_archive")(_zip(tmp_path, "fewer.zip", {"a.txt": "x\n"}), gold) == 0.0
    assert metric("compare_archive")(None, gold) == 0.0
    inner = _zip(tmp_path, "in.zip", {"slides/a.txt": "X\n"})
    assert (
        metric("compare_archive")(
            inner, _zip(tmp_path, "in2.zip", {"slides/a.txt": "x\n"}), file_path="slides"
        )
        == 0
    )
    pdfs = _zip(tmp_path, "p.zip", {"a.pdf": Path(_text_pdf(tmp_path, "a.pdf", ["Hi"])).read_bytes()})
    assert metric("compare_archive")(pdfs, pdfs, file_type="pdf") == 1.0
    assert OPTION_GAPS["compare_archive"]({"file_type": "pdf"}) == []
    assert OPTION_GAPS["compare_archive"]({"file_type": "hologram"}) == ["file_type=hologram"]


def test_compare_htmls(tmp_path: Path) -> None:
    page = '<!DOCTYPE html><html><body><div class="a  b" id="x">Hi <b>there</b></div><p>end</p></body></html>'
    gold = _write(tmp_path, "gold.html", page)
    assert metric("compare_htmls")(_write(tmp_path, "s.html", page.replace("a  b", "a b")), gold) == 1.0
    assert metric("compare_htmls")(_write(tmp_path, "t.html", page.replace("there", "here")), gold) == 0.0
    assert metric("compare_htmls")(_write(tmp_path, "i.html", page.replace('id="x"', 'id="y"')), gold) == 0.0
    assert metric("compare_htmls")(None, gold) == 0.0


def _epub(tmp_path: Path, name: str, paragraph: str, identifier: str = "id-1") -> str:
    return _zip(
        tmp_path,
        name,
        {
            "toc.ncx": "<ncx>\n<navPoint id='n'>\n<text>One</text>\n</ncx>\n",
            "content.opf": f"<package>\n<dc:identifier>{identifier}</dc:identifier>\n<dc:title>T</dc:title>",
            "ch1.html": f"<html><body>\n<h1>One</h1>\n<p>{paragraph}</p><p>b</p></body></html>",
        },
    )


def test_compare_epub(tmp_path: Path) -> None:
    gold = _epub(tmp_path, "gold.epub", "a")
    assert metric("compare_epub")(_epub(tmp_path, "same.epub", "a", identifier="other"), gold) == 1.0
    assert 0.0 < metric("compare_epub")(_epub(tmp_path, "diff.epub", "c"), gold) < 1.0
    assert metric("compare_epub")(_write(tmp_path, "x.epub", "not a zip"), gold) == 0.0
    assert metric("compare_epub")(None, gold) == 0.0


def _frame(frame_id: bytes, text: str, version: int) -> bytes:
    body = b"\x03" + text.encode() if version == 4 else b"\x01" + text.encode("utf-16")
    size = len(body)
    raw = bytes((size >> s) & 0x7F for s in (21, 14, 7, 0)) if version == 4 else size.to_bytes(4, "big")
    return frame_id + raw + b"\x00\x00" + body


def _mp3(tmp_path: Path, name: str, frames: dict[bytes, str], version: int = 4) -> str:
    tag = b"".join(_frame(k, v, version) for k, v in frames.items())
    size = bytes((len(tag) >> s) & 0x7F for s in (21, 14, 7, 0))
    return _write(tmp_path, name, b"ID3" + bytes((version, 0, 0)) + size + tag + b"\xff\xfb" + b"\x00" * 64)


def test_check_mp3_meta(tmp_path: Path) -> None:
    wanted = {
        "title": {"method": "eq", "ref": "Missing You"},
        "artist": {"method": "eq", "ref": "Cheng Xiang"},
    }
    v24 = _mp3(tmp_path, "a.mp3", {b"TIT2": "Missing You", b"TPE1": "Cheng Xiang"})
    v23 = _mp3(
        tmp_path, "b.mp3", {b"TIT2": "Missing You", b"TPE1": "Cheng Xiang", b"TYER": "1946"}, version=3
    )
    assert metric("check_mp3_meta")(v24, wanted) == 1.0
    assert metric("check_mp3_meta")(v23, {**wanted, "date": {"method": "eq", "ref": "1946"}}) == 1.0
    assert metric("check_mp3_meta")(v24, {"title": {"method": "eq", "ref": "Missing Me"}}) == 0.0
    assert metric("check_mp3_meta")(_write(tmp_path, "n.mp3", b"\xff\xfb" * 80), wanted) == 0.0
    v1 = (
        b"\xff\xfb" * 10
        + b"TAG"
        + b"Red Daughter".ljust(30, b"\x00")
        + b"Chen".ljust(30, b"\x00")
        + bytes(65)
    )
    red = {"title": {"method": "eq", "ref": "Red Daughter"}, "artist": {"method": "eq", "ref": "Chen"}}
    assert metric("check_mp3_meta")(_write(tmp_path, "v1.mp3", v1), red) == 1.0
    with pytest.raises(Unsupported, match="tag=genre"):
        metric("check_mp3_meta")(v24, {"genre": {"method": "eq", "ref": "Pop"}})


class FakeGuest:
    """Canned command output and files, keyed by the command's text."""

    def __init__(self, outputs: dict[str, CommandResult], files: dict[str, bytes] | None = None) -> None:
        self.outputs, self.files, self.commands = outputs, files or {}, []

    def run(self, command: Any, *, shell: bool = False, timeout_s: float | None = None) -> CommandResult:
        key = command if isinstance(command, str) else " ".join(command)
        self.commands.append(command)
        return next((out for k, out in self.outputs.items() if k in key), CommandResult(1, "", "not found"))

    def read_file(self, path: str) -> bytes | None:
        return self.files.get(path)


def _ctx(tmp_path: Path, guest: FakeGuest) -> g.GetterContext:
    return g.GetterContext(
        guest=guest,
        files=tmp_path,
        cache_dir=None,
        browser=lambda: None,  # type: ignore[arg-type,return-value]
        accessibility=lambda: "",
        terminal_log=lambda: "",
    )


def test_screen_window_and_wallpaper_getters(tmp_path: Path) -> None:
    shown = FakeGuest({"xwininfo -root": CommandResult(0, "  Width: 1280\n  Height: 720\n", "")})
    assert mf.vm_screen_size(_ctx(tmp_path, shown), {}) == {"width": 1280, "height": 720}
    assert mf.vm_screen_size(_ctx(tmp_path, FakeGuest({})), {}) == {"width": 1920, "height": 1080}
    windows = (
        'window 0x1 "xterm", "XTerm"\n  Width: 800\n  Height: 600\n'
        'window 0x2 "vlc", "vlc"\n  Width: 1920\n  Height: 1050\n'
    )
    listed = FakeGuest({"_NET_CLIENT_LIST": CommandResult(0, windows, "")})
    assert mf.vm_window_size(_ctx(tmp_path, listed), {"app_class_name": "VLC"}) == {
        "width": 1920,
        "height": 1050,
    }
    assert mf.vm_window_size(_ctx(tmp_path, listed), {"app_class_name": "gimp"}) is None
    uri = CommandResult(0, "'file:///home/user/Pictures/my%20bg.png'\n", "")
    wall = FakeGuest({"picture-uri": uri}, {"/home/user/Pictures/my bg.png": b"PNG"})
    copied = mf.vm_wallpaper(_ctx(tmp_path, wall), {"dest": "background.png"})
    assert (
        copied is not None and Path(copied).read_bytes() == b"PNG" and Path(copied).name == "background.png"
    )
    assert mf.vm_wallpaper(_ctx(tmp_path, FakeGuest({"picture-uri": uri})), {"dest": "b.png"}) is None
    assert mf.time_diff_range(_ctx(tmp_path, FakeGuest({})), {"diff_range_in_minutes": "60"}) == "60"


def test_metrics_are_registered_with_the_catalog() -> None:
    assert set(mf.METRICS) <= set(METRICS)
    assert {"vm_screen_size", "vm_window_size", "vm_wallpaper", "time_diff_range"} <= set(mf.GETTERS)


def test_vm_file_gives_and_time_suffix(tmp_path: Path) -> None:
    stamp = dt.datetime.now().strftime("%Y_%m_%d")
    files = {"/home/user/a.txt": b"A", "/home/user/c.txt": b"C", f"/home/user/Export-{stamp}.csv": b"x"}
    ctx = _ctx(tmp_path, FakeGuest({}, files))
    paths, dests = ["/home/user/a.txt", "/home/user/b.txt", "/home/user/c.txt"], ["a", "b", "c"]
    assert Path(g.vm_file(ctx, {"multi": True, "path": paths, "dest": dests})).name == "a"  # type: ignore[arg-type]
    given = g.vm_file(ctx, {"multi": True, "path": paths, "dest": dests, "gives": [2, 1, 0]})
    assert [p and Path(p).name for p in given] == ["a", None, "c"]  # type: ignore[union-attr]
    dated = g.vm_file(ctx, {"path": "/home/user/Export-.csv", "dest": "Export-.csv", "time_suffix": True})
    assert dated is not None and Path(dated).name == f"Export-{stamp}.csv"  # type: ignore[arg-type]


def test_list_directory_missing_is_none(tmp_path: Path) -> None:
    listing = CommandResult(0, "f a.jpg\nd sub\nf sub/b.jpg\n", "")
    tree = g.list_directory(
        _ctx(tmp_path, FakeGuest({"/home/user/pics": listing})), {"path": "/home/user/pics"}
    )
    assert tree == {
        "type": "directory",
        "name": "pics",
        "children": [
            {"type": "file", "name": "a.jpg"},
            {"type": "directory", "name": "sub", "children": [{"type": "file", "name": "b.jpg"}]},
        ],
    }
    missing = FakeGuest({"/home/user/none": CommandResult(3, "", "")})
    assert g.list_directory(_ctx(tmp_path, missing), {"path": "/home/user/none"}) is None


def test_content_from_vm_file_reads_like_pandas(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    for row in (["name", "cites", "h"], ["Yann", 345074, 147], ["Geoff", None, 2.5], [None, None, None]):
        book.active.append(row)
    data = io.BytesIO()
    book.save(data)
    ctx = _ctx(tmp_path, FakeGuest({}, {"/home/user/r.xlsx": data.getvalue()}))
    spec = {"path": "/home/user/r.xlsx", "file_type": "xlsx", "file_content": "last_row"}
    assert g.content_from_vm_file(ctx, spec) == ["Geoff", "nan", "2.5"]
    assert g.content_from_vm_file(ctx, {**spec, "path": "/home/user/none.xlsx"}) is None
    with pytest.raises(Unsupported):
        g.content_from_vm_file(ctx, {**spec, "file_type": "docx"})


@pytest.mark.parametrize(
    ("today", "when", "template", "expected"),
    [
        (
            dt.datetime(2024, 1, 3),
            {"from": "tomorrow"},
            {"time": "{DoW}, {Month} {DayD}, {Year}"},
            "Thu, Jan 4, 2024",
        ),
        (
            dt.datetime(2024, 12, 27),
            {"from": "5th next month"},
            {"time": "{Year}-{Month0D}-{Day0D}"},
            "2025-01-05",
        ),
        (dt.datetime(2024, 1, 3), {"from": "this month"}, {"time": "{month}-weather"}, "january-weather"),
        (
            dt.datetime(2024, 8, 11),
            {"from": "first monday four months later"},
            {"time": "{MonthFull} {Day0D}"},
            "December 02",
        ),
    ],
)
def test_rule_relative_time(
    today: dt.datetime, when: dict[str, str], template: dict[str, str], expected: str
) -> None:
    rules = g.rule_relative_time(
        _ctx(Path("."), FakeGuest({})), {"rules": {"relativeTime": when, "expected": template}}
    )
    assert g.time_format("{DoW} {DoW}", today) == f"{today:%a} {{DoW}}"  # each placeholder once, as OSWorld
    assert isinstance(rules["expected"]["time"], str)
    day = g.relative_day(when["from"], today)
    assert g.time_format(template["time"], day) == expected


def test_rule_relative_time_ranges() -> None:
    wednesday = dt.datetime(2024, 1, 3)
    assert g.relative_day("next Monday", wednesday).date() == dt.date(2024, 1, 8)
    assert g.relative_day("next Friday", wednesday, start="next Monday").date() == dt.date(2024, 1, 12)
    assert g.relative_day("next Friday", wednesday).date() == dt.date(2024, 1, 5)
    assert g.relative_day("this Saturday", wednesday).date() == dt.date(2024, 1, 6)
    assert g.relative_day("this Sunday", wednesday).date() == dt.date(2024, 1, 7)
    assert g.relative_day("11th next month", wednesday).date() == dt.date(2024, 2, 11)
    rules = {
        "relativeTime": {"from": "next Monday", "to": "next Friday"},
        "expected": {"from": "{DoW}", "to": "{DoW}"},
    }
    assert g.rule_relative_time(_ctx(Path("."), FakeGuest({})), {"rules": rules})["expected"] == {
        "from": "Mon",
        "to": "Fri",
    }
    with pytest.raises(Unsupported, match="yesterday"):
        g.relative_day("yesterday", wednesday)
