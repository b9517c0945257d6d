"""OSWorld's VLC metrics and getters: vlcrc settings, what is playing, the default video player, and how
alike two recordings sound."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from aios.evals.osworld.getters import Getter, GetterContext, vm_file
from aios.evals.osworld.metrics import Metric
from aios.evals.osworld.result_files import read_text
from aios.evals.osworld.unsupported import Unsupported

log = logging.getLogger(__name__)

VLCRC = "/home/user/.config/vlc/vlcrc"
VLC_STATUS_URL = "http://localhost:8080/requests/status.xml"
VLC_HTTP_PASSWORD = "password"
"""OSWorld's image runs VLC's web interface on port 8080 with this password (and an empty user name)."""


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
        text = read_text(config_path)
        if text is None:
            return 0.0
        return float(_vlcrc_setting(text, needle, default) == _as_text(rule[rule_key]))

    check.__name__ = f"check_{rule_key.removeprefix('expected_')}"
    return check


def check_global_key_play_pause(config_path: str | None, rule: dict[str, Any]) -> float:
    """Only whether a global play/pause hotkey is set counts ("1"), not which key it is."""
    text = read_text(config_path)
    if text is None:
        return 0.0
    key = _vlcrc_setting(text, "global-key-play-pause=", "")
    return float(("1" if key else "0") == _as_text(rule["expected_global_key_play_pause"]))


def _blackish(colours: str) -> bool:
    values = [int(v) for v in colours.split(";")]
    return all(v < 100 for v in values[: len(values) - len(values) % 3])


def check_qt_slider_colours(config_path: str | None, rule: dict[str, Any]) -> float:
    """`match`: the exact colour list; `blackish`: every RGB triple has all channels under 100."""
    text = read_text(config_path)
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
    text = read_text(config_path)
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
    text = read_text(status_path)
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
    """vlcrc copied out of the task computer, where VLC keeps its settings."""
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
    "compare_audios": compare_audios,
}
GETTERS: dict[str, Getter] = {
    "vlc_config": vlc_config,
    "vlc_playing_info": vlc_playing_info,
    "default_video_player": default_video_player,
}
