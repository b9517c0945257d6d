"""The active tab's page as OSWorld's html-parse getter reads it: queried live where the browser can run a
script, else its HTML parsed with lxml."""

from __future__ import annotations

import json
import logging
from typing import Any

from lxml import etree
from lxml import html as lxml_html

logger = logging.getLogger(__name__)


_LIVE_QUERY = """(() => {
  const kind = %s, query = %s;
  let nodes = [];
  if (kind === "class") {
    nodes = Array.from(document.querySelectorAll("." + query));
  } else {
    const found = document.evaluate(query, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
    for (let i = 0; i < found.snapshotLength; i++) nodes.push(found.snapshotItem(i));
  }
  const text = (n) => (kind === "input" ? String(n.value) : n.textContent ?? "");
  if (kind === "input") nodes = nodes.filter((n) => "value" in n);
  return JSON.stringify(nodes.map(text));
})()"""
"""Texts of what a class, XPath or input query selects in the live page, as a JSON list."""


class TabPage:
    """The active tab's page: queried live where the browser can run a script (the DOM a script built may
    not survive a round trip through HTML), else in its HTML parsed with lxml."""

    def __init__(self, browser: Any, tab_id: str) -> None:
        self.browser = browser
        self.tab_id = tab_id
        self._root: Any = None

    def texts(self, kind: str, query: str) -> list[str]:
        """Stripped texts of what a class, XPath or input query selects, live text preferred."""
        live = self._live(kind, query)
        return [text.strip() for text in (live if live is not None else self._parsed(kind, query))]

    def _live(self, kind: str, query: str) -> list[str] | None:
        evaluate = getattr(self.browser, "evaluate", None)
        if evaluate is None:
            return None
        found = evaluate(self.tab_id, _LIVE_QUERY % (json.dumps(kind), json.dumps(query)))
        if not isinstance(found, str):
            return None
        texts = json.loads(found)
        return [str(text) for text in texts] if isinstance(texts, list) else None

    def _parsed(self, kind: str, query: str) -> list[str]:
        if self._root is None:
            parser = lxml_html.HTMLParser(huge_tree=True)
            self._root = lxml_html.document_fromstring(self.browser.html(self.tab_id), parser=parser)
        if kind == "class":
            path = "//*[contains(concat(' ', normalize-space(@class), ' '), $needle)]"
            return [_node_text(node) for node in _xpath(self._root, path, needle=f" {query} ")]
        if kind == "input":
            return [
                _node_value(node) for node in _xpath(self._root, query) if isinstance(node, etree._Element)
            ]
        return [_node_text(node) for node in _xpath(self._root, query)]


def _node_text(node: Any) -> str:
    return node.text_content() if isinstance(node, etree._Element) else str(node)


def _node_value(node: Any) -> str:
    """What an input field holds according to the markup: the value it was loaded with."""
    return node.text_content() if node.tag == "textarea" else node.get("value", "")


def _xpath(root: Any, path: str, **variables: str) -> list[Any]:
    try:
        found = root.xpath(path, **variables)
    except etree.XPathError as exc:
        logger.warning("xpath %r: %s", path, exc)
        return []
    return found if isinstance(found, list) else [found]
