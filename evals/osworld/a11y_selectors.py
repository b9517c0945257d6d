"""CSS selectors over OSWorld's accessibility-tree XML, as XPath: the subset genuine tasks write (types,
`[ns|attr op value]`, the four combinators, commas); anything else is reported unsupported."""

from __future__ import annotations

import re

AT_NAMESPACES = {
    "st": "uri:deskat:state.at-spi.gnome.org",
    "attr": "uri:deskat:attributes.at-spi.gnome.org",
    "cp": "uri:deskat:component.at-spi.gnome.org",
    "doc": "uri:deskat:document.at-spi.gnome.org",
    "docattr": "uri:deskat:attributes.document.at-spi.gnome.org",
    "txt": "uri:deskat:text.at-spi.gnome.org",
    "val": "uri:deskat:value.at-spi.gnome.org",
    "act": "uri:deskat:action.at-spi.gnome.org",
}

_CSS_TOKEN = re.compile(
    r"""(?P<space>\s*(?P<comb>[>~+,])\s*|\s+)
      |(?P<type>\*|[\w-]+)
      |\[\s*(?P<attr>(?:[\w-]+\|)?[\w-]+)\s*(?:(?P<op>[~^$*|]?=)\s*
         (?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<ident>[\w-]+)))?\s*\]""",
    re.X,
)


def _xpath_literal(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ', "\'", '.join(f"'{part}'" for part in text.split("'")) + ")"


def _attr_test(name: str, op: str | None, value: str) -> str:
    """An attribute selector as an XPath predicate, with CSS's meaning of each operator."""
    at = "@" + name.replace("|", ":")
    lit = _xpath_literal(value)
    tests = {
        None: at,
        "=": f"{at} = {lit}",
        "~=": f"{at} and contains(concat(' ', normalize-space({at}), ' '), concat(' ', {lit}, ' '))",
        "|=": f"{at} and ({at} = {lit} or starts-with({at}, concat({lit}, '-')))",
        "^=": f"{at} and starts-with({at}, {lit})",
        "$=": f"{at} and substring({at}, string-length({at}) - string-length({lit}) + 1) = {lit}",
        "*=": f"{at} and contains({at}, {lit})",
    }
    if op in ("^=", "$=", "*=") and value == "":
        return "false()"
    return tests[op]


_STEPS = {" ": "/descendant::", ">": "/", "~": "/following-sibling::", "+": "/following-sibling::"}


def css_to_xpath(selector: str) -> str:
    """The CSS subset accessibility checks use (types, [ns|attr op value], the four combinators, commas)
    as XPath; anything else raises ValueError."""
    paths: list[str] = []
    path, tests = "descendant-or-self::", []
    element = ""

    def flush() -> None:
        nonlocal path, element, tests
        if not element and not tests:
            raise ValueError(f"empty step in selector {selector!r}")
        step = (element or "*") + "".join(f"[{t}]" for t in tests)
        path += step
        element, tests = "", []

    pos, text = 0, selector.strip()
    while pos < len(text):
        match = _CSS_TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"unsupported selector {selector!r} at {text[pos:]!r}")
        pos = match.end()
        if match["space"] is not None:
            comb = match["comb"] or " "
            flush()
            if comb == ",":
                paths.append(path)
                path = "descendant-or-self::"
                continue
            path += _STEPS[comb] + ("*[1]/self::" if comb == "+" else "")
        elif match["type"] is not None:
            element = match["type"]
        else:
            value = next((v for v in (match["dq"], match["sq"], match["ident"]) if v is not None), "")
            tests.append(_attr_test(match["attr"], match["op"], value))
    flush()
    paths.append(path)
    return " | ".join(paths)
