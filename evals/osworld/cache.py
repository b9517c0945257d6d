"""Downloads from a local cache only: keyed by URL (a hash, or the URL's file name) or by target name."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import unquote, urlparse

from aios.evals.osworld.unsupported import NeedsNetwork


def url_key(url: str) -> str:
    """The file name a URL is cached under when no file of its own name is there."""
    return hashlib.sha256(url.encode()).hexdigest()[:32]


def cached(cache_dir: Path | None, url: str, *, name: str = "") -> Path:
    """The cached copy of `url`: `<cache>/<sha256 of url>`, `<cache>/<url's file name>` or `<cache>/<name>`.

    A `file://` URL is read directly. Anything else not found raises NeedsNetwork: this runner never
    downloads while tasks run.
    """
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
        if path.is_file():
            return path
        raise FileNotFoundError(f"{url} does not exist")
    if cache_dir is not None:
        candidates = [url_key(url), Path(unquote(parsed.path)).name, Path(name).name]
        for candidate in candidates:
            if candidate and (cache_dir / candidate).is_file():
                return cache_dir / candidate
    if parsed.scheme in ("http", "https"):
        raise NeedsNetwork(url)
    raise FileNotFoundError(f"{url}: not a cached or local file")
