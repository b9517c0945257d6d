"""What OSWorld's Impress metrics and getters share about a .pptx deck: its XML namespaces, the python-pptx
shape types they single out, and opening a deck."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pptx.presentation import Presentation as Deck

A = "http://schemas.openxmlformats.org/drawingml/2006/main"
P = "http://schemas.openxmlformats.org/presentationml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"

FREEFORM, PICTURE, TABLE = 5, 13, 19
"""python-pptx's MSO_SHAPE_TYPE values that OSWorld's position checks single out."""


def open_deck(path: str) -> Deck:
    """python-pptx is imported only when a deck is scored, as the other Office readers are."""
    from pptx import Presentation

    return Presentation(path)
