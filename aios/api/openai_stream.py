"""A chat completion as OpenAI's server-sent events: text as the engine generates it, then the tool calls,
the finish reason and the usage, so the chunks join to exactly the non-streamed answer."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from aios.api.openai_wire import (
    ChatCompletionChunk,
    ChunkChoice,
    Delta,
    ErrorBody,
    ToolCallDelta,
    tool_calls_out,
    usage_out,
)
from aios.kernel.syscalls import LLMResult

logger = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"


def stop_index(text: str, stops: tuple[str, ...]) -> int | None:
    """Where the first stop string begins in `text`, if one does."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


class TextRelease:
    """Releases generated text to the client, holding back what may still turn out to be a stop string
    (the engine's raw text runs past the stop string it cuts the answer at)."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = stops
        self.hold = max((len(s) for s in stops), default=1) - 1
        self.seen = ""
        self.sent = 0
        self.stopped = False

    def push(self, delta: str) -> str:
        """What of the text generated so far may be sent now."""
        if self.stopped:
            return ""
        self.seen += delta
        end = stop_index(self.seen, self.stops) if self.stops else None
        if end is not None:
            self.stopped = True
        else:
            end = len(self.seen) - self.hold
        return self._take(end)

    def finish(self, content: str) -> str:
        """The rest of the final answer; what was sent is always a prefix of it."""
        sent = self.seen[: self.sent]
        if not content.startswith(sent):
            logger.warning("streamed text is not a prefix of the answer: %r vs %r", sent[:80], content[:80])
            return ""
        self.sent = len(content)
        return content[len(sent) :]

    def _take(self, end: int) -> str:
        if end <= self.sent:
            return ""
        out, self.sent = self.seen[self.sent : end], end
        return out


class ChunkWriter:
    """Builds the SSE lines of one streamed completion."""

    def __init__(self, *, completion_id: str, created: int, model: str, include_usage: bool) -> None:
        self.completion_id = completion_id
        self.created = created
        self.model = model
        self.include_usage = include_usage
        self.has_text = False  # an answer of only tool calls joins to null content, as unstreamed

    def _chunk(self, choices: list[ChunkChoice], **extra: object) -> bytes:
        chunk = ChatCompletionChunk(
            id=self.completion_id, created=self.created, model=self.model, choices=choices, **extra
        )
        return b"data: " + chunk.model_dump_json().encode() + b"\n\n"

    def role(self) -> bytes:
        """The opening chunk; its content stays null until the answer turns out to have text or no calls."""
        return self._chunk([ChunkChoice(delta=Delta(role="assistant"))])

    def text(self, text: str) -> bytes:
        self.has_text = True
        return self._chunk([ChunkChoice(delta=Delta(content=text))])

    def end(self, result: LLMResult, rest: str) -> Iterator[bytes]:
        """The answer's unsent text, its tool calls, its finish reason, its usage, then `[DONE]`."""
        calls = tool_calls_out(result.tool_calls)
        if rest or not (self.has_text or calls):  # an empty answer without calls joins to "", not null
            yield self.text(rest)
        if calls:
            deltas = [ToolCallDelta(index=i, id=c.id, function=c.function) for i, c in enumerate(calls)]
            yield self._chunk([ChunkChoice(delta=Delta(tool_calls=deltas))])
        yield self._chunk([ChunkChoice(delta=Delta(), finish_reason=result.finish_reason)])
        if self.include_usage:
            yield self._chunk([], usage=usage_out(result))
        yield DONE

    @staticmethod
    def error(body: ErrorBody) -> bytes:
        """A failure after the stream began: the official clients raise it from the event."""
        return b"data: " + body.model_dump_json().encode() + b"\n\n"
