"""Events over SSE: typed, numbered, resumable with Last-Event-ID; a process's stream ends with `end`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from aios.api.auth import User
from aios.api.event_log import EventLog, Numbered
from aios.api.families import Routes, family
from aios.api.params import MAX_ID, Id
from aios.api.process_routes import visible
from aios.api.tokens import Principal
from aios.kernel.contracts import KernelAPI
from aios.kernel.records import ProcessRecord

router = APIRouter(prefix="/v1", tags=["events"])


class Events(Routes, router=router):
    """Kernel events as server-sent events; the log they follow is the daemon's (closed after the kernel,
    so streams see the last processes end)."""

    def __init__(self, kernel: KernelAPI, log: EventLog) -> None:
        self.kernel = kernel
        self.log = log


State = Annotated[Events, Depends(family(Events))]
PING_S = 15.0
SEND_TIMEOUT_S = 30.0
"""A client that takes longer than this to accept one event is dropped (it can resume with its last id)."""
_STREAM = {"description": "text/event-stream of kernel events", "content": {"text/event-stream": {}}}
FOLLOW = "Wait for new events (false: send the kept ones past `after`, then end the stream)."


def _start(last_event_id: str | None, after: int | None) -> int:
    if after is not None:
        return after
    try:
        return min(max(int(last_event_id or 0), 0), MAX_ID)
    except ValueError:
        return 0


def _sse(numbered: Numbered) -> ServerSentEvent:
    return ServerSentEvent(
        data=numbered.event.model_dump_json(), event=numbered.event.kind, id=str(numbered.id)
    )


def _gap(oldest: int) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps({"resumes_at": oldest}), event="gap", id=str(oldest - 1))


def end_event(record: ProcessRecord, last_id: int) -> ServerSentEvent:
    """The last event of a process's stream: how it stopped, and what it used."""
    body: dict[str, Any] = {
        "pid": record.pid,
        "state": record.state.value,
        "result": record.result,
        "error": record.error,
        "usage": {
            "llm_calls": record.llm_calls,
            "tool_calls": record.tool_calls,
            "tokens_in": record.tokens_in,
            "tokens_out": record.tokens_out,
        },
    }
    return ServerSentEvent(data=json.dumps(body), event="end", id=str(last_id))


def _mine(who: Principal, pid: int | None = None) -> Any:
    def allowed(numbered: Numbered) -> bool:
        if pid is not None and numbered.event.pid != pid:
            return False
        return who.admin or numbered.owner == who.user

    return allowed


@router.get(
    "/events", summary="Every event of the caller's processes, as they happen", responses={200: _STREAM}
)
async def events(
    who: User,
    state: State,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    follow: Annotated[bool, Query(description=FOLLOW)] = True,
) -> EventSourceResponse:
    log = state.log

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async for item in log.follow(after=_start(last_event_id, after), visible=_mine(who), wait=follow):
            yield _gap(item) if isinstance(item, int) else _sse(item)

    return EventSourceResponse(stream(), ping=PING_S, send_timeout=SEND_TIMEOUT_S)


@router.get(
    "/processes/{pid}/events",
    summary="One process's events, then `end` with its state, result and usage",
    responses={200: _STREAM},
)
async def process_events(
    pid: Id,
    who: User,
    state: State,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    follow: Annotated[bool, Query(description=FOLLOW)] = True,
) -> EventSourceResponse:
    visible(state.kernel, who, pid)
    log = state.log
    start = _start(last_event_id, after)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        if state.kernel.process(pid).state.is_terminal and not log.holds_exit(pid, after=start):
            yield end_event(state.kernel.process(pid), log.last_id)
            return
        async for item in log.follow(after=start, visible=_mine(who, pid), wait=follow):
            if isinstance(item, int):
                yield _gap(item)
                continue
            yield _sse(item)
            if item.event.kind == "exited":
                yield end_event(state.kernel.process(pid), item.id)
                return

    return EventSourceResponse(stream(), ping=PING_S, send_timeout=SEND_TIMEOUT_S)
