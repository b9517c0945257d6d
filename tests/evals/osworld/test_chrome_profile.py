"""Browser getters and metrics: profile files and tabs from a fake task computer, scored as OSWorld does."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aios.evals.osworld import metrics_chrome as cp
from aios.evals.osworld.getters import GetterContext
from aios.evals.osworld.guest import CommandResult
from aios.evals.osworld.unsupported import Unsupported

GETTERS, METRICS = cp.GETTERS, cp.METRICS

PREFS = f"{cp.PROFILE}/Preferences"
SECURE = f"{cp.PROFILE}/Secure Preferences"


@dataclass
class FakeGuest:
    files: dict[str, bytes] = field(default_factory=dict)
    commands: list[Any] = field(default_factory=list)

    def run(self, command: Any, *, shell: bool = False, timeout_s: float | None = None) -> CommandResult:
        self.commands.append(command)
        desktop = cp.DESKTOP + "/"
        names = [p[len(desktop) :] for p in self.files if p.startswith(desktop) and p.endswith(".desktop")]
        return CommandResult(0, "".join(f"{n}\n" for n in names), "")

    def read_file(self, path: str) -> bytes | None:
        return self.files.get(path)


@dataclass
class FakeBrowser:
    pages: list[dict[str, str]] = field(default_factory=list)
    markup: dict[str, str] = field(default_factory=dict)

    def tabs(self) -> list[dict[str, str]]:
        return self.pages

    def html(self, tab_id: str) -> str:
        return self.markup[tab_id]


@dataclass
class LiveBrowser(FakeBrowser):
    values: dict[str, list[str]] = field(default_factory=dict)

    def evaluate(self, tab_id: str, expression: str) -> Any:
        found = [v for query, v in self.values.items() if json.dumps(query) in expression]
        return json.dumps(found[0]) if found else None


def _ctx(
    tmp_path: Path, files: dict[str, Any] | None = None, browser: FakeBrowser | None = None
) -> GetterContext:
    raw = {k: v if isinstance(v, bytes) else json.dumps(v).encode() for k, v in (files or {}).items()}
    return GetterContext(
        FakeGuest(raw), tmp_path, None, lambda: browser or FakeBrowser(), lambda: "", lambda: ""
    )


def _tab(url: str, html: str = "<html><body></body></html>") -> FakeBrowser:
    return FakeBrowser([{"id": "t1", "title": "T", "url": url}], {"t1": html})


def test_registered_in_catalog() -> None:
    assert METRICS["is_expected_active_tab"] is cp.is_expected_active_tab
    assert METRICS["is_expected_url_pattern_match"] is cp.is_expected_url_pattern_match
    assert GETTERS["url_dashPart"] is cp.url_dash_part


# --- metrics ---


def test_active_tab_normalises_www_case_and_slash() -> None:
    rules = {"type": "url", "url": "https://www.Drugs.com/npc/"}
    assert cp.is_expected_active_tab("https://drugs.com/npc/", rules) == 1.0
    assert cp.is_expected_active_tab({"url": "https://WWW.example.com/"}, {"url": "https://example.com"}) == 1
    assert cp.is_expected_active_tab("https://drugs.com/npp/", rules) == 0.0
    assert cp.is_expected_active_tab("https://drugs.com/npc", rules) == 0.0  # only a bare '/' path is dropped
    assert cp.is_expected_active_tab(None, rules) == 0.0
    with pytest.raises(Unsupported, match="is_expected_active_tab:title"):
        cp.is_expected_active_tab("https://drugs.com/npc/", {"type": "title", "url": "x"})


def test_url_pattern_match() -> None:
    rules = {"expected": ["AgeAppropriate:Kids", "S=4"]}
    assert cp.is_expected_url_pattern_match({"url": "https://x.com/?AgeAppropriate:Kids&S=4"}, rules) == 1.0
    assert cp.is_expected_url_pattern_match("https://x.com/?AgeAppropriate:Kids&S=5", rules) == 0.0
    assert cp.is_expected_url_pattern_match("", {"expected": []}) == 0.0


def test_expected_tabs_order_free_same_count() -> None:
    rules = {"type": "url", "urls": ["https://www.apple.com/", "https://scholar.google.com/"]}
    tabs = [{"url": "https://scholar.google.com/"}, {"url": "https://apple.com"}]
    assert cp.is_expected_tabs(tabs, rules) == 1.0
    assert cp.is_expected_tabs([*tabs, {"url": "chrome://newtab/"}], rules) == 0.0
    assert cp.is_expected_tabs([tabs[0], {"url": "https://amazon.com"}], rules) == 0.0
    assert cp.is_expected_tabs(None, rules) == 0.0
    with pytest.raises(Unsupported):
        cp.is_expected_tabs(tabs, {"type": "title", "urls": []})


def _bookmarks(*bar: dict[str, Any]) -> dict[str, Any]:
    return {"bookmark_bar": {"children": list(bar)}, "other": {"children": []}}


def test_bookmarks_folders_and_urls() -> None:
    marks = _bookmarks(
        {"type": "folder", "name": "Favorites", "children": []},
        {"type": "url", "name": "T", "url": "https://jalammar.github.io/illustrated-transformer/"},
    )
    folders = {"type": "bookmark_bar_folders_names", "names": ["Favorites"]}
    urls = {
        "type": "bookmark_bar_websites_urls",
        "urls": ["https://jalammar.github.io/illustrated-transformer/"],
    }
    assert cp.is_expected_bookmarks(marks, folders) == 1.0
    assert cp.is_expected_bookmarks(marks, urls) == 1.0
    assert cp.is_expected_bookmarks(marks, {**folders, "names": ["Other"]}) == 0.0
    assert cp.is_expected_bookmarks(marks, {**urls, "urls": []}) == 0.0
    assert cp.is_expected_bookmarks([], folders) == 0.0
    with pytest.raises(Unsupported):
        cp.is_expected_bookmarks(marks, {"type": "other_folder"})


def test_bookmarks_liked_authors_alternatives() -> None:
    rules = {
        "type": "liked_authors_websites_urls",
        "urls": [["https://a.me/", "https://a2.me/"], "https://b.me/"],
    }
    folder = {"type": "folder", "name": "Liked Authors", "children": []}

    def liked(*urls: str) -> dict[str, Any]:
        return _bookmarks({**folder, "children": [{"type": "url", "url": u} for u in urls]})

    assert cp.is_expected_bookmarks(liked("https://b.me/", "https://a2.me/"), rules) == 1.0
    assert cp.is_expected_bookmarks(liked("https://a.me/"), rules) == 0.0
    assert cp.is_expected_bookmarks(liked("https://a.me/", "https://a2.me/", "https://b.me/"), rules) == 0.0
    assert cp.is_expected_bookmarks(_bookmarks(), rules) == 0.0


def test_search_query_and_steam_cart() -> None:
    query = {"expect": {"pattern": r"www\.google\.com.*?/search\?q=Nereida&"}}
    assert cp.is_expected_search_query({"url": "https://www.google.com/search?q=Nereida&x=1"}, query) == 1.0
    assert cp.is_expected_search_query({"url": "https://www.google.com/search?q=Other&"}, query) == 0.0
    assert cp.is_expected_search_query(None, query) == 0.0
    cart = {"items": ["The Dota 2 Official Soundtrack"]}
    assert cp.is_added_to_steam_cart({"content": "<b>The Dota 2 Official Soundtrack</b>"}, cart) == 1.0
    assert cp.is_added_to_steam_cart({"content": "<b>Dota 2</b>"}, cart) == 0.0


def test_installed_extensions_subset() -> None:
    rules = {"expected": ["Momentum", "Google Translate"]}
    assert cp.is_expected_installed_extensions(["Google Translate", "Momentum", "Other"], rules) == 1.0
    assert cp.is_expected_installed_extensions(["Momentum"], rules) == 0.0
    assert cp.is_expected_installed_extensions(None, rules) == 0.0


def test_cookie_deleted_compares_host_exactly() -> None:
    rules = {"type": "domains", "domains": [".amazon.com"]}
    assert cp.is_cookie_deleted([(1, ".google.com", "", "n"), (2, "www.amazon.com", "", "n")], rules) == 1.0
    assert cp.is_cookie_deleted([(1, ".amazon.com", "", "n")], rules) == 0.0
    assert cp.is_cookie_deleted(None, rules) == 0.0
    with pytest.raises(Unsupported):
        cp.is_cookie_deleted([], {"type": "names"})


def test_shortcut_on_desktop_by_name() -> None:
    rules = {"type": "name", "name": "Play Puzzle Game 2048"}
    assert (
        cp.is_shortcut_on_desktop({"a.desktop": "[Desktop Entry]\nName=Play Puzzle Game 2048\n"}, rules) == 1
    )
    assert cp.is_shortcut_on_desktop({"a.desktop": "Name=Play Puzzle Game 2048 Online\n"}, rules) == 0.0
    assert cp.is_shortcut_on_desktop({}, rules) == 0.0
    with pytest.raises(Unsupported):
        cp.is_shortcut_on_desktop({}, {"type": "url"})


def test_history_deleted_by_keyword() -> None:
    rules = {"type": "keywords", "keywords": ["youtube"]}
    assert cp.check_history_deleted([("https://example.com/", "E", 1)], rules) == 1.0
    assert cp.check_history_deleted([("https://www.youtube.com/watch", "Y", 1)], rules) == 0.0
    assert cp.check_history_deleted(None, rules) == 0.0


def test_enabled_experiments_in_order() -> None:
    rules = {"type": "names", "names": ["chrome-refresh-2023", "chrome-webui-refresh-2023"]}
    assert cp.check_enabled_experiments(["chrome-refresh-2023@1", "chrome-webui-refresh-2023"], rules) == 1.0
    assert cp.check_enabled_experiments(["chrome-webui-refresh-2023", "chrome-refresh-2023"], rules) == 0.0
    assert cp.check_enabled_experiments([], rules) == 0.0


def test_font_size_value_and_strict_range() -> None:
    assert cp.check_font_size({"default_font_size": 20}, {"type": "range", "min": 16, "max": 99999}) == 1.0
    assert cp.check_font_size({"default_font_size": 16}, {"type": "range", "min": 16, "max": 99999}) == 0.0
    assert cp.check_font_size({"default_font_size": 16}, {"type": "value", "value": 16}) == 1.0
    assert cp.check_font_size({"fonts": {}}, {"type": "value", "value": 16}) == 1.0
    assert cp.check_font_size({"default_font_size": 12}, {"type": "value", "value": 16}) == 0.0
    with pytest.raises(Unsupported):
        cp.check_font_size({}, {"type": "ratio"})


# --- getters: preference files ---


def test_preference_getters(tmp_path: Path) -> None:
    prefs = {
        "default_search_provider_data": {"template_url_data": {"short_name": "Bing"}},
        "profile": {"name": "Thomas", "default_content_setting_values": {"cookies": 4}},
        "webkit": {"webprefs": {"default_font_size": 20}},
        "enable_do_not_track": True,
        "safebrowsing": {"enhanced": True},
        "session": {"restore_on_startup": 5},
    }
    ctx = _ctx(tmp_path, {PREFS: prefs})
    assert GETTERS["default_search_engine"](ctx, {}) == "Bing"
    assert GETTERS["profile_name"](ctx, {}) == "Thomas"
    assert GETTERS["chrome_font_size"](ctx, {}) == {"default_font_size": 20}
    for name in ("enable_do_not_track", "enable_enhanced_safety_browsing", "new_startup_page"):
        assert GETTERS[name](ctx, {}) == "true", name
    assert GETTERS["data_delete_automacally"](ctx, {}) == "true"


def test_preference_getters_defaults(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, {PREFS: {"profile": {}, "session": {"restore_on_startup": 1}}})
    assert GETTERS["default_search_engine"](ctx, {}) == "Google"
    assert GETTERS["profile_name"](ctx, {}) is None
    assert GETTERS["chrome_font_size"](ctx, {}) == cp.WEBPREFS_DEFAULTS
    for name in ("enable_do_not_track", "enable_enhanced_safety_browsing", "new_startup_page"):
        assert GETTERS[name](ctx, {}) == "false", name
    assert GETTERS["data_delete_automacally"](ctx, {}) == "false"
    assert GETTERS["new_startup_page"](_ctx(tmp_path, {PREFS: {}}), {}) == "true"
    assert GETTERS["find_unpacked_extension_path"](_ctx(tmp_path, {PREFS: {}}), {}) == []


def test_data_delete_needs_session_only_cookies(tmp_path: Path) -> None:
    fresh = {"profile": {"default_content_setting_values": {"has_migrated_local_network_access": True}}}
    assert GETTERS["data_delete_automacally"](_ctx(tmp_path, {PREFS: fresh}), {}) == "false"
    fresh["profile"]["default_content_setting_values"]["cookies"] = 4
    assert GETTERS["data_delete_automacally"](_ctx(tmp_path, {PREFS: fresh}), {}) == "true"


def test_preference_getters_without_profile(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    assert GETTERS["default_search_engine"](ctx, {}) == "Google"
    assert GETTERS["enable_do_not_track"](ctx, {}) == "false"
    assert GETTERS["chrome_font_size"](ctx, {}) == cp.NO_PREFS_FONTS
    for name in ("enable_enhanced_safety_browsing", "new_startup_page", "data_delete_automacally"):
        assert GETTERS[name](ctx, {}) is None, name
    assert GETTERS["find_unpacked_extension_path"](ctx, {}) is None
    assert GETTERS["bookmarks"](ctx, {}) == []
    assert GETTERS["enabled_experiments"](ctx, {}) == []


def test_secure_preferences_hold_tracked_settings(tmp_path: Path) -> None:
    secure = {"session": {"restore_on_startup": 4}, "extensions": {"settings": {"x": {"path": "/a"}}}}
    ctx = _ctx(tmp_path, {PREFS: {"extensions": {"settings": {"y": {"path": "/b"}}}}, SECURE: secure})
    assert GETTERS["new_startup_page"](ctx, {}) == "false"
    assert sorted(GETTERS["find_unpacked_extension_path"](ctx, {})) == ["/a", "/b"]


def test_local_state_and_bookmarks(tmp_path: Path) -> None:
    marks = {"roots": _bookmarks({"type": "folder", "name": "Favorites", "children": []})}
    state = {"browser": {"enabled_labs_experiments": ["chrome-refresh-2023@1"]}}
    ctx = _ctx(tmp_path, {f"{cp.USER_DATA}/Local State": state, f"{cp.PROFILE}/Bookmarks": marks})
    assert GETTERS["enabled_experiments"](ctx, {}) == ["chrome-refresh-2023@1"]
    assert GETTERS["bookmarks"](ctx, {})["bookmark_bar"]["children"][0]["name"] == "Favorites"


def test_extensions_names_and_paths(tmp_path: Path) -> None:
    folder = f"{cp.PROFILE}/Extensions/abc/1.0_0"
    settings = {
        "unpacked": {"path": "/home/user/Desktop/helloExtension", "manifest": {"name": "Hello"}},
        "store": {"path": "abc/1.0_0", "manifest": {"name": "__MSG_appName__", "default_locale": "de"}},
        "component": {"active_permissions": {}},
        "bare": {"path": "/opt/ext"},
    }
    files = {
        PREFS: {"extensions": {"settings": settings}},
        f"{folder}/_locales/en/messages.json": {"appname": {"message": "Google Translate"}},
        "/opt/ext/manifest.json": {"name": "From Disk"},
    }
    ctx = _ctx(tmp_path, files)
    assert GETTERS["find_installed_extension_name"](ctx, {}) == ["Hello", "Google Translate", "From Disk"]
    paths = GETTERS["find_unpacked_extension_path"](ctx, {})
    assert paths == ["/home/user/Desktop/helloExtension", "abc/1.0_0", "/opt/ext"]


# --- getters: SQLite files, desktop ---


def _database(tmp_path: Path, name: str, schema: str, rows: list[tuple[Any, ...]]) -> bytes:
    path = tmp_path / "made" / name
    path.parent.mkdir(exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(schema)
        marks = ",".join("?" * len(rows[0]))
        db.executemany(f"INSERT INTO {schema.split()[2]} VALUES ({marks})", rows)
    return path.read_bytes()


def test_cookie_data_reads_network_cookies(tmp_path: Path) -> None:
    schema = "CREATE TABLE cookies (creation_utc INTEGER, host_key TEXT, top_frame_site_key TEXT, name TEXT)"
    data = _database(tmp_path, "c.db", schema, [(1, ".amazon.com", "", "session-id")])
    ctx = _ctx(tmp_path / "out", {f"{cp.PROFILE}/Network/Cookies": data})
    rows = GETTERS["cookie_data"](ctx, {"type": "cookie_data", "dest": "Cookies"})
    assert rows == [(1, ".amazon.com", "", "session-id")]
    assert cp.is_cookie_deleted(rows, {"type": "domains", "domains": [".amazon.com"]}) == 0.0
    assert GETTERS["cookie_data"](_ctx(tmp_path / "none"), {"dest": "Cookies"}) is None


def test_history_rows(tmp_path: Path) -> None:
    schema = "CREATE TABLE urls (id INTEGER, url TEXT, title TEXT, last_visit_time INTEGER)"
    data = _database(tmp_path, "h.db", schema, [(1, "https://www.youtube.com/", "YouTube", 7)])
    ctx = _ctx(tmp_path / "out", {f"{cp.PROFILE}/History": data})
    assert GETTERS["history"](ctx, {"dest": "history.sqlite"}) == [("https://www.youtube.com/", "YouTube", 7)]
    assert (tmp_path / "out" / "history.sqlite").is_file()
    broken = _ctx(tmp_path / "bad", {f"{cp.PROFILE}/History": b"not a database"})
    assert GETTERS["history"](broken, {"dest": "history.sqlite"}) is None


def test_shortcuts_on_desktop(tmp_path: Path) -> None:
    files = {f"{cp.DESKTOP}/game.desktop": b"[Desktop Entry]\nName=2048\n", f"{cp.DESKTOP}/notes.txt": b"x"}
    shortcuts = GETTERS["shortcuts_on_desktop"](_ctx(tmp_path, files), {})
    assert shortcuts == {"game.desktop": "[Desktop Entry]\nName=2048\n"}
    assert cp.is_shortcut_on_desktop(shortcuts, {"type": "name", "name": "2048"}) == 1.0


# --- getters: the active tab ---

PAGE = """<html><body><main><div>
<span class="search-segment-cities__city x">SEA</span><span class="search-segment-cities__city">NYC</span>
<p class="search-date"> Mon, Jun 5 </p><p class="search-dates">no</p>
<form><input name="n" value="loaded"><textarea>  typed text </textarea></form>
</div></main></body></html>"""


def test_html_parse_by_class(tmp_path: Path) -> None:
    config = {
        "category": "class",
        "class_singleObject": {"search-date": "time", "missing": "none"},
        "class_multiObject": {"search-segment-cities__city": {"0": "start", "1": "end", "2": "more"}},
    }
    got = GETTERS["active_tab_html_parse"](_ctx(tmp_path, browser=_tab("https://x.com", PAGE)), config)
    assert got == {"start": "SEA", "end": "NYC", "time": "Mon, Jun 5"}


def test_html_parse_by_xpath_and_input(tmp_path: Path) -> None:
    xpath = {"category": "xpath", "xpathObject": {"/html/body/main/div/p[1]": "date", "/html/nav": "none"}}
    ctx = _ctx(tmp_path, browser=_tab("https://x.com", PAGE))
    assert GETTERS["active_tab_html_parse"](ctx, xpath) == {"date": "Mon, Jun 5"}
    inputs = {"category": "input", "inputObject": {"//input": "name", "//textarea": "text", "//select": "s"}}
    assert GETTERS["active_tab_html_parse"](ctx, inputs) == {"name": "loaded", "text": "typed text"}
    live = LiveBrowser(
        _tab("https://x.com", PAGE).pages, {"t1": PAGE}, {"//input": [" Alice "], "//select": []}
    )
    got = GETTERS["active_tab_html_parse"](_ctx(tmp_path, browser=live), inputs)
    assert got == {"name": "Alice", "text": "typed text"}


def test_html_parse_prefers_the_live_page(tmp_path: Path) -> None:
    live = LiveBrowser(_tab("https://x.com", PAGE).pages, {"t1": PAGE}, {"/html/body/p/div": ["by script "]})
    config = {
        "category": "xpath",
        "xpathObject": {"/html/body/p/div": "made", "/html/body/main/div/p[1]": "d"},
    }
    got = GETTERS["active_tab_html_parse"](_ctx(tmp_path, browser=live), config)
    assert got == {"made": "by script", "d": "Mon, Jun 5"}


def test_html_parse_without_tab_or_with_label(tmp_path: Path) -> None:
    assert GETTERS["active_tab_html_parse"](_ctx(tmp_path), {"category": "class"}) is None
    with pytest.raises(Unsupported):
        GETTERS["active_tab_html_parse"](_ctx(tmp_path, browser=_tab("https://x.com")), {"category": "label"})


def test_url_parse(tmp_path: Path) -> None:
    url = "https://www.kayak.com/cars?fromStation=BOM&toStation=STO&departing=2024-06-03&q=drip+coffee"
    config = {"parse_keys": ["fromStation", "departing", "q", "zip"], "replace": {"departing": "time"}}
    got = GETTERS["active_tab_url_parse"](_ctx(tmp_path, browser=_tab(url)), config)
    assert got == {"fromStation": "BOM", "q": "drip coffee", "zip": "", "time": "2024-06-03"}
    assert GETTERS["active_tab_url_parse"](_ctx(tmp_path), config) is None


def test_url_dash_part(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, browser=_tab("https://www.shop.com/women/Stripe,Men,L?id=3"))
    part = {"partIndex": -1, "needDeleteId": True, "returnType": "string"}
    assert GETTERS["url_dashPart"](ctx, part) == "Stripe,Men,L"
    assert GETTERS["url_dashPart"](ctx, {**part, "needDeleteId": False}) == "Stripe,Men,L?id=3"
    assert GETTERS["url_dashPart"](ctx, {**part, "partIndex": -2, "returnType": "json", "key": "k"}) == {
        "k": "women"
    }
    assert GETTERS["url_dashPart"](ctx, {**part, "partIndex": 9}) is None
