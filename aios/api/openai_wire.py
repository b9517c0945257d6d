"""OpenAI's chat-completions wire format (requests, answers, stream chunks) and its mapping to and from LLM
syscalls: what a client of the OpenAI API sends is checked here, so the kernel sees only valid syscalls."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aios.kernel.errors import InvalidSyscall, describe_validation
from aios.kernel.syscalls import (
    FUNCTION_NAME_PATTERN,
    ImagePart,
    ImageSource,
    LLMResult,
    LLMSyscall,
    Message,
    Sampling,
    TextPart,
    ToolCall,
    ToolSpec,
)

DEFAULT_MAX_TOKENS = 1024
"""Output budget when the request sets none (OpenAI's is the context; a call's whole budget is reserved in
the shared KV cache while it runs, so an unbounded default would cost every other call its room)."""
DEFAULT_TEMPERATURE = 1.0
"""OpenAI's default: a client that sends no temperature expects sampling, not greedy decoding."""
MAX_TOKENS_CAP = 32768
GENERIC_OBJECT: dict[str, Any] = {"type": "object"}
"""`response_format: json_object`: any JSON object."""
NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}
INLINE_HINT = "send the image inline as a data: URL (data:image/png;base64,...; PNG, JPEG or WebP)"


class WireError(InvalidSyscall):
    """A chat request the endpoint cannot honour; `param` names the field (OpenAI's error `param`)."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class _In(BaseModel):
    """Request parts: fields this endpoint does not know are ignored (clients send many harmless ones)."""

    model_config = ConfigDict(extra="ignore")


FunctionName = Annotated[str, Field(pattern=FUNCTION_NAME_PATTERN)]
"""Checked here, so a bad name is refused naming its field (the kernel's own check names no request path)."""


class FunctionCall(_In):
    name: FunctionName
    arguments: str = Field(max_length=1_000_000)
    """A JSON object, as a string."""


class WireToolCall(_In):
    id: str = Field(max_length=200)
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_In):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    """A string, or a list of content parts: `text`, and `image_url` (a data: URL) in user messages."""
    name: str | None = Field(default=None, max_length=200)
    tool_calls: list[WireToolCall] | None = None
    tool_call_id: str | None = Field(default=None, max_length=200)


class FunctionDefinition(_In):
    name: FunctionName
    description: str = Field(default="", max_length=10_000)
    parameters: dict[str, Any] = Field(default_factory=lambda: dict(NO_PARAMETERS))
    strict: bool | None = None


class Tool(_In):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class NamedFunction(_In):
    name: FunctionName


class NamedToolChoice(_In):
    type: Literal["function"] = "function"
    function: NamedFunction


class TextFormat(_In):
    type: Literal["text"]


class JsonObjectFormat(_In):
    type: Literal["json_object"]


class JsonSchemaSpec(_In):
    name: str = Field(default="response", max_length=64)
    json_schema: dict[str, Any] = Field(default_factory=lambda: dict(GENERIC_OBJECT), alias="schema")
    description: str | None = None
    strict: bool | None = None


class JsonSchemaFormat(_In):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]


class StreamOptions(_In):
    include_usage: bool = False


class ChatCompletionRequest(_In):
    """`POST /v1/chat/completions`. Unknown fields are ignored; known ones that cannot be honoured (n > 1,
    logprobs, penalties, logit bias, audio, legacy functions) are refused when set."""

    model: str = Field(min_length=1, max_length=200)
    """A configured model (`GET /v1/models`) or a litellm `provider/model` string."""
    messages: list[ChatMessage] = Field(min_length=1, max_length=10_000)
    tools: list[Tool] | None = Field(default=None, max_length=128)
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    response_format: ResponseFormat | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1, le=128)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, max_length=200)
    """Names the conversation (unless the `X-AIOS-Program` header does)."""
    parallel_tool_calls: bool | None = None
    """Accepted: a reply makes at most one call either way."""
    ignore_eos: bool = False
    """vLLM's extension: generate exactly the output budget (benchmarks)."""
    repetition_penalty: float | None = Field(default=None, ge=1.0, le=2.0)
    """vLLM's extension: penalise recently generated tokens (1.0: off)."""
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    logit_bias: dict[str, float] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    audio: dict[str, Any] | None = None
    modalities: list[str] | None = None
    prediction: dict[str, Any] | None = None


def _refuse_unsupported(body: ChatCompletionRequest) -> None:
    if body.n not in (None, 1):
        raise WireError(f"n={body.n}: this endpoint returns one choice per request (n=1)", param="n")
    refused = {
        "frequency_penalty": body.frequency_penalty not in (None, 0),
        "presence_penalty": body.presence_penalty not in (None, 0),
        "logprobs": bool(body.logprobs),
        "top_logprobs": bool(body.top_logprobs),
        "logit_bias": bool(body.logit_bias),
        "functions": body.functions is not None,
        "function_call": body.function_call is not None,
        "audio": body.audio is not None,
        "modalities": body.modalities not in (None, ["text"]),
        "prediction": body.prediction is not None,
    }
    for param, is_set in refused.items():
        if is_set:
            hint = " (use tools and tool_choice)" if param.startswith("function") else ""
            raise WireError(f"{param} is not supported by this endpoint{hint}", param=param)


def _content(message: ChatMessage, where: str) -> str | tuple[TextPart | ImagePart, ...]:
    """A message's content: its text, or a user message's text and images in their order (the kernel checks
    each image against its limits and the model's sight)."""
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    parts = tuple(_part(part, f"{where}.content", j, message.role) for j, part in enumerate(content))
    if any(isinstance(part, ImagePart) for part in parts):
        return parts
    return "\n".join(part.text for part in parts if isinstance(part, TextPart))


def _part(part: dict[str, Any], content: str, j: int, role: str) -> TextPart | ImagePart:
    where = f"{content}[{j}]"
    kind = part.get("type")
    if kind in ("text", "refusal") and isinstance(part.get(kind), str):
        return TextPart(text=part[kind])
    if kind == "image_url" and role == "user":
        return ImagePart(image_url=_image(part.get("image_url"), f"{where}.image_url"))
    if kind == "image_url":
        raise WireError(f"{where}: images go in user messages only, not in {role} messages", param=where)
    raise WireError(
        f"{where}: {kind!r} parts are not supported (text and image_url parts only: no audio or files)",
        param=content,
    )


def _image(image: object, where: str) -> ImageSource:
    """An image given inline: the endpoint fetches no URL, and an API client has no work folder to name."""
    if isinstance(image, str):  # some clients send the URL itself
        image = {"url": image}
    if not isinstance(image, dict):
        raise WireError(f"{where} must be an object with a url (a data: URL)", param=where)
    if "path" in image:
        raise WireError(
            f"{where}.path names a file in an agent's work folder; an API client has none: {INLINE_HINT}",
            param=f"{where}.path",
        )
    url = image.get("url")
    if not isinstance(url, str) or not url.startswith("data:"):
        remote = isinstance(url, str) and url.lower().startswith(("http://", "https://"))
        problem = "this endpoint fetches no remote images" if remote else "an image needs a data: URL"
        raise WireError(f"{where}.url: {problem}; {INLINE_HINT}", param=f"{where}.url")
    detail = image.get("detail") or "auto"
    if detail not in ("auto", "low", "high"):
        raise WireError(f"{where}.detail must be 'auto', 'low' or 'high'", param=f"{where}.detail")
    return ImageSource.model_validate({"url": url, "detail": detail})


def _arguments(call: WireToolCall, where: str) -> dict[str, Any]:
    try:
        arguments = json.loads(call.function.arguments or "{}")
    except ValueError as e:
        raise WireError(
            f"{where}.function.arguments is not valid JSON: {e}", param=f"{where}.function.arguments"
        ) from e
    if not isinstance(arguments, dict):
        param = f"{where}.function.arguments"
        raise WireError(f"{param} must be a JSON object", param=param)
    return arguments


def _message(message: ChatMessage, i: int) -> Message:
    where = f"messages[{i}]"
    content = _content(message, where)
    if message.role == "user":
        return Message(role="user", content=content)
    assert isinstance(content, str), "only a user message may carry images"
    if message.role in ("system", "developer"):
        return Message(role="system", content=content)
    if message.role == "assistant":
        calls = tuple(
            ToolCall(id=c.id, name=c.function.name, arguments=_arguments(c, f"{where}.tool_calls[{j}]"))
            for j, c in enumerate(message.tool_calls or ())
        )
        return Message(role="assistant", content=content, tool_calls=calls)
    if message.role == "tool":
        if not message.tool_call_id:
            raise WireError(f"{where}: a tool message needs tool_call_id", param=f"{where}.tool_call_id")
        return Message(role="tool", content=content, tool_call_id=message.tool_call_id)
    raise WireError(f"{where}: the 'function' role is not supported (use 'tool')", param=f"{where}.role")


def _tools(
    body: ChatCompletionRequest,
) -> tuple[tuple[ToolSpec, ...], Literal["auto", "required", "none"], str | None]:
    """The tools, the choice, and the one tool a named choice forces (every tool is still described)."""
    tools = tuple(
        ToolSpec(name=t.function.name, description=t.function.description, parameters=t.function.parameters)
        for t in body.tools or ()
    )
    choice = body.tool_choice
    if isinstance(choice, NamedToolChoice):
        name = choice.function.name
        if name not in {t.name for t in tools}:
            raise WireError(f"tool_choice names {name!r}, which is not among tools", param="tool_choice")
        return tools, "required", name
    if choice == "required" and not tools:
        raise WireError("tool_choice 'required' needs tools", param="tool_choice")
    return tools, choice or "auto", None


def _response_schema(body: ChatCompletionRequest) -> dict[str, Any] | None:
    response_format = body.response_format
    if isinstance(response_format, JsonSchemaFormat):
        return response_format.json_schema.json_schema
    if isinstance(response_format, JsonObjectFormat):
        return dict(GENERIC_OBJECT)
    return None


def _sampling(body: ChatCompletionRequest) -> Sampling:
    temperature = DEFAULT_TEMPERATURE if body.temperature is None else body.temperature
    top_p = 1.0 if body.top_p is None else body.top_p
    if top_p == 0.0:  # nothing but the likeliest token: greedy
        temperature, top_p = 0.0, 1.0
    return Sampling(
        temperature=temperature,
        top_p=top_p,
        seed=None if body.seed is None else body.seed % 2**32,
        repeat_penalty=body.repetition_penalty or 1.0,
        ignore_eos=body.ignore_eos,
    )


def to_syscall(body: ChatCompletionRequest, *, model: str, last_step: bool) -> LLMSyscall:
    """The LLM syscall a chat request asks for; anything it cannot honour is a `WireError`."""
    _refuse_unsupported(body)
    try:
        messages = tuple(_message(m, i) for i, m in enumerate(body.messages))
        tools, tool_choice, tool_name = _tools(body)
        stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
        max_tokens = body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS
        return LLMSyscall(
            messages=messages,
            tools=tools,
            tool_choice=tool_choice,
            tool_name=tool_name,
            response_schema=_response_schema(body),
            max_tokens=min(max_tokens, MAX_TOKENS_CAP),
            stop=tuple(s for s in stop if s),
            sampling=_sampling(body),
            model=model,
            last_step=last_step,
        )
    except ValidationError as e:
        raise WireError(f"the request does not fit the model's interface: {describe_validation(e)}") from e


# ---- answers -----------------------------------------------------------------------------------------


class _Out(BaseModel):
    """Answer parts (OpenAI's field names; null where OpenAI sends null)."""


class FunctionCallOut(_Out):
    name: str
    arguments: str


class ToolCallOut(_Out):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallOut


class AssistantMessage(_Out):
    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[ToolCallOut] | None = None
    refusal: None = None


class PromptTokensDetails(_Out):
    cached_tokens: int
    """Prompt tokens served from the KV cache the conversation kept (not recomputed)."""


class CompletionUsage(_Out):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails


class Choice(_Out):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length", "tool_calls"]
    logprobs: None = None


class ChatCompletion(_Out):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    system_fingerprint: str | None = None


class ToolCallDelta(_Out):
    index: int
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallOut


class Delta(_Out):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(_Out):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop", "length", "tool_calls"] | None = None
    logprobs: None = None


class ChatCompletionChunk(_Out):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None
    system_fingerprint: str | None = None


def tool_calls_out(calls: tuple[ToolCall, ...]) -> list[ToolCallOut]:
    return [
        ToolCallOut(id=c.id, function=FunctionCallOut(name=c.name, arguments=json.dumps(c.arguments)))
        for c in calls
    ]


def usage_out(result: LLMResult) -> CompletionUsage:
    usage = result.usage
    return CompletionUsage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.prompt_tokens + usage.completion_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=usage.reused_tokens),
    )


def completion(result: LLMResult, *, completion_id: str, created: int, model: str) -> ChatCompletion:
    """A finished call as OpenAI's non-streamed answer (content is null when the reply is only calls)."""
    calls = tool_calls_out(result.tool_calls)
    content = result.content if result.content or not calls else None
    return ChatCompletion(
        id=completion_id,
        created=created,
        model=model,
        choices=[
            Choice(
                message=AssistantMessage(content=content, tool_calls=calls or None),
                finish_reason=result.finish_reason,
            )
        ],
        usage=usage_out(result),
    )


# ---- models ------------------------------------------------------------------------------------------


class ModelCard(_Out):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "aios"
    kind: str
    """aios: `local` (an embedded llama.cpp engine) or `litellm`."""
    max_concurrency: int | None = None
    """aios: calls the engine runs at once (None: a litellm string not in the configuration)."""
    detail: str = ""


class ModelList(_Out):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# ---- errors ------------------------------------------------------------------------------------------


class ErrorDetail(_Out):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(_Out):
    """Every error of the OpenAI-compatible routes, in OpenAI's shape (its clients raise by status)."""

    error: ErrorDetail
