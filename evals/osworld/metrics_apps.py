"""OSWorld's app-state metrics and getters: VLC, Thunderbird and VS Code settings and state."""

from __future__ import annotations

import difflib
import io
import json
import logging
import operator
import re
import uuid
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from aios.evals.osworld.actions import PREAMBLE
from aios.evals.osworld.getters import TASK_COMPUTER, Getter, GetterContext, vm_file
from aios.evals.osworld.metrics import Metric, expected_records
from aios.evals.osworld.unsupported import Unsupported

log = logging.getLogger(__name__)

VLCRC = "/home/user/.config/vlc/vlcrc"
VLC_STATUS_URL = "http://localhost:8080/requests/status.xml"
VLC_HTTP_PASSWORD = "password"
"""OSWorld's image runs VLC's web interface on port 8080 with this password (and an empty user name)."""
TEST_SUITE_TIMEOUT_S = 120.0


def _read(path: str | None) -> str | None:
    if not path or not Path(path).is_file():
        return None
    return Path(path).read_text(encoding="utf-8", errors="replace")


# --- VLC ---------------------------------------------------------------------------------------------


def _vlcrc_setting(text: str, needle: str, default: str) -> str:
    """The value on the last line mentioning the setting, commented default lines included, as OSWorld reads
    vlcrc (VLC writes each option once: commented when default, plain when changed)."""
    value = default
    for line in text.split("\n"):
        if needle in line:
            value = line.rsplit("=", 1)[-1].strip()
    return value


def _as_text(expected: Any) -> Any:
    return str(expected) if isinstance(expected, int) else expected


def _vlcrc_check(needle: str, default: str, rule_key: str) -> Metric:
    """A metric that a vlcrc setting equals the rule's expected value (ints compared as their text)."""

    def check(config_path: str | None, rule: dict[str, Any]) -> float:
        text = _read(config_path)
        if text is None:
            return 0.0
        return float(_vlcrc_setting(text, needle, default) == _as_text(rule[rule_key]))

    check.__name__ = f"check_{rule_key.removeprefix('expected_')}"
    return check


def check_global_key_play_pause(config_path: str | None, rule: dict[str, Any]) -> float:
    """Only whether a global play/pause hotkey is set counts ("1"), not which key it is."""
    text = _read(config_path)
    if text is None:
        return 0.0
    key = _vlcrc_setting(text, "global-key-play-pause=", "")
    return float(("1" if key else "0") == _as_text(rule["expected_global_key_play_pause"]))


def _blackish(colours: str) -> bool:
    values = [int(v) for v in colours.split(";")]
    return all(v < 100 for v in values[: len(values) - len(values) % 3])


def check_qt_slider_colours(config_path: str | None, rule: dict[str, Any]) -> float:
    """`match`: the exact colour list; `blackish`: every RGB triple has all channels under 100."""
    text = _read(config_path)
    if text is None:
        return 0.0
    colours = _vlcrc_setting(text, "qt-slider-colours", "153;210;153;20;210;20;255;199;15;245;39;29")
    if rule.get("type") == "match":
        return float(colours == rule["expected_qt_slider_colours"])
    if rule.get("type") == "blackish":
        try:
            return float(_blackish(colours))
        except ValueError:
            return 0.0
    return 0.0


def is_vlc_recordings_folder(config_path: str | None, rule: dict[str, Any]) -> float:
    """The first uncommented `input-record-path` decides; a default (commented) one never matches."""
    text = _read(config_path)
    if text is None:
        return 0.0
    for line in text.split("\n"):
        if line.startswith("#") or not line.strip():
            continue
        if "input-record-path" in line:
            return float(line.rsplit("=", 1)[-1].strip() == rule["recording_file_path"])
    return 0.0


def is_vlc_playing(status_path: str | None, rule: dict[str, Any]) -> float:
    """VLC's status says playing, and the playing item's file name (or URL) ends with the expected one."""
    text = _read(status_path)
    if text is None:
        return 0.0
    try:
        status = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return 0.0
    if status.findtext("state") != "playing" or rule.get("type") not in ("file_name", "url"):
        return 0.0
    field = "filename" if rule["type"] == "file_name" else "url"
    playing = status.findtext(f"information/category[@name='meta']/info[@name='{field}']")
    return float(bool(playing) and playing.endswith(rule[rule["type"]]))


def is_vlc_fullscreen(window_size: dict[str, Any] | None, screen_size: dict[str, Any] | None) -> float:
    """The VLC window covers the screen exactly (the two sizes are compared either way round)."""
    if not window_size or not screen_size:
        return 0.0
    same = all(window_size.get(k) == screen_size.get(k) for k in ("width", "height"))
    return float(same)


# --- Thunderbird -------------------------------------------------------------------------------------

_PREF = re.compile(r'user_pref\("(?P<key>(?:[^"]|\\")+)", (?P<value>.+)\);')


def _compare(value: Any, rule: dict[str, Any]) -> bool:
    """OSWorld's value rules: `re[.FLAG...]`, `eq`/`ne`/`lt`/`le`/`gt`/`ge`, `approx:T`, `range.XY`."""
    method, ref = str(rule["method"]), rule.get("ref")
    if method.startswith("re"):
        flags = 0
        for name in method.split(".")[1:]:
            flags |= getattr(re, name)
        return isinstance(value, str) and re.search(ref, value, flags) is not None
    if method in ("eq", "ne", "lt", "le", "gt", "ge"):
        try:
            return bool(getattr(operator, method)(value, ref))
        except TypeError:
            return False
    if method.startswith("approx:"):
        try:
            return abs(float(value) - ref) <= float(method.split(":")[1])
        except (TypeError, ValueError):
            return False
    if method.startswith("range.") and len(method) == 8:
        low, high = getattr(operator, "l" + method[6]), getattr(operator, "l" + method[7])
        return bool(low(ref[0], value) and high(value, ref[1]))
    if method == "spreadsheet_range":
        raise Unsupported("metric:check_thunderbird_prefs:spreadsheet_range")
    return False


def _prefs(text: str) -> list[tuple[str, Any]]:
    """prefs.js as (key, value) pairs in file order; a value that is not JSON is skipped."""
    found = []
    for line in text.splitlines():
        match = _PREF.fullmatch(line.strip())
        if match is None:
            continue
        try:
            found.append((match["key"], json.loads(match["value"])))
        except json.JSONDecodeError:
            log.debug("prefs.js value is not JSON: %s", line)
    return found


def check_thunderbird_prefs(prefs_path: str | None, rule: dict[str, Any]) -> float:
    """Each `expect` pref is present and (its last setting) matches; no `unexpect` pref setting matches."""
    text = _read(prefs_path)
    if text is None:
        return 0.0
    expect, unexpect = rule.get("expect", {}), rule.get("unexpect", {})
    met = dict.fromkeys(expect, False)
    for key, value in _prefs(text):
        if key in expect:
            met[key] = _compare(value, expect[key])
        elif key in unexpect and _compare(value, unexpect[key]):
            return 0.0
    return float(all(met.values()))


_CONDITION = re.compile(r"\b(?:AND|OR) \([\w ]+,[\w ']+,(?:\".*?\"|[^)]+)\)|\bALL\b")
_FILTER_FIELDS = ("name", "enabled", "type", "action", "actionValue")


def _unescape(value: str) -> str:
    return value.replace('\\"', '"').replace("\\\\", "\\")


def _filters(text: str) -> list[dict[str, Any]]:
    """msgFilterRules.dat as filters; a filter is complete at its `condition` line."""
    filters: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in text.splitlines():
        field, sep, raw = line.partition("=")
        if not sep or not (raw.startswith('"') and raw.endswith('"') and len(raw) >= 2):
            continue
        value = _unescape(raw[1:-1])
        if field == "name":
            current = {"name": value}
        elif field in _FILTER_FIELDS:
            current[field] = value
        elif field == "condition":
            current["condition"] = _CONDITION.findall(value)
            filters.append(current)
    return filters


def check_thunderbird_filter(filters_path: str | None, rules: dict[str, Any]) -> float:
    """Every `expect` pattern matches some filter's fields; no `unexpect` pattern matches any filter."""
    text = _read(filters_path)
    if text is None:
        return 0.0
    return expected_records(_filters(text), rules)


_MBOX_SEPARATOR = re.compile(r"^From [^\n]*\n", re.MULTILINE)


def _mail_folder(text: str, options: dict[str, Any]) -> list[str]:
    """The folder's messages (mbox separator lines dropped), normalised, sorted for an order-free compare."""
    messages = []
    for message in _MBOX_SEPARATOR.split(text.strip()):
        if not message.strip():
            continue
        if options.get("remove_deleted", True) and re.search(r"X-Mozilla-Status: 000[89]", message):
            continue
        if options.get("ignore_status"):
            message = re.sub(r"X-Mozilla-Status\d?:[\s\d]+", "", message)
        if options.get("ignore_keys"):
            message = re.sub(r"(X-Mozilla-Keys:[^\n]*?)\n(MIME-Version)", r"\2", message)
        messages.append(message.strip())
    if options.get("remove_duplicate", True):
        messages = list(set(messages))
    return sorted(messages)


def check_thunderbird_folder(result: str | list[str | None] | None, expected: Any, **options: Any) -> float:
    """Each mail folder (mbox file) holds the same messages as its reference, in any order."""
    pairs = zip(result, expected, strict=False) if isinstance(expected, list) else [(result, expected)]
    for mine, theirs in pairs:
        mine_text, theirs_text = _read(mine), _read(theirs)
        if mine_text is None or theirs_text is None:
            return 0.0
        if _mail_folder(mine_text, options) != _mail_folder(theirs_text, options):
            return 0.0
    return 1.0


# --- VS Code -----------------------------------------------------------------------------------------


def compare_config(result: str | None, rules: dict[str, Any], **options: Any) -> float:
    """The whole file equals the expected text, byte for byte after decoding."""
    text = _read(result)
    return float(text is not None and text == rules["expected"])


def is_extension_installed(result: str | None, rules: dict[str, Any], **options: Any) -> float:
    """A command's output contains (or, with `not_contain`, lacks) the expected text."""
    if rules.get("type") not in ("contain", "not_contain"):
        raise Unsupported(f"metric:is_extension_installed:{rules.get('type')}")
    if result is None:
        return 0.0
    return float((rules["expected"] in result) == (rules["type"] == "contain"))


def _load_json(path: str | None, *, skip_first_line: bool = False) -> Any:
    text = _read(path)
    if text is None:
        return None
    if skip_first_line:
        text = text.split("\n", 1)[1] if "\n" in text else ""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def check_json_settings(result: str | None, rules: dict[str, Any], **options: Any) -> float:
    """Every expected top-level key holds exactly the expected value; other keys may be anything."""
    data = _load_json(result)
    if not isinstance(data, dict):
        return 0.0
    return float(all(key in data and data[key] == value for key, value in rules["expected"].items()))


def check_json_keybindings(result: str | None, rules: dict[str, Any], **options: Any) -> float:
    """The expected binding is one of the file's entries (VS Code starts the file with a comment line)."""
    for skip in (False, True):
        bindings = _load_json(result, skip_first_line=skip)
        if isinstance(bindings, list):
            return float(rules["expected"] in bindings)
    return 0.0


def compare_result_files(result: str | None, expected: str | None) -> float:
    """Numbers match within 1e-4 or appear verbatim in the result (it may add words); else the same text."""
    mine, theirs = _read(result), _read(expected)
    if mine is None or theirs is None:
        return 0.0
    mine, theirs = mine.strip(), theirs.strip()
    try:
        target = float(theirs)
    except ValueError:
        return float(mine == theirs)
    if theirs in mine:
        return 1.0
    try:
        return float(abs(float(mine) - target) < 1e-4)
    except ValueError:
        return 0.0


def _pdf_text(data: bytes) -> str | None:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    except (PdfReadError, ValueError):
        return None


def _same_member(name: str, mine: bytes, theirs: bytes) -> bool:
    """PDFs need only 95% alike text: a re-exported PDF differs in bytes, not in what it says."""
    if not name.lower().endswith(".pdf"):
        return mine == theirs
    mine_text, theirs_text = _pdf_text(mine), _pdf_text(theirs)
    if mine_text is None or theirs_text is None:
        return False
    return difflib.SequenceMatcher(None, mine_text, theirs_text).ratio() >= 0.95


def compare_zip_files(result: str | None, expected: str | None, **options: Any) -> float:
    """Same member names; same bytes, or for PDFs nearly the same text."""
    if not result or not expected or not Path(result).is_file():
        return 0.0
    try:
        with zipfile.ZipFile(result) as mine, zipfile.ZipFile(expected) as theirs:
            names = set(mine.namelist())
            if names != set(theirs.namelist()):
                return 0.0
            return float(all(_same_member(n, mine.read(n), theirs.read(n)) for n in names))
    except (zipfile.BadZipFile, OSError):
        return 0.0


_RUN_TEST = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("dynamic_module", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["dynamic_module"] = module
spec.loader.exec_module(module)
try:
    passed = getattr(module, sys.argv[2])()
except Exception:
    passed = False
sys.exit(0 if passed else 1)
"""


def check_python_file_by_test_suite(result: Any, test_file: str | None, **options: Any) -> float:
    """The task's test function returns true. It imports the agent's code, so it runs where that code was
    written, inside the task's computer (OSWorld runs it on its host), and a hang ends at a timeout."""
    files = result if isinstance(result, list) else [result]
    if not test_file or not Path(test_file).is_file() or any(not f or not Path(f).is_file() for f in files):
        return 0.0
    computer = TASK_COMPUTER.get()
    if computer is None:
        raise Unsupported("metric:check_python_file_by_test_suite", "runs agents' code: in a task computer")
    folder = f"/tmp/.aios-test-suite-{uuid.uuid4().hex}"
    for path in [*files, test_file]:
        computer.write_file(f"{folder}/{Path(path).name}", Path(path).read_bytes())
    script = 'cd "$1" && shift && PYTHONPATH="$PWD" SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy python3 "$@"'
    suite, function = f"{folder}/{Path(test_file).name}", options.get("test_function_name", "test")
    command = ["/bin/sh", "-c", script, "sh", folder, "-c", _RUN_TEST, suite, function]
    ran = computer.run(command, timeout_s=TEST_SUITE_TIMEOUT_S)
    if ran.timed_out:
        log.info("test suite %s ran past %ss", test_file, TEST_SUITE_TIMEOUT_S)
    return float(ran.returncode == 0 and not ran.timed_out)


# --- audio -------------------------------------------------------------------------------------------

AUDIO_RATE = 22050
"""librosa's default rate, which OSWorld's audio comparison resamples to."""


def _wav(path: str) -> Any:
    """Mono samples in -1..1 at AUDIO_RATE; WAV only, since MP3 decoding needs a library we do not have."""
    import numpy as np
    from scipy.io import wavfile
    from scipy.signal import resample_poly

    rate, data = wavfile.read(path)
    if data.dtype == np.uint8:
        samples = (data.astype(np.float64) - 128) / 128
    elif data.dtype.kind == "i":
        samples = data.astype(np.float64) / float(-np.iinfo(data.dtype).min)
    else:
        samples = data.astype(np.float64)
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    return samples if rate == AUDIO_RATE else resample_poly(samples, AUDIO_RATE, rate)


def _mel_filters(n_fft: int, n_mels: int) -> Any:
    """Slaney-style mel filterbank (area-normalised triangles), librosa's default."""
    import numpy as np

    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp

    def to_mel(hz: float) -> float:
        return hz / f_sp if hz < min_log_hz else min_log_mel + np.log(hz / min_log_hz) / logstep

    mels = np.linspace(to_mel(0.0), to_mel(AUDIO_RATE / 2), n_mels + 2)
    hz = np.where(mels < min_log_mel, mels * f_sp, min_log_hz * np.exp(logstep * (mels - min_log_mel)))
    bins = np.linspace(0, AUDIO_RATE / 2, n_fft // 2 + 1)
    rising = (bins[None, :] - hz[:-2, None]) / np.diff(hz)[:-1, None]
    falling = (hz[2:, None] - bins[None, :]) / np.diff(hz)[1:, None]
    return np.maximum(0, np.minimum(rising, falling)) * (2.0 / (hz[2:] - hz[:-2]))[:, None]


def _mfcc(samples: Any, n_fft: int = 2048, hop: int = 512) -> Any:
    """20 MFCCs per frame (frames x 20), each coefficient scaled by its peak over time, as librosa gives."""
    import numpy as np
    from scipy.fft import dct
    from scipy.signal import get_window

    padded = np.pad(samples, n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    power = np.abs(np.fft.rfft(frames * get_window("hann", n_fft), axis=1)) ** 2
    decibels = 10 * np.log10(np.maximum(1e-10, power @ _mel_filters(n_fft, 128).T))
    decibels = np.maximum(decibels, decibels.max() - 80.0)
    coefficients = dct(decibels, type=2, norm="ortho", axis=1)[:, :20]
    peak = np.abs(coefficients).max(axis=0)
    return coefficients / np.where(peak < np.finfo(np.float32).tiny, 1.0, peak)


def _cosine_rows(x: Any, y: Any, i: int, lo: int, hi: int) -> Any:
    import numpy as np

    return 1.0 - (y[lo:hi] @ x[i]) / (np.linalg.norm(x[i]) * np.linalg.norm(y[lo:hi], axis=1))


def _dtw(x: Any, y: Any, rows: list[tuple[int, int]]) -> tuple[float, list[tuple[int, int]]]:
    """Cheapest alignment within `rows` (row i may use columns lo..hi-1); ties prefer up, left, diagonal."""
    inf = float("inf")
    costs: list[dict[int, float]] = []
    moves: list[dict[int, tuple[int, int]]] = []

    def cost(i: int, j: int) -> float:
        if i < 0 or j < 0:
            return 0.0 if i == j == -1 else inf
        return costs[i].get(j, inf)

    for i, (lo, hi) in enumerate(rows):
        costs.append({})
        moves.append({})
        for j, d in zip(range(lo, hi), _cosine_rows(x, y, i, lo, hi).tolist(), strict=True):
            came = min(((i - 1, j), (i, j - 1), (i - 1, j - 1)), key=lambda c: cost(*c))
            costs[i][j], moves[i][j] = cost(*came) + d, came
    path, cell = [], (len(x) - 1, len(y) - 1)
    while cell != (-1, -1):
        path.append(cell)
        cell = moves[cell[0]][cell[1]]
    return cost(len(x) - 1, len(y) - 1), path[::-1]


def _halve(x: Any) -> Any:
    even = len(x) - len(x) % 2
    return (x[0:even:2] + x[1:even:2]) / 2


def _widen(path: list[tuple[int, int]], len_x: int, len_y: int, radius: int) -> list[tuple[int, int]]:
    """The coarse path, grown by `radius` and doubled to the finer grid, as column ranges per row."""
    steps = range(-radius, radius + 1)
    near = {(i + a, j + b) for i, j in path for a in steps for b in steps}
    cells = {(2 * i + a, 2 * j + b) for i, j in near for a in (0, 1) for b in (0, 1)}
    rows, start = [], 0
    for i in range(len_x):
        j = start
        while j < len_y and (i, j) not in cells:
            j += 1
        end = j
        while end < len_y and (i, end) in cells:
            end += 1
        rows.append((j, end))
        start = j
    return rows


def _fast_dtw(x: Any, y: Any, radius: int = 1) -> tuple[float, list[tuple[int, int]]]:
    """FastDTW (Salvador & Chan): solve at half resolution, then search only near that path."""
    if len(x) < radius + 2 or len(y) < radius + 2:
        return _dtw(x, y, [(0, len(y))] * len(x))
    _, coarse = _fast_dtw(_halve(x), _halve(y), radius)
    return _dtw(x, y, _widen(coarse, len(x), len(y), radius))


def compare_audios(result: str | None, expected: str | None) -> float:
    """1 / (1 + FastDTW cosine distance between normalised MFCC sequences): 1 for the same sound."""
    if not result or not expected or not Path(result).is_file() or not Path(expected).is_file():
        return 0.0
    for path in (result, expected):
        if Path(path).read_bytes()[:4] != b"RIFF":
            raise Unsupported("metric:compare_audios:not-wav", "compressed audio (MP3) needs a decoder")
    distance, _ = _fast_dtw(_mfcc(_wav(result)), _mfcc(_wav(expected)))
    return 1.0 / (1.0 + distance)


# --- getters -----------------------------------------------------------------------------------------


def vlc_config(ctx: GetterContext, config: dict[str, Any]) -> str | None:
    return vm_file(ctx, {"path": VLCRC, "dest": config.get("dest", "vlcrc")})  # type: ignore[return-value]


_FETCH_STATUS = """
import base64, sys, urllib.request
request = urllib.request.Request(sys.argv[1])
request.add_header("Authorization", "Basic " + base64.b64encode((":" + sys.argv[2]).encode()).decode())
with urllib.request.urlopen(request, timeout=10) as response:
    sys.stdout.write(response.read().decode("utf-8", "replace"))
"""


def vlc_playing_info(ctx: GetterContext, config: dict[str, Any]) -> str | None:
    """VLC's status.xml, fetched inside the task computer (only it can reach VLC's web interface)."""
    fetched = ctx.guest.run(["python3", "-c", _FETCH_STATUS, VLC_STATUS_URL, VLC_HTTP_PASSWORD], timeout_s=30)
    if fetched.returncode != 0 or not fetched.stdout:
        log.info("VLC's web interface did not answer: %s", fetched.stderr.strip()[-300:])
        return None
    target = ctx.files / Path(config.get("dest", "status.xml")).name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(fetched.stdout, encoding="utf-8")
    return str(target)


_VIDEO_NAMES = (
    "3gp 3gpp 3gpp2 avi divx dv fli flv mp2t mp4 mp4v-es mpeg mpeg-system msvideo ogg quicktime vnd.divx "
    "vnd.mpegurl vnd.rn-realvideo webm x-anim x-avi x-flc x-fli x-flv x-m4v x-matroska x-mpeg x-mpeg-system "
    "x-mpeg2 x-ms-asf x-ms-asf-plugin x-ms-asx x-ms-wm x-ms-wmv x-ms-wmx x-ms-wvx x-msvideo x-nsv x-ogm "
    "x-ogm+ogg x-theora x-theora+ogg"
)
VIDEO_TYPES = tuple(_VIDEO_NAMES.split())
"""The video/* types OSWorld asks about, in its order."""
VOTES = {kind: 1 if kind == "x-ogm+ogg" else 2 for kind in VIDEO_TYPES}
"""OSWorld asks about each type twice (x-ogm+ogg once): its answers count that often, so ties break alike."""

_QUERY_DEFAULTS = 'for t in "$@"; do printf "%s\\t%s\\n" "$t" "$(xdg-mime query default "video/$t")"; done'


def default_video_player(ctx: GetterContext, config: dict[str, Any]) -> str:
    """The desktop file that opens most video types (by `xdg-mime`), or 'unknown'."""
    answer = ctx.guest.run(["/bin/sh", "-c", _QUERY_DEFAULTS, "sh", *VIDEO_TYPES], timeout_s=120).stdout
    app_of = dict(line.split("\t", 1) for line in answer.splitlines() if "\t" in line)
    votes: Counter[str] = Counter()
    for kind in VIDEO_TYPES:
        if app := app_of.get(kind, "").strip():
            votes[app] += VOTES[kind]
    return votes.most_common(1)[0][0] if votes else "unknown"


def vscode_config(ctx: GetterContext, config: dict[str, Any]) -> str | None:
    """Run a VS Code command from its palette (an extension in the image writes the file), then copy it."""
    keys = (
        "pyautogui.hotkey('ctrl', 'shift', 'p')\n"
        f"pyautogui.write({str(config['vscode_extension_command'])!r})\n"
        "pyautogui.press('enter')\ntime.sleep(1.0)\n"
    )
    ctx.guest.run(["python3", "-c", PREAMBLE + keys], timeout_s=60)
    return vm_file(ctx, {"path": config["path"], "dest": config["dest"]})  # type: ignore[return-value]


METRICS: dict[str, Metric] = {
    "is_vlc_playing": is_vlc_playing,
    "is_vlc_recordings_folder": is_vlc_recordings_folder,
    "is_vlc_fullscreen": is_vlc_fullscreen,
    "check_global_key_play_pause": check_global_key_play_pause,
    "check_qt_max_volume": _vlcrc_check("qt-max-volume=", "125", "expected_qt_max_volume"),
    "check_qt_slider_colours": check_qt_slider_colours,
    "check_qt_minimal_view": _vlcrc_check("qt-minimal-view=", "0", "expected_qt_minimal_view"),
    "check_one_instance_when_started_from_file": _vlcrc_check(
        "one-instance-when-started-from-file=", "1", "expected_one_instance_when_started_from_file"
    ),
    "check_qt_bgcone": _vlcrc_check("qt-bgcone=", "1", "expected_qt_bgcone"),
    "check_thunderbird_prefs": check_thunderbird_prefs,
    "check_thunderbird_filter": check_thunderbird_filter,
    "check_thunderbird_folder": check_thunderbird_folder,
    "compare_config": compare_config,
    "is_extension_installed": is_extension_installed,
    "check_json_settings": check_json_settings,
    "check_json_keybindings": check_json_keybindings,
    "compare_result_files": compare_result_files,
    "compare_zip_files": compare_zip_files,
    "check_python_file_by_test_suite": check_python_file_by_test_suite,
    "compare_audios": compare_audios,
}
GETTERS: dict[str, Getter] = {
    "vlc_config": vlc_config,
    "vlc_playing_info": vlc_playing_info,
    "default_video_player": default_video_player,
    "vscode_config": vscode_config,
}
OPTION_GAPS: dict[str, Any] = {}
