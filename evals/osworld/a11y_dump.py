"""Prints the desktop's accessibility tree as XML. Runs inside a task's sandbox under Debian's python3 (the
AT-SPI bindings are a system package), so it imports nothing of aios; its source is passed with `-c`."""

import sys
from xml.sax.saxutils import escape, quoteattr

import gi

gi.require_version("Atspi", "2.0")
from gi.repository import Atspi  # noqa: E402

MAX_NODES = 4000
MAX_DEPTH = 60
MAX_TEXT = 500
MAX_CHILDREN = 2000
MAX_TABLE_ROWS = 60
MAX_TABLE_COLUMNS = 30
"""A 1920x1080 screen shows about 45 rows and 20 columns of a spreadsheet at 100%."""
STATES = ("showing", "visible", "focused", "selected", "checked", "enabled", "editable", "focusable")


def tag(node):
    role = node.get_role_name() or "unknown"
    return "".join(c if c.isalnum() else "-" for c in role) or "unknown"


def text_of(node):
    """The node's own text; U+FFFC marks where children sit in it and is dropped."""
    try:
        if "Text" not in node.get_interfaces():
            return ""
        count = min(Atspi.Text.get_character_count(node), MAX_TEXT)
        return Atspi.Text.get_text(node, 0, count).replace("\ufffc", "").strip()
    except Exception:
        return ""


def attributes(node):
    out = {"name": node.get_name() or ""}
    try:
        states = node.get_state_set()
        for state in STATES:
            if states.contains(getattr(Atspi.StateType, state.upper())):
                out["st:" + state] = "true"
    except Exception:
        pass
    try:
        for key, value in (node.get_attributes() or {}).items():
            if key.replace("-", "").replace("_", "").isalnum():
                out["attr:" + key] = value
    except Exception:
        pass
    try:
        if "Component" in node.get_interfaces():
            extents = Atspi.Component.get_extents(node, Atspi.CoordType.SCREEN)
            out["cp:screencoord"] = f"({extents.x}, {extents.y})"
            for name, kind in (("windowcoord", "WINDOW"), ("parentcoord", "PARENT")):
                if hasattr(Atspi.CoordType, kind):
                    at = Atspi.Component.get_position(node, getattr(Atspi.CoordType, kind))
                    out["cp:" + name] = f"({at.x}, {at.y})"
            out["cp:size"] = f"({extents.width}, {extents.height})"
    except Exception:
        pass
    return out


def dump(node, depth, budget, out):
    if budget[0] <= 0 or depth > MAX_DEPTH:
        return
    budget[0] -= 1
    name = tag(node)
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in attributes(node).items())
    out.append(f"<{name}{attrs}>{escape(text_of(node))}")
    for child in children(node):
        dump(child, depth + 1, budget, out)
    out.append(f"</{name}>")


def children(node):
    """A node's children; of a huge table (a spreadsheet has 2^30 cells), only the cells on screen in its
    top-left corner, found by position: walking every child would never end."""
    try:
        count = node.get_child_count()
    except Exception:
        return
    if count > MAX_CHILDREN and "Table" in node.get_interfaces():
        try:
            rows = min(Atspi.Table.get_n_rows(node), MAX_TABLE_ROWS)
            columns = min(Atspi.Table.get_n_columns(node), MAX_TABLE_COLUMNS)
        except Exception:
            return
        for row in range(rows):
            for column in range(columns):
                try:
                    cell = Atspi.Table.get_accessible_at(node, row, column)
                    if cell is not None and cell.get_state_set().contains(Atspi.StateType.SHOWING):
                        yield cell
                except Exception:
                    continue
        return
    for i in range(min(count, MAX_CHILDREN)):
        try:
            child = node.get_child_at_index(i)
        except Exception:
            continue
        if child is not None:
            yield child


def main():
    Atspi.init()
    desktop = Atspi.get_desktop(0)
    out = [
        '<desktop-frame xmlns:st="uri:deskat:state.at-spi.gnome.org" '
        'xmlns:attr="uri:deskat:attributes.at-spi.gnome.org" '
        'xmlns:cp="uri:deskat:component.at-spi.gnome.org">'
    ]
    budget = [MAX_NODES]
    for i in range(desktop.get_child_count()):
        app = desktop.get_child_at_index(i)
        if app is not None:
            dump(app, 1, budget, out)
    out.append("</desktop-frame>")
    sys.stdout.write("\n".join(out))


main()
