"""What a task asks for that this runner does not provide: the task is reported by name, never scored 0."""

from __future__ import annotations


class Unsupported(Exception):
    """A getter, metric, setup step or app this runner lacks; `what` names it (`getter:foo`)."""

    def __init__(self, what: str, detail: str = "") -> None:
        super().__init__(f"{what}: {detail}" if detail else what)
        self.what = what


class NeedsNetwork(Exception):
    """A download whose URL is not in the local cache, or a live service: the task cannot run offline."""

    def __init__(self, url: str, reason: str = "not in the cache") -> None:
        super().__init__(f"{reason}: {url}")
        self.url = url


class SetupFailed(Exception):
    """A setup or post-config step failed: an environment error, not the agent's."""
