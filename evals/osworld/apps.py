"""The apps OSWorld's tasks name, by every spelling genuine task files use, and the program each needs."""

from __future__ import annotations

import shutil

CODE_SERVER = "/opt/aios-code-server"
"""Where scripts/install_code_server.sh puts code-server, the VS Code that task computers run as `code`."""

APP_BINARIES = {
    "libreoffice_calc": "soffice",
    "libreoffice_writer": "soffice",
    "libreoffice_impress": "soffice",
    "libreoffice": "soffice",
    "gimp": "gimp",
    "vlc": "vlc",
    "thunderbird": "thunderbird",
    "vs_code": f"{CODE_SERVER}/bin/code-server",
    "picard": "picard",
}
"""Apps a task names in `related_apps` and the program that must be installed for it (others need none)."""

APP_ALIASES = {
    "calc": "libreoffice_calc",
    "writer": "libreoffice_writer",
    "impress": "libreoffice_impress",
    "vscode": "vs_code",
    "visual_studio_code": "vs_code",
    "google_chrome": "chrome",
    "browser": "chrome",
    "ubuntu_media_player": "vlc",
}
"""Other spellings of the apps in genuine task files ("libreoffice calc", "vscode", "Chrome")."""


def app_name(name: str) -> str:
    """The canonical name of an app as a task spells it."""
    key = "_".join(name.lower().replace("-", " ").split())
    return APP_ALIASES.get(key, key)


def installed_apps(chromium: str) -> dict[str, str | None]:
    """Each app's program, or None where it is not installed (Chrome is Debian's Chromium here)."""
    found: dict[str, str | None] = {"chrome": chromium if shutil.which(chromium) else None}
    for app, binary in APP_BINARIES.items():
        if app not in found:
            found[app] = shutil.which(binary)
    return found
