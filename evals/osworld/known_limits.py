"""Genuine OSWorld tasks whose need for real root, the network or a missing device shows only in what
they ask of the agent, not in their steps: found by reading each task of `test_all.json`, listed by id."""

from __future__ import annotations

KNOWN_LIMITS: dict[str, tuple[str, str, str]] = {
    # id -> (kind, what, why)
    "43c2d64c-bab5-4dcb-a30c-b888321c319a": ("root", "mkdir /", "creates a folder in the root directory"),
    "b6781586-6346-41cd-935a-a6b1487918fc": ("root", "timedatectl", "sets the system time zone"),
    "94d95f96-9699-4208-98ba-3c3119edf9c2": ("network", "apt", "installs Spotify from the internet"),
    "c56de254-a3ec-414e-81a6-83d2ce8c41fa": ("network", "pip", "installs a Python package from the internet"),
    "28cc3b7e-b194-4bc9-8353-d04c0f4d56d2": ("app", "pulseaudio", "reads the sound server's volume"),
    # VS Code tasks whose extension comes from the marketplace (code-server's is Open VSX): online only
    "eabc805a-bfcf-4460-b250-ac92135819f6": ("network", "extension marketplace", "installs Python"),
    "4e60007a-f5be-4bfc-9723-c39affa0a6d3": ("network", "extension marketplace", "installs autoDocstring"),
    "e2b5e914-ffe1-44d2-8e92-58f8c5d92bb2": ("network", "extension marketplace", "installs Python"),
    "42f4d1c7-4521-4161-b646-0a8934e36081": ("network", "extension marketplace", "installs a Lisp extension"),
    # the games' test suites import pygame, which the task computer's Python does not have
    "26150609-0da3-4a7d-8868-0faf9c5f01bb": ("app", "pygame", "the Snake game's test suite imports pygame"),
    "9219480b-3aed-47fc-8bac-d2cffc5849f7": ("app", "pygame", "the Tetris game's test suite imports pygame"),
    # compare_audios decodes WAV only: an MP3 decoder would be another dependency
    "8f080098-ddb1-424c-b438-4e96e5e4786e": ("metric", "compare_audios:mp3", "compares MP3 recordings"),
    "c59742c0-4323-4b9d-8a02-723c251deaa0": ("metric", "compare_audios:mp3", "compares MP3 audio in a slide"),
}
"""Task id -> (kind, what, why), kinds as the coverage report names them."""
