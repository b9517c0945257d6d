"""The starting desktop of OSWorld's VM image, as far as its tasks tell: settings and app profiles written
into each task's home before anything runs, so that a task's starting state is OSWorld's, not the schema
defaults (with the defaults, an agent that does nothing passed a genuine task)."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

GSETTINGS: dict[str, dict[str, str]] = {
    # a4d98375 asks to turn automatic locking on and checks `true`: the image has it off
    "org/gnome/desktop/screensaver": {"lock-enabled": "false"},
}
"""GSettings path -> key -> value (GVariant text) where the image differs from the schema's default.
Every other key starts at its default; which of those the image changes is not known (OSWorld publishes
the image, not its settings)."""

KEYFILE = ".config/glib-2.0/settings/keyfile"
"""Where GLib's keyfile backend (GSETTINGS_BACKEND=keyfile) keeps settings, relative to the home: plain
text a task computer can be given before it starts, and that `gsettings` in the task reads and writes."""

LIBREOFFICE_PROFILE = ".config/libreoffice/4/user/registrymodifications.xcu"
LIBREOFFICE: dict[tuple[str, str], str] = {
    # genuine tasks save .xlsx/.docx/.pptx with a bare Ctrl+S in their post-config, which only works when
    # LibreOffice does not ask whether to keep the format
    ("/org.openoffice.Office.Common/Save/Document", "WarnAlienFormat"): "false",
    # a first start shows a tip dialog over the document the task opened
    ("/org.openoffice.Office.Common/Misc", "ShowTipOfTheDay"): "false",
    ("/org.openoffice.Office.Common/Misc", "FirstRun"): "false",
    ("/org.openoffice.Setup/Office", "ooSetupInstCompleted"): "true",
}
"""LibreOffice settings as (node path, property) -> value."""

VLCRC = ".config/vlc/vlcrc"
VLC = "[qt]\nqt-privacy-ask=0\n"
"""The image's VLC has been started before: it asks no privacy and network-access question."""


VSCODE_MACHINE_SETTINGS = ".config/Code/Machine/settings.json"
VSCODE_MACHINE = {
    "window.title": "${dirty}${activeEditorShort}${separator}${rootName}${separator}Visual Studio Code"
}
"""VS Code (code-server here) titles its windows as the desktop app does, for the tasks' activate_window
steps; set in the machine's settings, so the user's settings.json, which tasks read, stays theirs."""


def _keyfile() -> str:
    groups = (
        f"[{path}]\n" + "".join(f"{key}={value}\n" for key, value in keys.items())
        for path, keys in GSETTINGS.items()
    )
    return "\n".join(groups)


def _libreoffice() -> str:
    items = "".join(
        f'<item oor:path="{escape(path)}"><prop oor:name="{escape(name)}" oor:op="fuse">'
        f"<value>{escape(value)}</value></prop></item>\n"
        for (path, name), value in LIBREOFFICE.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f"{items}</oor:items>\n"
    )


def home_files() -> dict[str, str]:
    """Files (relative to the task's home) that give a fresh home the image's settings."""
    return {
        KEYFILE: _keyfile(),
        LIBREOFFICE_PROFILE: _libreoffice(),
        VLCRC: VLC,
        VSCODE_MACHINE_SETTINGS: json.dumps(VSCODE_MACHINE),
    }
