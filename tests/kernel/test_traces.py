"""Agent traces from the audit log, and the JSON Lines round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from aios.kernel.errors import UserError
from aios.kernel.records import AuditRow, ProcessRecord, ProcessState
from aios.kernel.traces import ProgramTrace, Turn, program_trace, read_traces, write_traces


def row(
    kind: str,
    ts: float,
    *,
    target: str = "local",
    tokens_in: int = 0,
    tokens_out: int = 0,
    wait_us: int = 0,
    service_us: int = 0,
    status: str = "ok",
) -> AuditRow:
    return AuditRow(
        ts=ts,
        pid=7,
        syscall_id="7.x",
        kind=kind,
        target=target,
        status=status,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        queue_wait_us=wait_us,
        service_us=service_us,
    )


def test_turns_and_tool_durations_come_from_the_audit_log() -> None:
    process = ProcessRecord(
        pid=7, agent="react", owner="me", state=ProcessState.DONE, task="t", created_at=100.0
    )
    rows = [
        row("llm", 101.0, tokens_in=300, tokens_out=20, service_us=900_000),
        row("tool", 101.5, target="shell.exec", service_us=400_000),
        # next LLM call started at 102.0 (ended 102.5 after 0.1 s queue and 0.4 s service)
        row("llm", 102.5, tokens_in=380, tokens_out=12, wait_us=100_000, service_us=400_000),
        row("tool", 102.6, target="shell.exec", status="denied"),
        row("llm", 103.0, tokens_in=400, tokens_out=5, service_us=300_000),
    ]
    trace = program_trace(process, rows, epoch=90.0)
    assert trace.arrival_s == 10.0
    assert trace.turns == [
        Turn(prompt_tokens=300, output_tokens=20, tool="shell.exec", tool_duration_s=1.0),
        Turn(prompt_tokens=380, output_tokens=12),
        Turn(prompt_tokens=400, output_tokens=5),
    ]


def test_a_pause_outside_the_kernel_is_read_from_the_next_llm_row() -> None:
    """An OpenAI-endpoint conversation: the client ran its own tool between two calls (no tool row)."""
    process = ProcessRecord(
        pid=7, agent="openai", owner="me", state=ProcessState.DONE, task="t", created_at=100.0
    )
    later = row("llm", 104.0, tokens_in=380, tokens_out=12, service_us=500_000)
    later = later.model_copy(update={"detail": {"pause": {"tool": "client.get_weather", "s": 2.5}}})
    trace = program_trace(process, [row("llm", 101.0, tokens_in=300, tokens_out=20), later], epoch=90.0)
    assert trace.turns == [
        Turn(prompt_tokens=300, output_tokens=20, tool="client.get_weather", tool_duration_s=2.5),
        Turn(prompt_tokens=380, output_tokens=12),
    ]


def test_trace_files_round_trip_and_bad_lines_are_named(tmp_path: Path) -> None:
    traces = [ProgramTrace(program_id=1, arrival_s=0.5, turns=[Turn(prompt_tokens=10, output_tokens=2)])]
    path = tmp_path / "t.jsonl"
    assert write_traces(traces, path) == 1
    assert read_traces(path) == traces
    path.write_text(path.read_text() + '{"program_id": "x"}\n')
    with pytest.raises(UserError, match=r"t\.jsonl:2: not a program trace"):
        read_traces(path)
