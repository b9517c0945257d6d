"""ID3 tags (v1, v2.2-2.4) of an MP3 file read without a tagging library, named as mutagen's EasyID3 names
them (OSWorld's tasks use those names)."""

from __future__ import annotations

import functools
import zlib

EASY_FRAMES = {
    "album": "TALB",
    "bpm": "TBPM",
    "compilation": "TCMP",
    "composer": "TCOM",
    "copyright": "TCOP",
    "encodedby": "TENC",
    "lyricist": "TEXT",
    "length": "TLEN",
    "media": "TMED",
    "mood": "TMOO",
    "grouping": "TIT1",
    "title": "TIT2",
    "version": "TIT3",
    "artist": "TPE1",
    "albumartist": "TPE2",
    "conductor": "TPE3",
    "arranger": "TPE4",
    "discnumber": "TPOS",
    "organization": "TPUB",
    "tracknumber": "TRCK",
    "author": "TOLY",
    "albumartistsort": "TSO2",
    "albumsort": "TSOA",
    "composersort": "TSOC",
    "artistsort": "TSOP",
    "titlesort": "TSOT",
    "isrc": "TSRC",
    "discsubtitle": "TSST",
    "language": "TLAN",
    "date": "TDRC",
}
"""mutagen's EasyID3 names (which OSWorld's tasks use) for plain text frames; genre and the rest are not
read here."""

_V22_FRAMES = {
    "TT1": "TIT1", "TT2": "TIT2", "TT3": "TIT3", "TP1": "TPE1", "TP2": "TPE2", "TP3": "TPE3", "TP4": "TPE4",
    "TAL": "TALB", "TCM": "TCOM", "TRK": "TRCK", "TPA": "TPOS", "TYE": "TYER", "TDA": "TDAT", "TBP": "TBPM",
    "TCR": "TCOP", "TEN": "TENC", "TXT": "TEXT", "TLE": "TLEN", "TMT": "TMED", "TPB": "TPUB", "TRC": "TSRC",
    "TLA": "TLAN", "TOL": "TOLY",
}  # fmt: skip
_TEXT_CODECS = {0: "latin-1", 1: "utf-16", 2: "utf-16-be", 3: "utf-8"}


def _syncsafe(data: bytes) -> int:
    return functools.reduce(lambda total, b: (total << 7) | (b & 0x7F), data, 0)


def _text_frame(body: bytes) -> list[str]:
    if not body or body[0] not in _TEXT_CODECS:
        return []
    text = body[1:].decode(_TEXT_CODECS[body[0]], errors="replace")
    return [part for part in text.split("\x00") if part] or [""]


def _frame_body(version: int, flags: int, body: bytes, whole_unsync: bool) -> bytes | None:
    """A frame's payload with its extra header bytes, unsynchronisation and compression undone; None when
    encrypted."""
    if version == 4:
        if flags & 0x04:
            return None
        body = body[1:] if flags & 0x40 else body
        body = body[4:] if flags & 0x01 else body
        body = body.replace(b"\xff\x00", b"\xff") if flags & 0x02 or whole_unsync else body
        return zlib.decompress(body) if flags & 0x08 else body
    if flags & 0x40:
        return None
    body = body[4:] if flags & 0x80 else body
    body = body[1:] if flags & 0x20 else body
    return zlib.decompress(body) if flags & 0x80 else body


def _id3v2_frames(data: bytes) -> dict[str, list[str]] | None:
    """Text frames of an ID3v2.2-2.4 tag at the file's start, by v2.4 frame id; None if there is none."""
    if len(data) < 10 or data[:3] != b"ID3" or data[3] not in (2, 3, 4):
        return None
    version, header_flags = data[3], data[5]
    tag = data[10 : 10 + _syncsafe(data[6:10])]
    if version < 4 and header_flags & 0x80:
        tag = tag.replace(b"\xff\x00", b"\xff")
    pos = 0
    if header_flags & 0x40 and version == 3:
        pos = 4 + int.from_bytes(tag[:4], "big")
    elif header_flags & 0x40 and version == 4:
        pos = _syncsafe(tag[:4])
    frames: dict[str, list[str]] = {}
    id_len, head_len = (3, 6) if version == 2 else (4, 10)
    while pos + head_len <= len(tag) and tag[pos : pos + 1] not in (b"\x00", b""):
        frame_id = tag[pos : pos + id_len].decode("latin-1")
        raw = tag[pos + id_len : pos + id_len + (3 if version == 2 else 4)]
        size = _syncsafe(raw) if version == 4 else int.from_bytes(raw, "big")
        flags = 0 if version == 2 else tag[pos + 9]
        body = tag[pos + head_len : pos + head_len + size]
        pos += head_len + size
        frame_id = _V22_FRAMES.get(frame_id, frame_id) if version == 2 else frame_id
        payload = _frame_body(version, flags, body, bool(header_flags & 0x80)) if version > 2 else body
        if frame_id.startswith("T") and frame_id != "TXXX" and payload is not None:
            frames.setdefault(frame_id, _text_frame(payload))
    _years_to_date(frames)
    return frames


def _years_to_date(frames: dict[str, list[str]]) -> None:
    """v2.3's TYER (and TDAT, DDMM) become v2.4's TDRC, as mutagen upgrades them."""
    if "TDRC" in frames or "TYER" not in frames:
        return
    date = frames["TYER"][0]
    day_month = frames.get("TDAT", [""])[0]
    if len(day_month) == 4:
        date += f"-{day_month[2:]}-{day_month[:2]}"
    frames["TDRC"] = [date]


def _id3v1_frames(data: bytes) -> dict[str, list[str]]:
    """The 128-byte ID3v1 tag at the file's end (title, artist, album, year, track)."""
    tail = data[-128:]
    if len(tail) < 128 or tail[:3] != b"TAG":
        return {}

    def field(raw: bytes) -> str:
        return raw.split(b"\x00")[0].strip().decode("latin-1")

    frames = {"TIT2": field(tail[3:33]), "TPE1": field(tail[33:63]), "TALB": field(tail[63:93])}
    frames["TDRC"] = field(tail[93:97])
    if tail[125] == 0 and tail[126]:
        frames["TRCK"] = str(tail[126])
    return {k: [v] for k, v in frames.items() if v}


def read_tags(data: bytes) -> dict[str, list[str]] | None:
    """EasyID3's view of an mp3's tags: v2 frames, with v1 filling what v2 lacks; None if neither."""
    v2 = _id3v2_frames(data)
    v1 = _id3v1_frames(data)
    if v2 is None and not v1:
        return None
    frames = {**v1, **(v2 or {})}
    return {key: frames[frame] for key, frame in EASY_FRAMES.items() if frame in frames}
