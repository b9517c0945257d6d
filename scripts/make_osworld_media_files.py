"""Write the GIMP, VLC and Thunderbird tasks' input files into evals/osworld/cache/, so the suite's media
tasks need no download and anyone can rebuild (and review) exactly what they start from."""

from __future__ import annotations

import gzip
import io
import math
import tarfile
import wave
from pathlib import Path

from PIL import Image, ImageDraw

CACHE = Path(__file__).resolve().parent.parent / "evals" / "osworld" / "cache"
FIXED_MTIME = 1704067200
"""2024-01-01 00:00 UTC: every archive member's time, so a rebuild writes the same bytes."""

TB_PROFILE_DIR = "aios.default-release"
"""The Thunderbird profile's folder under ~/.thunderbird (the tasks' getters read its prefs.js)."""
TB_INSTALL = "FDC34C9F024745EB"
"""Thunderbird's hash of its install folder (/usr/lib/thunderbird, Debian's): without an install section
naming our profile, Thunderbird ignores it and makes a fresh one that opens the account wizard."""


def gimp_arrow() -> bytes:
    """An arrow pointing left: a left-right mirror of it is plainly different (check_image_mirror)."""
    image = Image.new("RGB", (120, 80), (250, 250, 245))
    draw = ImageDraw.Draw(image)
    draw.polygon([(10, 40), (55, 8), (55, 72)], fill=(200, 40, 40))
    draw.rectangle((55, 28, 110, 52), fill=(40, 60, 190))
    draw.ellipse((92, 6, 110, 24), fill=(30, 150, 60))
    return _png(image)


def gimp_banner() -> bytes:
    """A 320x160 banner with coarse shapes that survive scaling down to half (check_structure_sim_resized)."""
    image = Image.new("RGB", (320, 160), (235, 240, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 319, 40), fill=(30, 70, 140))
    draw.ellipse((30, 60, 110, 140), fill=(230, 150, 30))
    draw.rectangle((150, 70, 290, 90), fill=(60, 60, 60))
    draw.rectangle((150, 110, 250, 130), fill=(120, 120, 120))
    return _png(image)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def vlc_chime(seconds: int = 30, rate: int = 2000) -> bytes:
    """A quiet two-note 8-bit mono chime, long enough to still play when the task is judged (60 KB)."""
    frames = bytearray()
    for i in range(seconds * rate):
        pitch = 220.0 if (i // rate) % 2 == 0 else 330.0
        frames.append(int(128 + 40 * math.sin(2 * math.pi * pitch * i / rate)))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return out.getvalue()


TB_PREFS: dict[str, str | int | bool] = {
    # one local-folders account: the main window opens with no account wizard and nothing to fetch
    "mail.accountmanager.accounts": "account1",
    "mail.accountmanager.defaultaccount": "account1",
    "mail.accountmanager.localfoldersserver": "server1",
    "mail.account.account1.server": "server1",
    "mail.account.lastKey": 1,
    "mail.server.server1.directory-rel": "[ProfD]Mail/Local Folders",
    "mail.server.server1.hostname": "Local Folders",
    "mail.server.server1.name": "Local Folders",
    "mail.server.server1.type": "none",
    "mail.server.server1.userName": "nobody",
    "mail.provider.suppress_dialog_on_startup": True,
    # an offline profile: no start page, update, telemetry, donation or notification fetches, no prompts
    "mail.shell.checkDefaultClient": False,
    "mailnews.start_page.enabled": False,
    "mailnews.start_page_override.mstone": "ignore",
    "app.update.auto": False,
    "app.update.checkInstallTime": False,
    "app.donation.eoy.version.viewed": 999,
    "mail.inappnotifications.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "extensions.update.enabled": False,
    "mail.rights.version": 1,
    "browser.shell.checkDefaultBrowser": False,
    "offline.autoDetect": False,
}
"""The starting prefs.js; the tasks' preferences (headers, message body) are left at their defaults."""


def _pref_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tb_files() -> dict[str, bytes]:
    """~/.thunderbird's files, relative to the home."""
    prefs = "".join(f'user_pref("{key}", {_pref_value(value)});\n' for key, value in sorted(TB_PREFS.items()))
    install = f"[Install{TB_INSTALL}]\nDefault={TB_PROFILE_DIR}\nLocked=1\n"
    profiles = (
        "[Profile0]\nName=default-release\nIsRelative=1\n"
        f"Path={TB_PROFILE_DIR}\nDefault=1\n\n[General]\nStartWithLastProfile=1\nVersion=2\n\n{install}"
    )
    inbox = (
        "From - Mon Jan  1 09:00:00 2024\n"
        "X-Mozilla-Status: 0000\nX-Mozilla-Status2: 00000000\n"
        "From: Team Lead <lead@example.com>\nTo: user@example.com\n"
        "Subject: Welcome aboard\nDate: Mon, 1 Jan 2024 09:00:00 +0000\n"
        "Message-ID: <welcome-1@example.com>\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=UTF-8\n\n"
        "Hello, and welcome to the team.\n\n"
    )
    base = f".thunderbird/{TB_PROFILE_DIR}"
    return {
        ".thunderbird/profiles.ini": profiles.encode(),
        ".thunderbird/installs.ini": f"\n{install}".encode(),
        f"{base}/prefs.js": ("// Mozilla User Preferences\n\n" + prefs).encode(),
        f"{base}/Mail/Local Folders/Inbox": inbox.encode(),
    }


def thunderbird_profile() -> bytes:
    """A gzipped tar of ~/.thunderbird, unpacked by the tasks' setup as OSWorld's Thunderbird tasks do."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        files = _tb_files()
        folders = sorted({str(up) for name in files for up in Path(name).parents if up != Path(".")})
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, FIXED_MTIME
            tar.addfile(info)
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, FIXED_MTIME
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


FILES = {
    "gimp_arrow.png": gimp_arrow,
    "gimp_banner.png": gimp_banner,
    "vlc_chime.wav": vlc_chime,
    "thunderbird_profile.tar.gz": thunderbird_profile,
}


def main() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    for name, make in FILES.items():
        (CACHE / name).write_bytes(make())


if __name__ == "__main__":
    main()
