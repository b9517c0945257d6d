"""The syscall wire types: what a process may ask of the kernel, and what it gets back."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

TOOL_NAME_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?\.[a-z][a-z0-9_]*$"
"""A driver operation: `driver.operation`, or `mcp.<server>.<tool>` for a driver named `mcp.<server>`."""
FUNCTION_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$"
"""What a model may be offered and may call: a driver operation, or an OpenAI-style function of a client's
own (the OpenAI-compatible endpoint passes those through; they never reach a driver)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolCall(_Strict):
    """A model's request to run one tool operation."""

    id: str
    """Opaque id that ties the tool's answer back to this call."""
    name: str = Field(pattern=FUNCTION_NAME_PATTERN)
    """An offered tool: `driver.operation` (`shell.exec`), or a function of an API client's own."""
    arguments: dict[str, Any]
    """Arguments, already valid against the operation's JSON schema when produced by a grammar."""


class ImageSource(_Strict):
    """Where an image's bytes are: inline, or a file of the process's work folder that the kernel reads
    (a screenshot travels as its path, not as megabytes of base64). Never a remote URL: the kernel fetches
    nothing on an agent's behalf."""

    url: str | None = None
    """A `data:image/...;base64,` URL."""
    path: str | None = None
    """A file in the process's work folder: relative to it, or absolute as a driver or the agent sees it."""
    detail: Literal["auto", "low", "high"] = "auto"
    """How closely the provider should look (OpenAI's `detail`); engines that have no such knob ignore it."""

    @model_validator(mode="after")
    def _one_source(self) -> ImageSource:
        if (self.url is None) == (self.path is None):
            raise ValueError("an image has either url (a data: URL) or path (a file in the work folder)")
        if self.url is not None and not self.url.startswith("data:"):
            raise ValueError(
                "an image url must be a data: URL; the kernel fetches no remote image "
                "(save it in the work folder and give its path, or inline it)"
            )
        return self


class TextPart(_Strict):
    type: Literal["text"] = "text"
    text: str


class ImagePart(_Strict):
    """An image in a message, in the shape of OpenAI's chat API (plus `path`)."""

    type: Literal["image_url"] = "image_url"
    image_url: ImageSource


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class Message(_Strict):
    """One chat message; `tool` messages carry a tool's output back to the model."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | tuple[ContentPart, ...] = ""
    """Text, or parts (text and images) as in OpenAI's chat API; images only in user messages."""
    tool_calls: tuple[ToolCall, ...] = ()
    """Calls the assistant made in this turn (assistant messages only)."""
    tool_call_id: str | None = None
    """The call this message answers (tool messages only)."""

    @model_validator(mode="after")
    def _images_from_the_user(self) -> Message:
        if self.role != "user" and self.images:
            raise ValueError(f"images go in user messages, not in {self.role} messages")
        return self

    @property
    def text(self) -> str:
        """The text of the message; its images left out."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content if isinstance(part, TextPart))

    @property
    def images(self) -> tuple[ImageSource, ...]:
        if isinstance(self.content, str):
            return ()
        return tuple(part.image_url for part in self.content if isinstance(part, ImagePart))


class ToolSpec(_Strict):
    """A tool the model may call, described for the model."""

    name: str = Field(pattern=FUNCTION_NAME_PATTERN)
    description: str
    parameters: dict[str, Any]
    """JSON schema of the arguments object."""


class Sampling(_Strict):
    """Per-request sampling; temperature 0 means greedy."""

    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int | None = Field(default=None, ge=0)
    repeat_penalty: float = Field(default=1.0, ge=1.0, le=2.0)
    """Penalise tokens seen in the last 64 generated (1.0: off); small models loop without it."""
    ignore_eos: bool = False
    """Keep generating past end-of-generation tokens (benchmarks need fixed token counts)."""


class LLMSyscall(_Strict):
    """Ask an engine for one completion."""

    kind: Literal["llm"] = "llm"
    messages: tuple[Message, ...] = Field(min_length=1)
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: Literal["auto", "required", "none"] = "auto"
    tool_name: str | None = Field(default=None, pattern=FUNCTION_NAME_PATTERN)
    """With tool_choice `required`: the one tool the model must call. Every tool is still described, so the
    prompt (and the KV cache it fills) is the same as on the turns that force nothing."""
    response_schema: dict[str, Any] | None = None
    """JSON schema the answer must satisfy (grammar-constrained on the local engine)."""
    max_tokens: int = Field(default=256, ge=1, le=32768)
    stop: tuple[str, ...] = ()
    sampling: Sampling = Sampling()
    model: str | None = None
    """Configured engine name or any litellm model string; None means the kernel's default."""
    last_step: bool = False
    """The caller expects no further LLM call in this program (remote servers may free its cache)."""
    memory: bool = False
    """Let the memory manager assemble the context: relevant memories, then the recent dialogue pages."""

    @model_validator(mode="after")
    def _named_tool_is_offered(self) -> LLMSyscall:
        if self.tool_name is not None:
            if self.tool_choice != "required":
                raise ValueError("tool_name goes with tool_choice 'required'")
            if self.tool_name not in {t.name for t in self.tools}:
                raise ValueError(f"tool_name {self.tool_name!r} is not among the tools offered")
        return self

    def choosable_tools(self) -> tuple[ToolSpec, ...]:
        """The tools the model may pick from this time (all of them, or the one `tool_name` forces)."""
        return tuple(t for t in self.tools if t.name == self.tool_name) if self.tool_name else self.tools


class ToolSyscall(_Strict):
    """Run one driver operation."""

    kind: Literal["tool"] = "tool"
    name: str = Field(pattern=TOOL_NAME_PATTERN)
    arguments: dict[str, Any] = {}


MemoryOp = Literal["remember", "recall", "get", "forget", "pin", "unpin", "observe"]


class MemorySyscall(_Strict):
    """Reach the process's memory (the memory manager validates `arguments` per operation)."""

    kind: Literal["memory"] = "memory"
    op: MemoryOp
    arguments: dict[str, Any] = {}


class NoopSyscall(_Strict):
    """Does nothing through the full syscall path; measures dispatch overhead."""

    kind: Literal["noop"] = "noop"


Syscall = Annotated[LLMSyscall | ToolSyscall | MemorySyscall | NoopSyscall, Field(discriminator="kind")]
SYSCALL_ADAPTER: TypeAdapter[LLMSyscall | ToolSyscall | MemorySyscall | NoopSyscall] = TypeAdapter(Syscall)


class Usage(_Strict):
    """Token accounting of one LLM call."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reused_tokens: int = 0
    """Prompt tokens whose KV cache was already in the engine (not recomputed)."""
    prefilled_tokens: int = 0
    """Prompt tokens actually computed for this call."""


class LLMResult(_Strict):
    """A completion: text, tool calls, or both."""

    kind: Literal["llm"] = "llm"
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: Literal["stop", "length", "tool_calls"]
    usage: Usage
    model: str


class ToolResult(_Strict):
    """What a driver operation returned."""

    kind: Literal["tool"] = "tool"
    name: str
    output: Any
    """JSON-serialisable output of the operation."""
    is_error: bool = False


class MemoryResult(_Strict):
    """The answer to a memory syscall."""

    kind: Literal["memory"] = "memory"
    op: MemoryOp
    output: Any = None
    detail: dict[str, Any] = {}
    """What the audit log records about the call (counts, ids), never memory contents."""


class NoopResult(_Strict):
    kind: Literal["noop"] = "noop"


SyscallResult = LLMResult | ToolResult | MemoryResult | NoopResult
SYSCALL_RESULT_ADAPTER: TypeAdapter[SyscallResult] = TypeAdapter(
    Annotated[SyscallResult, Field(discriminator="kind")]
)
