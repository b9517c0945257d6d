"""OSWorld's browser metrics, and the getters that feed them from Chrome's profile and its open tabs, scored
as OSWorld scores them."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from itertools import product
from typing import Any
from urllib.parse import parse_qs, urlparse, urlunparse

from aios.evals.osworld.chrome_page import TabPage
from aios.evals.osworld.chrome_profile import (
    PROFILE,
    USER_DATA,
    dig,
    extension_name,
    extensions,
    json_file,
    preferences,
    sqlite_rows,
)
from aios.evals.osworld.getters import Getter, GetterContext, active_url
from aios.evals.osworld.guest import HOME
from aios.evals.osworld.metrics import Metric
from aios.evals.osworld.unsupported import Unsupported

DESKTOP = f"{HOME}/Desktop"
LIKED_FOLDER = "Liked Authors"
NEW_TAB_ON_STARTUP = 5
"""`session.restore_on_startup` when the browser opens the New Tab page."""
SESSION_ONLY = 4
"""A content setting that lasts until the browser closes."""
DEFAULT_FONT_SIZE = 16
WEBPREFS_DEFAULTS = {"default_fixed_font_size": 13, "default_font_size": 16, "minimum_font_size": 13}
NO_PREFS_FONTS = {"default_fixed_font_size": 13, "default_font_size": 16}


# --- URLs ---------------------------------------------------------------------------------------------


def _url_key(url: str) -> str:
    """OSWorld's URL equality: http when no scheme, host lower-cased with 'www.' removed, '/' path dropped."""
    parts = urlparse(url)
    host = parts.netloc.lower().replace("www.", "")
    path = "" if parts.path == "/" else parts.path
    return urlunparse((parts.scheme.lower() or "http", host, path, parts.params, parts.query, parts.fragment))


def same_url(first: str | None, second: str | None) -> bool:
    """OSWorld's URL equality; two missing URLs are the same, one missing URL matches nothing."""
    if first is None or second is None:
        return first is None and second is None
    return _url_key(first) == _url_key(second)


def _url_of(result: Any) -> str | None:
    if isinstance(result, dict):
        return result.get("url")
    return None if result is None else str(result)


# --- metrics ------------------------------------------------------------------------------------------


def _rule_type(metric: str, rules: dict[str, Any], known: str) -> None:
    """A rule type OSWorld leaves unimplemented (it raises or scores 0) is reported, never scored."""
    if rules.get("type") != known:
        raise Unsupported(f"metric:{metric}:{rules.get('type')}")


def is_expected_active_tab(result: Any, rules: dict[str, Any]) -> float:
    """The active tab shows the expected URL, up to 'www.', host case and a bare trailing slash."""
    if not result:
        return 0.0
    if rules.get("type", "url") != "url":
        raise Unsupported(f"metric:is_expected_active_tab:{rules.get('type')}")
    return float(same_url(rules["url"], _url_of(result)))


def is_expected_url_pattern_match(result: Any, rules: dict[str, Any]) -> float:
    """Every expected regular expression occurs in the URL (an empty result never matches)."""
    if not result:
        return 0.0
    url = _url_of(result)
    return float(url is not None and all(re.search(pattern, url) for pattern in rules["expected"]))


def is_expected_tabs(open_tabs: list[dict[str, str]] | None, rules: dict[str, Any]) -> float:
    """As many tabs as expected URLs, and each expected URL open (order free, OSWorld's URL equality)."""
    _rule_type("is_expected_tabs", rules, "url")
    if open_tabs is None:
        return 0.0
    urls = [tab.get("url") for tab in open_tabs]
    expected = rules["urls"]
    if len(urls) != len(expected):
        return 0.0
    return float(all(any(same_url(want, url) for url in urls) for want in expected))


def _bar(bookmarks: dict[str, Any]) -> list[dict[str, Any]]:
    return bookmarks.get("bookmark_bar", {}).get("children", [])


def _folder_names(bookmarks: dict[str, Any], rules: dict[str, Any]) -> bool:
    names = {item.get("name") for item in _bar(bookmarks) if item.get("type") == "folder"}
    return names == set(rules["names"])


def _bar_urls(bookmarks: dict[str, Any], rules: dict[str, Any]) -> bool:
    urls = {item.get("url") for item in _bar(bookmarks) if item.get("type") == "url"}
    return urls == set(rules["urls"])


def _liked_authors(bookmarks: dict[str, Any], rules: dict[str, Any]) -> bool:
    """The 'Liked Authors' folder holds one of the allowed URLs per author and nothing else."""
    folder = next(
        (i for i in _bar(bookmarks) if i.get("type") == "folder" and i.get("name") == LIKED_FOLDER), None
    )
    if folder is None:
        return False
    saved = {item.get("url") for item in folder.get("children", []) if item.get("type") == "url"}
    choices = [[alt] if isinstance(alt, str) else list(alt) for alt in rules["urls"]]
    return any(set(pick) == saved for pick in product(*choices))


_BOOKMARK_RULES: dict[str, Callable[[dict[str, Any], dict[str, Any]], bool]] = {
    "bookmark_bar_folders_names": _folder_names,
    "bookmark_bar_websites_urls": _bar_urls,
    "liked_authors_websites_urls": _liked_authors,
}


def is_expected_bookmarks(bookmarks: dict[str, Any] | list[Any] | None, rules: dict[str, Any]) -> float:
    """The bookmark bar's folders or links (or the 'Liked Authors' folder) are exactly the expected ones."""
    if not bookmarks or not isinstance(bookmarks, dict):
        return 0.0
    check = _BOOKMARK_RULES.get(rules.get("type", ""))
    if check is None:
        raise Unsupported(f"metric:is_expected_bookmarks:{rules.get('type')}")
    return float(check(bookmarks, rules))


def is_expected_search_query(result: Any, rules: dict[str, Any]) -> float:
    """The URL matches the expected pattern (a search page's URL carries its query)."""
    url = _url_of(result)
    return float(url is not None and re.search(rules["expect"]["pattern"], url) is not None)


def is_added_to_steam_cart(result: Any, rules: dict[str, Any]) -> float:
    """Every item's name occurs in the cart page's HTML."""
    if result is None:
        return 0.0
    content = result.get("content", "") if isinstance(result, dict) else str(result)
    return float(all(item in content for item in rules["items"]))


def is_expected_installed_extensions(installed: list[str] | None, rules: dict[str, Any]) -> float:
    """Every expected extension name is installed (others may be too)."""
    if installed is None:
        return 0.0
    return float(set(rules["expected"]) <= set(installed))


def is_cookie_deleted(cookies: list[tuple[Any, ...]] | None, rules: dict[str, Any]) -> float:
    """No cookie is left whose host (a cookie row's second column) equals a listed domain."""
    _rule_type("is_cookie_deleted", rules, "domains")
    if cookies is None:
        return 0.0
    hosts = [row[1] for row in cookies]
    return float(not any(same_url(domain, host) for domain in rules["domains"] for host in hosts))


def is_shortcut_on_desktop(shortcuts: dict[str, str] | None, rules: dict[str, Any]) -> float:
    """Some desktop launcher has exactly the expected `Name=` line."""
    _rule_type("is_shortcut_on_desktop", rules, "name")
    if shortcuts is None:
        return 0.0
    line = f"Name={rules['name']}\n"
    return float(any(line in text for text in shortcuts.values()))


def check_history_deleted(history: list[tuple[Any, ...]] | None, rules: dict[str, Any]) -> float:
    """No visited URL (a history row's first column) contains any of the keywords."""
    _rule_type("check_history_deleted", rules, "keywords")
    if history is None:
        return 0.0
    urls = [str(row[0]) for row in history]
    return float(not any(word in url for word in rules["keywords"] for url in urls))


def check_enabled_experiments(experiments: list[str] | None, rules: dict[str, Any]) -> float:
    """The enabled chrome://flags, without their '@option' suffix, are the expected list in its order."""
    _rule_type("check_enabled_experiments", rules, "names")
    if experiments is None:
        return 0.0
    return float([flag.split("@")[0] for flag in experiments] == rules["names"])


def check_font_size(fonts: dict[str, Any] | None, rules: dict[str, Any]) -> float:
    """The default font size equals `value`, or lies strictly between `min` and `max`."""
    if rules.get("type") not in ("value", "range"):
        raise Unsupported(f"metric:check_font_size:{rules.get('type')}")
    if fonts is None:
        return 0.0
    size = fonts.get("default_font_size", DEFAULT_FONT_SIZE)  # Chrome leaves a default size unwritten
    if rules["type"] == "value":
        return float(size == rules["value"])
    return float(rules["min"] < size < rules["max"])


def _flag(value: Any) -> str:
    return "true" if value else "false"


def default_search_engine(ctx: GetterContext, config: dict[str, Any]) -> str:
    """The default search engine's name; Google when none was chosen."""
    return str(
        dig(
            preferences(ctx),
            "default_search_provider_data",
            "template_url_data",
            "short_name",
            default="Google",
        )
    )


def profile_name(ctx: GetterContext, config: dict[str, Any]) -> str | None:
    """The profile's name; None where it was never renamed or there is no profile."""
    return dig(preferences(ctx), "profile", "name")


def enabled_experiments(ctx: GetterContext, config: dict[str, Any]) -> list[str]:
    """The chrome://flags turned on, as Local State lists them."""
    found = dig(json_file(ctx, f"{USER_DATA}/Local State"), "browser", "enabled_labs_experiments")
    return list(found) if isinstance(found, list) else []


def chrome_font_size(ctx: GetterContext, config: dict[str, Any]) -> dict[str, Any]:
    """The font settings; Chrome's defaults where the profile has none."""
    prefs = preferences(ctx)
    if prefs is None:
        return dict(NO_PREFS_FONTS)
    found = dig(prefs, "webkit", "webprefs")
    return found if isinstance(found, dict) else dict(WEBPREFS_DEFAULTS)


def bookmarks(ctx: GetterContext, config: dict[str, Any]) -> dict[str, Any] | list[Any]:
    """The bookmark roots (bookmark_bar, other, synced); an empty list when there are none."""
    roots = dig(json_file(ctx, f"{PROFILE}/Bookmarks"), "roots")
    return roots if isinstance(roots, dict) else []


def enable_do_not_track(ctx: GetterContext, config: dict[str, Any]) -> str:
    """'true' when the browser sends Do Not Track (off when unset, as in Chrome)."""
    return _flag(dig(preferences(ctx), "enable_do_not_track"))


def enable_enhanced_safety_browsing(ctx: GetterContext, config: dict[str, Any]) -> str | None:
    """'true' when Enhanced Safe Browsing is on; None without a profile."""
    prefs = preferences(ctx)
    return None if prefs is None else _flag(dig(prefs, "safebrowsing", "enhanced"))


def new_startup_page(ctx: GetterContext, config: dict[str, Any]) -> str | None:
    """'true' when the browser opens the New Tab page at start (also when startup was never configured)."""
    prefs = preferences(ctx)
    if prefs is None:
        return None
    if "session" not in prefs:
        return "true"
    return _flag(dig(prefs, "session", "restore_on_startup") == NEW_TAB_ON_STARTUP)


def data_delete_automacally(ctx: GetterContext, config: dict[str, Any]) -> str | None:
    """'true' when site data is kept only until the browser closes (cookies' default is session-only).

    OSWorld only asks whether any site-data default was ever written; Chromium now writes one on first
    run, which would pass an agent that did nothing.
    """
    prefs = preferences(ctx)
    if prefs is None:
        return None
    return _flag(dig(prefs, "profile", "default_content_setting_values", "cookies") == SESSION_ONLY)


def find_unpacked_extension_path(ctx: GetterContext, config: dict[str, Any]) -> list[str] | None:
    """The folders of all installed extensions (an unpacked one's is where it was loaded from)."""
    entries = extensions(ctx)
    if entries is None:
        return None
    return [str(entry["path"]) for entry in entries if entry.get("path")]


def find_installed_extension_name(ctx: GetterContext, config: dict[str, Any]) -> list[str] | None:
    """The names of all installed extensions, as chrome://extensions shows them."""
    entries = extensions(ctx)
    if entries is None:
        return None
    return [name for entry in entries if (name := extension_name(ctx, entry)) is not None]


def cookie_data(ctx: GetterContext, config: dict[str, Any]) -> list[tuple[Any, ...]] | None:
    """Every cookie row (host in the second column); newer browsers keep them under Network/."""
    paths = (f"{PROFILE}/Network/Cookies", f"{PROFILE}/Cookies")
    return sqlite_rows(ctx, paths, config.get("dest", "Cookies"), "SELECT * FROM cookies")


def history(ctx: GetterContext, config: dict[str, Any]) -> list[tuple[Any, ...]] | None:
    """Visited pages as (url, title, last_visit_time)."""
    query = "SELECT url, title, last_visit_time FROM urls"
    return sqlite_rows(ctx, [f"{PROFILE}/History"], config.get("dest", "History"), query)


def shortcuts_on_desktop(ctx: GetterContext, config: dict[str, Any]) -> dict[str, str]:
    """Each desktop launcher's file name and text."""
    listing = ctx.guest.run(
        f"find {shlex.quote(DESKTOP)} -mindepth 1 -maxdepth 1 -name '*.desktop' -printf '%f\\n'"
    )
    found: dict[str, str] = {}
    for name in sorted(filter(None, listing.stdout.splitlines())):
        data = ctx.guest.read_file(f"{DESKTOP}/{name}")
        if data is not None:
            found[name] = data.decode("utf-8", errors="replace")
    return found


def _class_values(page: TabPage, config: dict[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, ranks in config.get("class_multiObject", {}).items():
        texts = page.texts("class", name)
        values.update({key: texts[int(rank)] for rank, key in ranks.items() if int(rank) < len(texts)})
    for name, key in config.get("class_singleObject", {}).items():
        texts = page.texts("class", name)
        if texts:
            values[key] = texts[0]
    return values


def _first_values(page: TabPage, kind: str, queries: dict[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for path, key in queries.items():
        texts = page.texts(kind, path)
        if texts:
            values[key] = texts[0]
    return values


def active_tab_html_parse(ctx: GetterContext, config: dict[str, Any]) -> dict[str, str] | None:
    """Texts picked from the active tab's page by class, XPath or input field, under the config's keys."""
    category = config.get("category")
    if category == "label":
        raise Unsupported("getter:active_tab_html_parse:label")
    browser = ctx.browser()
    tabs = browser.tabs()
    if not tabs:
        return None
    page = TabPage(browser, tabs[0]["id"])
    if category == "class":
        return _class_values(page, config)
    if category == "xpath":
        return _first_values(page, "xpath", config.get("xpathObject", {}))
    if category == "input":
        return _first_values(page, "input", config.get("inputObject", {}))
    return {}


def active_tab_url_parse(ctx: GetterContext, config: dict[str, Any]) -> dict[str, str] | None:
    """Chosen query parameters of the active tab's URL (first value, '' when absent), some renamed."""
    url = active_url(ctx, config)
    if url is None:
        return None
    query = parse_qs(urlparse(url).query)
    values = {key: query.get(key, [""])[0] for key in config["parse_keys"]}
    for old, new in config.get("replace", {}).items():
        values[new] = values.pop(old)
    return values


def url_dash_part(ctx: GetterContext, config: dict[str, Any]) -> str | dict[str, str] | None:
    """One '/'-separated part of the active tab's URL (its query cut off with `needDeleteId`)."""
    url = active_url(ctx, config)
    if url is None:
        return None
    parts = url.split("/")
    index = int(config["partIndex"])
    if not -len(parts) <= index < len(parts):
        return None
    part = parts[index].split("?")[0] if config.get("needDeleteId") else parts[index]
    kind = config.get("returnType")
    if kind == "string":
        return part
    return {config["key"]: part} if kind == "json" else None


METRICS: dict[str, Metric] = {
    "is_expected_active_tab": is_expected_active_tab,
    "is_expected_url_pattern_match": is_expected_url_pattern_match,
    "is_expected_tabs": is_expected_tabs,
    "is_expected_bookmarks": is_expected_bookmarks,
    "is_expected_search_query": is_expected_search_query,
    "is_added_to_steam_cart": is_added_to_steam_cart,
    "is_expected_installed_extensions": is_expected_installed_extensions,
    "is_cookie_deleted": is_cookie_deleted,
    "is_shortcut_on_desktop": is_shortcut_on_desktop,
    "check_history_deleted": check_history_deleted,
    "check_enabled_experiments": check_enabled_experiments,
    "check_font_size": check_font_size,
}
GETTERS: dict[str, Getter] = {
    "default_search_engine": default_search_engine,
    "cookie_data": cookie_data,
    "shortcuts_on_desktop": shortcuts_on_desktop,
    "bookmarks": bookmarks,
    "history": history,
    "profile_name": profile_name,
    "enabled_experiments": enabled_experiments,
    "chrome_font_size": chrome_font_size,
    "data_delete_automacally": data_delete_automacally,
    "find_unpacked_extension_path": find_unpacked_extension_path,
    "new_startup_page": new_startup_page,
    "enable_do_not_track": enable_do_not_track,
    "enable_enhanced_safety_browsing": enable_enhanced_safety_browsing,
    "find_installed_extension_name": find_installed_extension_name,
    "active_tab_html_parse": active_tab_html_parse,
    "active_tab_url_parse": active_tab_url_parse,
    "url_dashPart": url_dash_part,
}
OPTION_GAPS: dict[str, Callable[[dict[str, Any]], list[str]]] = {}
"""None of these metrics takes options; unknown rule types (in `expected`) raise Unsupported when scored."""
