"""`/v1/chat/completions` and `/v1/models`: the OpenAI API on the daemon for any OpenAI client, with the
daemon's user tokens. Each call is an LLM syscall of the caller's conversation process (scheduled, audited,
counted per user); every error is answered in OpenAI's shape, which its clients raise by status."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from aios.api.auth import User
from aios.api.conversations import Conversation, Conversations
from aios.api.families import family
from aios.api.grants import UserGrants
from aios.api.openai_errors import ERROR_RESPONSES, OpenAIRoute, error_body
from aios.api.openai_stream import ChunkWriter, TextRelease
from aios.api.openai_wire import (
    ChatCompletion,
    ChatCompletionRequest,
    ModelCard,
    ModelList,
    completion,
    to_syscall,
)
from aios.kernel.access import LLM_CAPABILITY
from aios.kernel.contracts import KernelAPI, KernelRecords
from aios.kernel.engines.interface import EngineInfo
from aios.kernel.errors import AiosError
from aios.kernel.syscalls import LLMResult, LLMSyscall

logger = logging.getLogger(__name__)

PROGRAM_HEADER = "X-AIOS-Program"
"""Names the caller's conversation: its calls share one process and its KV cache (else the `user` field)."""
PID_HEADER = "X-AIOS-Pid"
"""The process that served the call (its audit rows: `GET /v1/processes/{pid}/logs`)."""

router = APIRouter(prefix="/v1", tags=["openai"], route_class=OpenAIRoute, responses=ERROR_RESPONSES)
Program = Annotated[str | None, Header(alias=PROGRAM_HEADER, min_length=1, max_length=200)]
STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The completion; with `stream: true`, server-sent `chat.completion.chunk` events "
        "ending with `data: [DONE]`",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


class OpenAI:
    """The OpenAI API: each call an LLM syscall of the caller's conversation, held between calls."""

    def __init__(
        self, kernel: KernelAPI, records: KernelRecords, grants: UserGrants, conversations: Conversations
    ) -> None:
        self.kernel = kernel
        self.records = records
        self.grants = grants
        self.conversations = conversations
        self.created = int(time.time())
        """What `/v1/models` says each model was created at: when the daemon started serving it."""

    def mount(self, app: FastAPI) -> None:
        app.include_router(router)  # its own error shape: OpenAI's

    async def aclose(self) -> None:
        """Conversations end `done` (the daemon stopped) before the kernel would kill them."""
        await self.conversations.aclose()


State = Annotated[OpenAI, Depends(family(OpenAI))]


@router.post(
    "/chat/completions",
    summary="OpenAI chat completions, as an LLM syscall of the caller's conversation",
    response_model=ChatCompletion,
    responses=STREAM_DOC,
)
async def chat_completions(
    body: ChatCompletionRequest, who: User, state: State, request: Request, program: Program = None
) -> Response:
    """A conversation is named by the `X-AIOS-Program` header or else the `user` field: its calls reuse one
    process and its KV cache, and the time between them counts as a tool pause. Without a name the call is
    a process of its own."""
    # an admin may have taken the model from this user
    await asyncio.to_thread(state.grants.check, who, [LLM_CAPABILITY])
    model = state.records.resolve_model(body.model)
    name = program or body.user
    syscall = to_syscall(body, model=model, last_step=name is None)
    conversations = state.conversations
    if body.stream:
        conversation = await conversations.begin(who.user, name, model=model)
        return await _stream(state, request, conversation, syscall, body, model)
    async with conversations.turn(who.user, name, model=model) as conversation:
        result = await state.kernel.syscall(conversation.pid, syscall)
        assert isinstance(result, LLMResult), f"llm syscall answered with {type(result).__name__}"
        await conversations.after(conversation, result)
    answer = completion(result, completion_id=_completion_id(), created=int(time.time()), model=model)
    return JSONResponse(answer.model_dump(mode="json"), headers={PID_HEADER: str(conversation.pid)})


class _Finished:
    """Put on a stream's queue after the call's last piece of text."""


FINISHED = _Finished()


async def _stream(
    state: OpenAI,
    request: Request,
    conversation: Conversation,
    syscall: LLMSyscall,
    body: ChatCompletionRequest,
    model: str,
) -> Response:
    """Answers once the call produced its first text (or failed: then with an error status), then streams.
    The conversation's turn, taken by the caller, is given back when the call has ended."""
    conversations = state.conversations
    pieces: asyncio.Queue[str | _Finished] = asyncio.Queue()
    # a tool reply is JSON the engine parses at the end: only its parsed outcome is streamed
    stop_listening = (
        conversations.listen(conversation.pid, pieces.put_nowait)
        if not syscall.tools or syscall.tool_choice == "none"
        else None
    )
    call = asyncio.create_task(state.kernel.syscall(conversation.pid, syscall))
    call.add_done_callback(lambda _: pieces.put_nowait(FINISHED))

    def finish() -> None:
        """Synchronous, so it runs even where the client's disconnect cancels every await."""
        if stop_listening is not None:
            stop_listening()
        if call.done():
            conversations.end(conversation)
        else:  # the client went away: the call is abandoned, the turn freed once it has unwound
            call.cancel()
            call.add_done_callback(lambda _: conversations.end(conversation))

    try:
        first = await pieces.get()
        if isinstance(first, _Finished):
            call.result()  # a call that failed before its first text fails the request with its status
    except BaseException:
        finish()
        raise
    include_usage = body.stream_options is not None and body.stream_options.include_usage
    writer = ChunkWriter(
        completion_id=_completion_id(), created=int(time.time()), model=model, include_usage=include_usage
    )

    async def hang_up() -> None:
        """A client gone mid-stream stops its call at once (the server may never fail a send to it)."""
        while (await request.receive())["type"] != "http.disconnect":
            pass
        call.cancel()

    async def events() -> AsyncIterator[bytes]:
        release = TextRelease(syscall.stop)
        watcher = asyncio.create_task(hang_up())
        try:
            yield writer.role()
            item = first
            while not isinstance(item, _Finished):
                text = release.push(item)
                if text:
                    yield writer.text(text)
                item = await pieces.get()
            if call.cancelled():
                return
            try:
                result = call.result()
            except AiosError as e:
                yield writer.error(error_body(e)[1])
                return
            except Exception as e:  # a bug: the client gets an error event, the log the traceback
                logger.exception("pid %d: streamed call failed", conversation.pid)
                yield writer.error(error_body(e)[1])
                return
            assert isinstance(result, LLMResult), f"llm syscall answered with {type(result).__name__}"
            await conversations.after(conversation, result)
            for line in writer.end(result, release.finish(result.content)):
                yield line
        finally:
            watcher.cancel()
            finish()

    headers = {PID_HEADER: str(conversation.pid), "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _card(info: EngineInfo, created: int) -> ModelCard:
    return ModelCard(
        id=info.name,
        created=created,
        kind=info.kind,
        max_concurrency=info.max_concurrency,
        detail=info.detail,
    )


@router.get("/models", summary="The configured models, the default first (nothing is loaded to answer)")
async def list_models(_who: User, state: State) -> ModelList:
    return ModelList(data=[_card(info, state.created) for info in state.records.models()])


@router.get("/models/{model:path}", summary="One configured model, or a litellm `provider/model` string")
async def retrieve_model(model: str, _who: User, state: State) -> ModelCard:
    name = state.records.resolve_model(model)
    described = {info.name: info for info in state.records.models()}
    if name in described:
        return _card(described[name], state.created)
    return ModelCard(id=name, created=state.created, kind="litellm", detail="routed by litellm")
