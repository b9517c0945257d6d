"""Chrome's profile as OSWorld's browser getters read it from the task computer: its JSON files (settings,
Local State, extension manifests) and its SQLite databases (cookies, history)."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import Any

from aios.evals.osworld.getters import GetterContext
from aios.evals.osworld.guest import HOME

logger = logging.getLogger(__name__)

USER_DATA = f"{HOME}/.config/google-chrome"
PROFILE = f"{USER_DATA}/Default"
UI_LOCALES = ("en_US", "en")


def json_file(ctx: GetterContext, path: str) -> Any:
    """A JSON file of the task computer, or None where it is missing or damaged (the getter then says so)."""
    data = ctx.guest.read_file(path)
    if not data:
        return None
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        logger.warning("%s is not JSON: %s", path, exc)
        return None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        merged[key] = _merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return merged


def preferences(ctx: GetterContext) -> dict[str, Any] | None:
    """The profile's settings; Chrome keeps its tracked ones (extensions, startup) in Secure Preferences."""
    prefs = json_file(ctx, f"{PROFILE}/Preferences")
    if not isinstance(prefs, dict):
        return None
    secure = json_file(ctx, f"{PROFILE}/Secure Preferences")
    return _merge(secure, prefs) if isinstance(secure, dict) else prefs


def dig(data: Any, *keys: str, default: Any = None) -> Any:
    """A nested setting, or `default` where any level is missing: Chrome writes only what was changed."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def extensions(ctx: GetterContext) -> list[dict[str, Any]] | None:
    """Each installed extension's settings entry; None without a profile (not the same as no extensions)."""
    prefs = preferences(ctx)
    if prefs is None:
        return None
    found = dig(prefs, "extensions", "settings", default={})
    return [entry for entry in (found.values() if isinstance(found, dict) else []) if isinstance(entry, dict)]


def _extension_folder(entry: dict[str, Any]) -> str:
    path = str(entry.get("path", ""))
    return path if path.startswith("/") else f"{PROFILE}/Extensions/{path}"


def _localized(ctx: GetterContext, entry: dict[str, Any], manifest: dict[str, Any], name: str) -> str:
    """A `__MSG_key__` name resolved from the extension's own messages, as the browser shows it."""
    if not (name.startswith("__MSG_") and name.endswith("__")) or not entry.get("path"):
        return name
    key = name[len("__MSG_") : -2].lower()
    for locale in (*UI_LOCALES, manifest.get("default_locale")):
        messages = json_file(ctx, f"{_extension_folder(entry)}/_locales/{locale}/messages.json")
        if isinstance(messages, dict):
            found = {k.lower(): v for k, v in messages.items()}.get(key)
            if isinstance(found, dict) and "message" in found:
                return str(found["message"])
    return name


def extension_name(ctx: GetterContext, entry: dict[str, Any]) -> str | None:
    """The name chrome://extensions shows, from the stored or the on-disk manifest; None without one."""
    manifest = entry.get("manifest")
    if not isinstance(manifest, dict) and entry.get("path"):
        manifest = json_file(ctx, f"{_extension_folder(entry)}/manifest.json")
    if not isinstance(manifest, dict) or not manifest.get("name"):
        return None
    return _localized(ctx, entry, manifest, str(manifest["name"]))


def _copy_database(ctx: GetterContext, path: str, dest: str) -> Path | None:
    """A local copy of a SQLite file with its journal, so a write the browser has not merged is kept."""
    data = ctx.guest.read_file(path)
    if data is None:
        return None
    local = ctx.files / Path(dest).name
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(data)
    for suffix in ("-wal", "-journal"):
        side = ctx.guest.read_file(path + suffix)
        sidecar = local.with_name(local.name + suffix)
        if side:
            sidecar.write_bytes(side)
        else:
            sidecar.unlink(missing_ok=True)
    return local


def sqlite_rows(
    ctx: GetterContext, paths: Iterable[str], dest: str, query: str
) -> list[tuple[Any, ...]] | None:
    """The query's rows from the first of `paths` that exists; None where none does or the query fails."""
    for path in paths:
        local = _copy_database(ctx, path, dest)
        if local is None:
            continue
        try:
            with closing(sqlite3.connect(local)) as db:
                return db.execute(query).fetchall()
        except sqlite3.Error as exc:
            logger.warning("%s: %s", path, exc)
            return None
    return None
