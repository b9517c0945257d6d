"""VLC, Thunderbird and VS Code metrics and getters, each on inputs where it holds and where it does not."""

from __future__ import annotations

import io
import json
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from aios.evals.osworld import metrics_vlc as apps
from aios.evals.osworld.catalog import GETTERS, metric
from aios.evals.osworld.getters import TASK_COMPUTER, GetterContext
from aios.evals.osworld.guest import CommandResult
from aios.evals.osworld.unsupported import Unsupported

DEFAULT_VLCRC = """\
# Record directory (string)
#input-record-path=

# Maximum volume displayed (integer)
#qt-max-volume=125

# Define the colors of the volume slider (string)
#qt-slider-colours=153;210;153;20;210;20;255;199;15;245;39;29

# Start in minimal view (without menus) (boolean)
#qt-minimal-view=0

# Display background cone or art (boolean)
#qt-bgcone=1

# Allow only one running instance when started from file manager (boolean)
#one-instance-when-started-from-file=1

# Play/Pause (string)
#global-key-play-pause=
"""


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _vlcrc(tmp_path: Path, *changes: tuple[str, str]) -> str:
    """vlcrc as VLC saves it: a changed option's commented default line becomes `key=value`."""
    text = DEFAULT_VLCRC
    for key, value in changes:
        text = re.sub(rf"^#{re.escape(key)}=.*$", f"{key}={value}", text, count=1, flags=re.MULTILINE)
    return _file(tmp_path, "vlcrc", text)


@pytest.mark.parametrize(
    ("name", "key", "value", "rule"),
    [
        ("check_qt_max_volume", "qt-max-volume", "200", {"expected_qt_max_volume": 200}),
        ("check_qt_minimal_view", "qt-minimal-view", "1", {"expected_qt_minimal_view": 1}),
        ("check_qt_bgcone", "qt-bgcone", "0", {"expected_qt_bgcone": 0}),
        (
            "check_one_instance_when_started_from_file",
            "one-instance-when-started-from-file",
            "0",
            {"expected_one_instance_when_started_from_file": 0},
        ),
        (
            "check_global_key_play_pause",
            "global-key-play-pause",
            "Ctrl+p",
            {"expected_global_key_play_pause": 1},
        ),
    ],
)
def test_vlcrc_settings(tmp_path: Path, name: str, key: str, value: str, rule: dict[str, Any]) -> None:
    check = metric(name)
    assert check(_vlcrc(tmp_path, (key, value)), rule) == 1.0
    assert check(_vlcrc(tmp_path), rule) == 0.0  # still the default
    assert check(None, rule) == 0.0


def test_vlcrc_defaults_count_when_unchanged(tmp_path: Path) -> None:
    assert metric("check_qt_max_volume")(_vlcrc(tmp_path), {"expected_qt_max_volume": "125"}) == 1.0
    assert (
        metric("check_global_key_play_pause")(_vlcrc(tmp_path), {"expected_global_key_play_pause": 0}) == 1.0
    )


def test_slider_colours(tmp_path: Path) -> None:
    check = metric("check_qt_slider_colours")
    dark = _vlcrc(tmp_path, ("qt-slider-colours", "0;0;0;20;20;20;99;99;99;1;2;3"))
    assert check(dark, {"type": "blackish"}) == 1.0
    assert (
        check(dark, {"type": "match", "expected_qt_slider_colours": "0;0;0;20;20;20;99;99;99;1;2;3"}) == 1.0
    )
    assert check(_vlcrc(tmp_path), {"type": "blackish"}) == 0.0
    assert check(_vlcrc(tmp_path, ("qt-slider-colours", "0;0;x")), {"type": "blackish"}) == 0.0


def test_recordings_folder(tmp_path: Path) -> None:
    check = metric("is_vlc_recordings_folder")
    rule = {"recording_file_path": "/home/user/Desktop"}
    assert check(_vlcrc(tmp_path, ("input-record-path", " /home/user/Desktop ")), rule) == 1.0
    assert check(_vlcrc(tmp_path, ("input-record-path", "/home/user/Videos")), rule) == 0.0
    assert check(_vlcrc(tmp_path), rule) == 0.0


def _status(state: str, filename: str = "", url: str = "") -> str:
    infos = f'<info name="filename">{filename}</info>' if filename else ""
    infos += f'<info name="url">{url}</info>' if url else ""
    return (
        f"<?xml version='1.0' encoding='utf-8'?><root><state>{state}</state>"
        f"<information><category name='meta'>{infos}</category></information></root>"
    )


def test_is_vlc_playing(tmp_path: Path) -> None:
    check = metric("is_vlc_playing")
    by_name = {"type": "file_name", "file_name": "song.mp4"}
    assert check(_file(tmp_path, "a.xml", _status("playing", "/home/user/song.mp4")), by_name) == 1.0
    assert check(_file(tmp_path, "b.xml", _status("paused", "/home/user/song.mp4")), by_name) == 0.0
    assert check(_file(tmp_path, "c.xml", _status("playing", "other.mp4")), by_name) == 0.0
    assert check(_file(tmp_path, "d.xml", _status("playing")), by_name) == 0.0
    by_url = {"type": "url", "url": "watch?v=1"}
    assert check(_file(tmp_path, "e.xml", _status("playing", url="https://x/watch?v=1")), by_url) == 1.0
    assert check(_file(tmp_path, "f.xml", "not xml"), by_url) == 0.0
    assert check(None, by_url) == 0.0


def test_is_vlc_fullscreen() -> None:
    check = metric("is_vlc_fullscreen")
    assert check({"width": 1920, "height": 1080}, {"width": 1920, "height": 1080}) == 1.0
    assert check({"width": 1920, "height": 1080}, {"width": 800, "height": 1080}) == 0.0
    assert check(None, {"width": 1920, "height": 1080}) == 0.0


PREFS = """\
// Mozilla User Preferences
user_pref("mail.identity.id1.auto_quote", false);
user_pref("mail.identity.id1.htmlSigText", "Anonym\\nXYZ Lab");
user_pref("mail.server.default.autosync_offline_stores", true);
user_pref("mailnews.count", 7);
"""


def test_thunderbird_prefs(tmp_path: Path) -> None:
    check = metric("check_thunderbird_prefs")
    prefs = _file(tmp_path, "prefs.js", PREFS)
    assert check(prefs, {"expect": {"mail.identity.id1.auto_quote": {"method": "eq", "ref": False}}}) == 1.0
    assert (
        check(prefs, {"expect": {"mail.identity.id1.htmlSigText": {"method": "re.S", "ref": "Anonym.+Lab"}}})
        == 1
    )
    assert (
        check(prefs, {"expect": {"mail.identity.id1.htmlSigText": {"method": "re", "ref": "Anonym.+Lab"}}})
        == 0
    )
    assert check(prefs, {"expect": {"mailnews.count": {"method": "range.te", "ref": [6, 7]}}}) == 1.0
    assert check(prefs, {"expect": {"mailnews.count": {"method": "approx:0.5", "ref": 7.4}}}) == 1.0
    assert check(prefs, {"expect": {"absent.pref": {"method": "eq", "ref": True}}}) == 0.0
    unexpected = {"unexpect": {"mail.server.default.autosync_offline_stores": {"method": "eq", "ref": True}}}
    assert check(prefs, unexpected) == 0.0
    assert check(None, unexpected) == 0.0
    with pytest.raises(Unsupported):
        check(prefs, {"expect": {"mailnews.count": {"method": "spreadsheet_range", "ref": ["A1", "B2"]}}})


FILTERS = """\
version="9"
logging="no"
name="Discounts"
enabled="yes"
type="17"
action="Move to folder"
actionValue="mailbox://nobody@Local%20Folders/Promotions"
condition="AND (subject,contains,discount) AND (from,contains,\\"shop, inc\\")"
name="Forward all"
enabled="no"
type="17"
action="Forward"
actionValue="a@b.com"
condition="ALL"
"""


def test_thunderbird_filter(tmp_path: Path) -> None:
    check = metric("check_thunderbird_filter")
    path = _file(tmp_path, "msgFilterRules.dat", FILTERS)
    promo = {
        "enabled": "yes",
        "action": "Move to folder",
        "actionValue": "mailbox://nobody@Local%20Folders/Promotions",
        "condition": ["AND (subject,contains,discount)", 'AND (from,contains,"shop, inc")'],
    }
    assert check(path, {"expect": [promo]}) == 1.0
    assert check(path, {"expect": [{"action": "Forward", "condition": ["ALL"]}]}) == 1.0
    assert check(path, {"expect": [{"action": "Forward", "enabled": "yes"}]}) == 0.0
    assert check(path, {"expect": [promo], "unexpect": [{"name": "Forward all"}]}) == 0.0
    assert check(None, {"expect": [promo]}) == 0.0


def _message(subject: str, status: str = "0001") -> str:
    return (
        f"From - Mon Jan 29 10:00:00 2024\nX-Mozilla-Status: {status}\nSubject: {subject}\n\nbody {subject}\n"
    )


def test_thunderbird_folder(tmp_path: Path) -> None:
    check = metric("check_thunderbird_folder")
    gold = _file(tmp_path, "gold", _message("a") + _message("b"))
    same = _file(tmp_path, "same", _message("b") + _message("a") + _message("a") + _message("z", "0009"))
    assert check(same, gold) == 1.0
    assert check(same, gold, remove_duplicate=False) == 0.0
    assert check(same, gold, remove_deleted=False) == 0.0
    other = _file(tmp_path, "other", _message("a") + _message("c"))
    assert check(other, gold) == 0.0
    assert check([same, None], [gold, gold]) == 0.0
    assert check([same, same], [gold, gold]) == 1.0


def test_compare_config(tmp_path: Path) -> None:
    check = metric("compare_config")
    assert check(_file(tmp_path, "a.txt", "project"), {"expected": "project"}) == 1.0
    assert check(_file(tmp_path, "b.txt", "project\n"), {"expected": "project"}) == 0.0
    assert check(None, {"expected": "project"}) == 0.0


def test_is_extension_installed() -> None:
    check = metric("is_extension_installed")
    assert check("ms-python.python\n", {"type": "contain", "expected": "ms-python.python"}) == 1.0
    assert check("", {"type": "contain", "expected": "ms-python.python"}) == 0.0
    assert check("other\n", {"type": "not_contain", "expected": "ms-python.python"}) == 1.0
    assert check("ms-python.python", {"type": "not_contain", "expected": "ms-python.python"}) == 0.0
    with pytest.raises(Unsupported):
        check("x", {"type": "regex", "expected": "x"})


def test_check_json_settings(tmp_path: Path) -> None:
    check = metric("check_json_settings")
    settings = _file(tmp_path, "settings.json", json.dumps({"editor.wordWrapColumn": 50, "a": {"b": True}}))
    assert check(settings, {"expected": {"editor.wordWrapColumn": 50}}) == 1.0
    assert check(settings, {"expected": {"a": {"b": True}}}) == 1.0
    assert check(settings, {"expected": {"a": {}}}) == 0.0
    assert check(settings, {"expected": {"missing": None}}) == 0.0
    assert check(_file(tmp_path, "bad.json", "{,"), {"expected": {}}) == 0.0
    assert check(None, {"expected": {}}) == 0.0


def test_check_json_keybindings(tmp_path: Path) -> None:
    check = metric("check_json_keybindings")
    binding = {"key": "ctrl+j", "command": "workbench.action.focusActiveEditorGroup", "when": "terminalFocus"}
    commented = "// Place your key bindings in this file\n" + json.dumps([binding])
    assert check(_file(tmp_path, "k1.json", commented), {"expected": binding}) == 1.0
    assert check(_file(tmp_path, "k2.json", json.dumps([binding])), {"expected": binding}) == 1.0
    assert (
        check(_file(tmp_path, "k3.json", json.dumps([{**binding, "when": "x"}])), {"expected": binding}) == 0
    )
    assert check(_file(tmp_path, "k4.json", json.dumps(binding)), {"expected": binding}) == 0.0
    assert check(None, {"expected": binding}) == 0.0


def test_compare_result_files(tmp_path: Path) -> None:
    check = metric("compare_result_files")
    gold = _file(tmp_path, "gold.txt", "3.14159\n")
    assert check(_file(tmp_path, "a.txt", "The answer is 3.14159"), gold) == 1.0
    assert check(_file(tmp_path, "b.txt", "3.141595"), gold) == 1.0
    assert check(_file(tmp_path, "c.txt", "3.2"), gold) == 0.0
    words = _file(tmp_path, "words.txt", "hello")
    assert check(_file(tmp_path, "d.txt", " hello \n"), words) == 1.0
    assert check(_file(tmp_path, "e.txt", "hello there"), words) == 0.0
    assert check(None, gold) == 0.0


def _pdf(text: str) -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    content = DecodedStreamObject()
    content.set_data(f"BT /F1 12 Tf 10 100 Td ({text}) Tj ET".encode())
    page[NameObject("/Contents")] = writer._add_object(content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _zip(tmp_path: Path, name: str, members: dict[str, bytes]) -> str:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return str(path)


def test_compare_zip_files(tmp_path: Path) -> None:
    check = metric("compare_zip_files")
    gold = _zip(tmp_path, "gold.zip", {"a.txt": b"x", "r.pdf": _pdf("Recruitment and retention report")})
    same = _zip(tmp_path, "same.zip", {"a.txt": b"x", "r.pdf": _pdf("Recruitment and retention report")})
    assert check(same, gold) == 1.0
    other_pdf = _zip(tmp_path, "p.zip", {"a.txt": b"x", "r.pdf": _pdf("Something else entirely here")})
    assert check(other_pdf, gold) == 0.0
    assert check(_zip(tmp_path, "b.zip", {"a.txt": b"y", "r.pdf": _pdf("x")}), gold) == 0.0
    assert check(_zip(tmp_path, "c.zip", {"a.txt": b"x"}), gold) == 0.0
    assert check(_file(tmp_path, "not.zip", "text"), gold) == 0.0
    assert check(None, gold) == 0.0


class LocalComputer:
    """Runs the metric's commands on this machine: a stand-in for a task computer in a unit test."""

    def write_file(self, path: str, data: bytes) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)

    def run(self, command: Any, *, shell: bool = False, timeout_s: float | None = None) -> CommandResult:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        return CommandResult(done.returncode, done.stdout, done.stderr)


def test_check_python_file_by_test_suite(tmp_path: Path) -> None:
    check = metric("check_python_file_by_test_suite")
    agent, cache = tmp_path / "files", tmp_path / "cache"
    agent.mkdir()
    cache.mkdir()
    good = _file(agent, "snake.py", "def grow(n):\n    return n + 1\n")
    suite = _file(cache, "test_suite.py", "import snake\n\ndef test():\n    return snake.grow(1) == 2\n")
    with pytest.raises(Unsupported, match="in a task computer"):
        check([good], suite)  # the agent's code never runs on the host
    token = TASK_COMPUTER.set(LocalComputer())
    try:
        assert check([good], suite) == 1.0
        _file(agent, "snake.py", "def grow(n):\n    return n\n")
        assert check([good], suite) == 0.0
        _file(agent, "snake.py", "def grow(n):\n    raise ValueError\n")
        assert check([good], suite) == 0.0
        assert check([good, None], suite) == 0.0
        named = _file(cache, "named.py", "def check_it():\n    return True\n")
        assert check([good], named, test_function_name="check_it") == 1.0
    finally:
        TASK_COMPUTER.reset(token)


class FakeGuest:
    def __init__(self, files: dict[str, bytes], answers: dict[str, CommandResult]) -> None:
        self.files, self.answers, self.commands = files, answers, []

    def read_file(self, path: str) -> bytes | None:
        return self.files.get(path)

    def run(self, command: Any, *, shell: bool = False, timeout_s: float | None = None) -> CommandResult:
        self.commands.append(command)
        for marker, answer in self.answers.items():
            if marker in " ".join(command):
                return answer
        return CommandResult(1, "", "no such command")


def _ctx(tmp_path: Path, guest: FakeGuest) -> GetterContext:
    def unused() -> Any:
        raise AssertionError("not used")

    return GetterContext(guest, tmp_path, None, unused, unused, unused)


def test_vlc_config_getter(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, FakeGuest({apps.VLCRC: b"qt-bgcone=0\n"}, {}))
    path = GETTERS["vlc_config"](ctx, {"type": "vlc_config", "dest": "vlcrc"})
    assert Path(path).read_text() == "qt-bgcone=0\n"
    assert GETTERS["vlc_config"](_ctx(tmp_path, FakeGuest({}, {})), {"dest": "vlcrc"}) is None


def test_vlc_playing_info_getter(tmp_path: Path) -> None:
    status = _status("playing", "/home/user/a.mp4")
    guest = FakeGuest({}, {apps.VLC_STATUS_URL: CommandResult(0, status, "")})
    path = GETTERS["vlc_playing_info"](_ctx(tmp_path, guest), {"dest": "status.xml"})
    assert metric("is_vlc_playing")(path, {"type": "file_name", "file_name": "a.mp4"}) == 1.0
    assert apps.VLC_HTTP_PASSWORD in guest.commands[0]
    refused = FakeGuest({}, {apps.VLC_STATUS_URL: CommandResult(1, "", "Connection refused")})
    assert GETTERS["vlc_playing_info"](_ctx(tmp_path, refused), {"dest": "status.xml"}) is None


def test_default_video_player_getter(tmp_path: Path) -> None:
    answer = "".join(
        f"{t}\t{'vlc.desktop' if i % 3 else 'totem.desktop'}\n" for i, t in enumerate(apps.VIDEO_TYPES)
    )
    guest = FakeGuest({}, {"xdg-mime": CommandResult(0, answer, "")})
    assert GETTERS["default_video_player"](_ctx(tmp_path, guest), {}) == "vlc.desktop"
    nothing = FakeGuest({}, {"xdg-mime": CommandResult(0, "".join(f"{t}\t\n" for t in apps.VIDEO_TYPES), "")})
    assert GETTERS["default_video_player"](_ctx(tmp_path, nothing), {}) == "unknown"


def test_vscode_config_getter(tmp_path: Path) -> None:
    guest = FakeGuest({"/home/user/OpenProject.txt": b"project"}, {"pyautogui": CommandResult(0, "", "")})
    spec = {"vscode_extension_command": "OpenProject", "path": "/home/user/OpenProject.txt", "dest": "o.txt"}
    path = GETTERS["vscode_config"](_ctx(tmp_path, guest), spec)
    assert metric("compare_config")(path, {"expected": "project"}) == 1.0
    assert "'OpenProject'" in guest.commands[0][-1]
    spec_missing = {**spec, "path": "/home/user/none.txt"}
    assert GETTERS["vscode_config"](_ctx(tmp_path, guest), spec_missing) is None


def _wav(tmp_path: Path, name: str, hertz: float, seconds: float = 2.0) -> str:
    import numpy as np
    from scipy.io import wavfile

    t = np.arange(int(seconds * apps.AUDIO_RATE)) / apps.AUDIO_RATE
    wave = 0.5 * np.sin(2 * np.pi * hertz * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
    path = tmp_path / name
    wavfile.write(path, apps.AUDIO_RATE, (wave * 32767).astype(np.int16))
    return str(path)


def test_compare_audios(tmp_path: Path) -> None:
    check = metric("compare_audios")
    gold = _wav(tmp_path, "gold.wav", 440)
    assert check(_wav(tmp_path, "same.wav", 440), gold) == pytest.approx(1.0)
    assert check(_wav(tmp_path, "other.wav", 660), gold) < 0.05
    assert check(None, gold) == 0.0
    with pytest.raises(Unsupported):
        check(_file(tmp_path, "song.mp3", "ID3 not a wav"), gold)
