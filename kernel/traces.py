"""Agent traces: what each program did, turn by turn, in a JSON Lines format the KV benchmark replays.

One line per program:

    {"program_id": 12, "agent": "react", "arrival_s": 0.0,
     "turns": [{"prompt_tokens": 412, "output_tokens": 38, "tool": "shell.exec", "tool_duration_s": 0.91},
               {"prompt_tokens": 530, "output_tokens": 20, "tool": null, "tool_duration_s": null}]}

`arrival_s` is seconds after the first program of the file arrived. A turn is one LLM call and the tool
call that followed it; `tool_duration_s` is the pause it caused (from the end of that LLM call to the
start of the next), as Continuum defines it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, Field

from aios.kernel.errors import UserError
from aios.kernel.records import AuditRow, ProcessRecord


class Turn(BaseModel):
    prompt_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    tool: str | None = None
    tool_duration_s: float | None = Field(default=None, ge=0)


class ProgramTrace(BaseModel):
    program_id: int
    agent: str = "unknown"
    arrival_s: float = Field(ge=0)
    turns: list[Turn]


def program_trace(process: ProcessRecord, rows: Iterable[AuditRow], *, epoch: float) -> ProgramTrace:
    """One process's trace from its audit rows (successful LLM and tool calls, in order)."""
    return ProgramTrace(
        program_id=process.pid,
        agent=process.agent,
        arrival_s=round(process.created_at - epoch, 4),
        turns=_turns(rows),
    )


def tool_pauses(rows: Iterable[AuditRow]) -> list[tuple[str, float]]:
    """(tool, seconds) for every pause the audit rows show, process by process (rows in id order)."""
    pid_to_rows: dict[int, list[AuditRow]] = {}
    for row in rows:
        pid_to_rows.setdefault(row.pid, []).append(row)
    return [
        (turn.tool, turn.tool_duration_s)
        for process_rows in pid_to_rows.values()
        for turn in _turns(process_rows)
        if turn.tool is not None and turn.tool_duration_s is not None
    ]


def _turns(rows: Iterable[AuditRow]) -> list[Turn]:
    """A turn per successful LLM call; a tool call between two of them is the earlier one's pause, timed
    from the end of that LLM call to the start of the next."""
    turns: list[Turn] = []
    last_llm_end: float | None = None
    pending_tool: str | None = None
    for row in rows:
        if row.status != "ok":
            continue
        if row.kind == "llm":
            started = row.ts - (row.queue_wait_us + row.service_us) / 1e6
            # a pause outside the kernel (an API client's own tool) has no tool row: its LLM row names it
            pending_tool = pending_tool or _recorded_pause(row)
            if turns and pending_tool is not None and last_llm_end is not None:
                turns[-1] = turns[-1].model_copy(
                    update={
                        "tool": pending_tool,
                        "tool_duration_s": round(max(0.0, started - last_llm_end), 4),
                    }
                )
            turns.append(Turn(prompt_tokens=row.tokens_in, output_tokens=row.tokens_out))
            last_llm_end, pending_tool = row.ts, None
        elif row.kind == "tool" and turns:
            pending_tool = row.target
    return turns


def _recorded_pause(row: AuditRow) -> str | None:
    pause = row.detail.get("pause") if isinstance(row.detail, dict) else None
    tool = pause.get("tool") if isinstance(pause, dict) else None
    return tool if isinstance(tool, str) else None


def write_traces(traces: Iterable[ProgramTrace], path: Path) -> int:
    count = 0
    with path.open("w") as out:
        for trace in traces:
            out.write(trace.model_dump_json() + "\n")
            count += 1
    return count


def read_traces(path: Path) -> list[ProgramTrace]:
    """Programs from a JSON Lines trace file; a bad line is an error that names it."""
    traces = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                traces.append(ProgramTrace.model_validate(json.loads(line)))
            except ValueError as e:
                raise UserError(f"{path}:{number}: not a program trace: {e}") from e
    return traces
