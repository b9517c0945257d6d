"""Which hosts the browser may reach: an allow-list checked per request and handed to Chromium's resolver."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

NAVIGABLE_SCHEMES = ("http", "https")
NETWORK_SCHEMES = ("http", "https", "ws", "wss")
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
BLANK = "about:blank"

_ENTRY = re.compile(r"^(?P<host>\*|[a-z0-9*?._-]+|\[[0-9a-f:.]+\])(?::(?P<port>\d{1,5}))?$")


@dataclass(frozen=True, kw_only=True)
class HostRule:
    """One allow-list entry: a host glob, and a port when the entry names one."""

    host_glob: str
    port: int | None

    def matches(self, host: str, port: int) -> bool:
        # an IPv6 literal's brackets would read as a glob character class
        literal = self.host_glob.startswith("[")
        same = host == self.host_glob if literal else fnmatch.fnmatchcase(host, self.host_glob)
        return same and (self.port is None or self.port == port)


def parse_host_entry(entry: str) -> HostRule:
    """`example.com`, `*.example.com`, `127.0.0.1:8000` or `[::1]`; a clear ValueError otherwise."""
    match = _ENTRY.match(entry.strip().lower())
    if match is None:
        raise ValueError(
            f"{entry!r} is not a host glob (examples: 'example.com', '*.example.com', '127.0.0.1:8000')"
        )
    port = match["port"]
    if port is not None and not 0 < int(port) < 65536:
        raise ValueError(f"{entry!r}: port {port} is out of range")
    return HostRule(host_glob=match["host"], port=None if port is None else int(port))


def browser_reading(url: str) -> str:
    """The URL as Chromium reads it where Python differs (`http://evil\\@127.0.0.1/` goes to evil)."""
    # WHATWG URL parsing drops tabs and newlines and reads `\` as `/` in http(s) and ws(s) URLs
    return re.sub(r"[\t\n\r]", "", url).replace("\\", "/")


def url_scheme(url: str) -> str:
    return urlsplit(url.strip()).scheme.lower()


def require_navigable(url: str, *, allow_blank: bool = True) -> str:
    """The URL if a page may be opened there, else a ValueError saying why (file:// reads local files)."""
    url = url.strip()
    if url == BLANK and allow_blank:
        return url
    scheme = url_scheme(url)
    if scheme not in NAVIGABLE_SCHEMES:
        shown = f"{scheme}:" if scheme else "a URL without a scheme"
        allowed = "http://, https:// and about:blank" if allow_blank else "http:// and https://"
        raise ValueError(
            f"only {allowed} URLs are allowed here, not {shown} "
            "(file:, chrome:, view-source:, javascript: and data: URLs are refused: they reach local files "
            "or browser internals)"
        )
    if not urlsplit(browser_reading(url)).hostname:
        raise ValueError(f"{url!r} has no host")
    return url


class HostPolicy:
    """The browser's network allow-list; `*` alone allows every host."""

    def __init__(self, entries: list[str]) -> None:
        self.entries = list(entries)
        self.rules = [parse_host_entry(e) for e in entries]

    @property
    def allows_all(self) -> bool:
        return any(r.host_glob == "*" and r.port is None for r in self.rules)

    def blocked_host(self, url: str) -> str | None:
        """`host[:port]` that the allow-list refuses for this URL, or None when the request may go out."""
        parts = urlsplit(browser_reading(url))
        scheme = parts.scheme.lower()
        if scheme not in NETWORK_SCHEMES:
            return f"{scheme}: URL"
        host = (parts.hostname or "").lower()
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError:
            return parts.netloc
        shown_host = f"[{host}]" if ":" in host else host
        if any(rule.matches(shown_host, port) for rule in self.rules):
            return None
        return f"{shown_host}:{port}"

    def resolver_rules(self) -> str | None:
        """Chromium `--host-resolver-rules` that make every other host unresolvable.

        A second wall behind request routing: it also stops what routing never sees (connections opened
        ahead of a navigation, redirect hops). Ports are not part of resolver rules; routing checks them.
        """
        if self.allows_all:
            return None
        hosts = sorted({r.host_glob for r in self.rules})
        return ", ".join(["MAP * ~NOTFOUND", *(f"EXCLUDE {h}" for h in hosts)])
