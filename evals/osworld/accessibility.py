"""The task desktop's accessibility tree (AT-SPI): OSWorld's XML for getters, its table form for agents."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path

from aios.evals.osworld.a11y_selectors import AT_NAMESPACES
from aios.evals.osworld.guest import Guest

logger = logging.getLogger(__name__)

DUMP_SCRIPT = Path(__file__).with_name("a11y_dump.py")
SYSTEM_PYTHON = "/usr/bin/python3"
"""AT-SPI's Python bindings are Debian packages (python3-gi, gir1.2-atspi-2.0) for the system Python."""
BUS_LAUNCHER = "/usr/libexec/at-spi-bus-launcher"
TIMEOUT_S = 30.0
KEPT_ROLES = {
    "push-button",
    "toggle-button",
    "check-box",
    "radio-button",
    "menu-item",
    "menu",
    "link",
    "entry",
    "text",
    "password-text",
    "combo-box",
    "list-item",
    "page-tab",
    "heading",
    "paragraph",
    "label",
    "static",
    "icon",
    "table-cell",
    "terminal",
    "document-web",
    "section",
    "spin-button",
    "slider",
    "tree-item",
    "image",
    "frame",
    "dialog",
    "alert",
    "tool-bar",
    "menu-bar",
}
"""Roles an agent can act on or read; containers without text are left out of the table."""


def start_bus(guest: Guest) -> bool:
    """Start the accessibility bus in the task's session, so apps launched after it are in the tree."""
    if not Path(BUS_LAUNCHER).exists():
        logger.info(
            "%s is missing: no accessibility tree in task computers (apt-get install at-spi2-core)",
            BUS_LAUNCHER,
        )
        return False
    guest.launch([BUS_LAUNCHER, "--launch-immediately"])
    return True


def tree_xml(guest: Guest) -> str:
    """The whole desktop's tree as XML; empty when the bindings are missing or the dump fails."""
    result = guest.run([SYSTEM_PYTHON, "-I", "-c", DUMP_SCRIPT.read_text()], timeout_s=TIMEOUT_S)
    if result.returncode != 0 or not result.stdout.startswith("<desktop-frame"):
        logger.info("accessibility tree unavailable: %s", result.stderr.strip()[-300:])
        return ""
    return result.stdout


def linearize(xml: str, *, max_rows: int = 300) -> str:
    """The table OSWorld's agents read: tag, name, text, position and size of visible elements."""
    if not xml:
        return ""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return ""
    rows = ["tag\tname\ttext\tposition (top-left x&y)\tsize (w&h)"]
    for node in root.iter():
        if node is root or node.tag not in KEPT_ROLES:
            continue
        if node.get(f"{{{AT_NAMESPACES['st']}}}showing") != "true":
            continue
        name, text = node.get("name", ""), (node.text or "").strip()
        if not name and not text:
            continue
        position = node.get(f"{{{AT_NAMESPACES['cp']}}}screencoord", "")
        size = node.get(f"{{{AT_NAMESPACES['cp']}}}size", "")
        rows.append("\t".join([node.tag, name, text.replace("\n", "\\n"), position, size]))
        if len(rows) > max_rows:
            break
    return "\n".join(rows)
