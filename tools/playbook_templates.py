"""What templating a string would do on this machine: lookups, private attributes, includes of other files.

Ansible renders templates on the controller, even in check mode, so a lookup there runs a program or reads
a file before anyone approved the run.
"""

from __future__ import annotations

import re

from jinja2 import Environment, TemplateSyntaxError, nodes

LOOKUP_NAMES = frozenset({"lookup", "query", "q"})
LOOKUP_CALL = re.compile(r"\b(?:lookup|query|q)\s*\(")
TEMPLATE_MARKS = ("{{", "{%", "{#")

_JINJA = Environment(extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do"])


def template_problem(text: str, *, expression: bool = False) -> str | None:
    """Why ansible templating `text` could run or read something here; None when it could not.

    `expression`: ansible evaluates the text as a bare Jinja expression (`when:`), without `{{ }}`.
    """
    if LOOKUP_CALL.search(text):
        return f"{clip(text)} calls a lookup, which runs here even in check mode"
    templated = any(mark in text for mark in TEMPLATE_MARKS)
    if not templated and not expression:
        return None
    source = text if templated else "{{ (" + text + "\n) }}"
    try:
        tree = _JINJA.parse(source)
    except TemplateSyntaxError as e:
        return f"{clip(text)} is not a template the guard can check ({e.message})"
    for node in tree.find_all(nodes.Node):
        problem = _node_problem(node)
        if problem:
            return f"{clip(text)} {problem}"
    return None


def clip(text: str, limit: int = 60) -> str:
    """`text` quoted for a message, cut at `limit` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _node_problem(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Name) and node.name in LOOKUP_NAMES:
        return f"uses {node.name}, which runs on this machine even in check mode"
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        return f"reads the private attribute {node.attr}"
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and str(node.arg.value).startswith("_")
    ):
        return f"reads the private attribute {node.arg.value}"
    if isinstance(node, nodes.Include | nodes.Import | nodes.FromImport | nodes.Extends):
        return "includes another template, which reads files on this machine"
    return None
