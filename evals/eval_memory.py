"""`aios eval memory`: long-conversation QA (LoCoMo format) with memory on against a truncated context.

Memory on: every two turns of the conversation become one dialogue page (`ctx.memory.observe`), the pager
runs as it would in use, then each question is one `llm(memory=True)` call in a fresh session. Memory off:
the same question after as much of the transcript as fits the same prompt budget (the newest turns).
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from aios.evals.locomo import CATEGORY_NAMES, QA, Sample, bleu1, score_answer
from aios.kernel.contracts import KernelAPI
from aios.kernel.memory_port import MemoryPort
from aios.memory.manager import MemoryManager
from aios.memory.store import estimate_tokens
from aios.sdk import Context
from aios.transport import InProcessTransport

AGENT = "memory-qa"
SYSTEM = (
    "Answer the question about the conversation in a few words. "
    "If the conversation does not say, answer: no information available."
)

Progress = Callable[[str], None]


class EvalParams(BaseModel):
    samples: int | None = None
    """Conversations to run (default: all)."""
    questions: int | None = None
    """Questions per conversation (default: all)."""
    max_tokens: int = 32
    budget_tokens: int | None = None
    """Transcript budget of the memory-off baseline; default: what memory-on pages in for a fresh question."""


class Answer(BaseModel):
    sample_id: str
    question: str
    category: int
    gold: str
    mode: str
    prediction: str
    f1: float
    bleu1: float
    prompt_tokens: int
    completion_tokens: int


class ModeSummary(BaseModel):
    mode: str
    category_f1: dict[str, float]
    category_bleu1: dict[str, float]
    category_count: dict[str, int]
    f1: float
    bleu1: float
    answer_calls_per_answer: float
    background_calls_per_answer: float
    tokens_per_answer: float
    """Prompt plus completion tokens of the answering call, plus the pager's tokens spread over answers."""


class EvalReport(BaseModel):
    dataset: str
    model: str
    answers: list[Answer]
    modes: list[ModeSummary]
    seconds: float

    def markdown(self) -> str:
        categories = [c for c in CATEGORY_NAMES.values() if any(c in m.category_f1 for m in self.modes)]
        head = (
            "| mode | "
            + " | ".join(f"{c} F1" for c in categories)
            + " | F1 | BLEU-1 | calls/answer | tokens/answer |"
        )
        lines = [head, "|" + "---|" * (len(categories) + 5)]
        for m in self.modes:
            cells = [
                f"{100 * m.category_f1[c]:.1f} (n={m.category_count[c]})" if c in m.category_f1 else "-"
                for c in categories
            ]
            calls = f"{m.answer_calls_per_answer:.1f} + {m.background_calls_per_answer:.1f} bg"
            lines.append(
                f"| {m.mode} | "
                + " | ".join(cells)
                + f" | {100 * m.f1:.1f} | {100 * m.bleu1:.1f} | {calls} | {m.tokens_per_answer:.0f} |"
            )
        return "\n".join(lines)

    def last_line(self) -> str:
        on = next(m for m in self.modes if m.mode == "memory_on")
        off = next(m for m in self.modes if m.mode == "memory_off")
        return f"f1_memory_on={100 * on.f1:.1f} f1_memory_off={100 * off.f1:.1f}"


def transcript_lines(sample: Sample) -> list[str]:
    """Every turn as `[date] speaker: text`, in order."""
    return [
        f"[{session.date_time}] {turn.speaker}: {turn.text}"
        for session in sample.sessions()
        for turn in session.turns
    ]


def truncated_transcript(lines: list[str], budget_tokens: int) -> str:
    """The newest lines whose tokens fit the budget (a plain context window)."""
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        cost = estimate_tokens(line) + 1
        if used + cost > budget_tokens:
            break
        kept.append(line)
        used += cost
    return "\n".join(reversed(kept))


async def _ingest(kernel: KernelAPI, sample: Sample, user: str) -> None:
    lines = transcript_lines(sample)

    async def program(pid: int) -> None:
        ctx = Context(InProcessTransport(kernel, pid))
        for start in range(0, len(lines), 2):
            pair = lines[start : start + 2]
            messages = [{"role": "user", "content": pair[0]}]
            if len(pair) > 1:
                messages.append({"role": "assistant", "content": pair[1]})
            await ctx.memory.observe(messages)

    pid = await kernel.spawn(
        program,
        agent=AGENT,
        task=f"ingest {sample.sample_id}",
        capabilities=["memory.own"],
        owner=user,
        session=f"{sample.sample_id}-conversation",
    )
    record = await kernel.wait(pid)
    if record.state.value != "done":
        raise RuntimeError(f"ingesting {sample.sample_id} failed: {record.error}")


async def _ask(
    kernel: KernelAPI,
    sample: Sample,
    qa: QA,
    index: int,
    *,
    mode: str,
    user: str,
    context: str,
    params: EvalParams,
) -> Answer:
    out: dict[str, object] = {}

    async def program(pid: int) -> None:
        ctx = Context(InProcessTransport(kernel, pid))
        if mode == "memory_on":
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": qa.question}]
        else:
            messages = [
                {"role": "system", "content": f"{SYSTEM}\n\nConversation:\n{context}"},
                {"role": "user", "content": qa.question},
            ]
        result = await ctx.llm(
            messages, max_tokens=params.max_tokens, memory=mode == "memory_on", repeat_penalty=1.1
        )
        out["prediction"] = result.content.strip()
        out["usage"] = result.usage

    pid = await kernel.spawn(
        program,
        agent=AGENT,
        task=f"{sample.sample_id} q{index}",
        owner=user,
        capabilities=["llm", "memory.own"],
        session=f"{sample.sample_id}-q{index}-{mode}",
    )
    record = await kernel.wait(pid)
    if record.state.value != "done":
        raise RuntimeError(f"question {index} of {sample.sample_id} failed: {record.error}")
    prediction = str(out["prediction"])
    usage = out["usage"]
    return Answer(
        sample_id=sample.sample_id,
        question=qa.question,
        category=qa.category,
        gold=qa.answer_text,
        mode=mode,
        prediction=prediction,
        f1=score_answer(prediction, qa),
        bleu1=bleu1(prediction, qa.answer_text) if qa.category != 5 else score_answer(prediction, qa),
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,  # type: ignore[attr-defined]
    )


def summarise(mode: str, answers: list[Answer], background_calls: int, background_tokens: int) -> ModeSummary:
    name_to_f1: dict[str, list[float]] = defaultdict(list)
    name_to_bleu: dict[str, list[float]] = defaultdict(list)
    for a in answers:
        name_to_f1[CATEGORY_NAMES[a.category]].append(a.f1)
        name_to_bleu[CATEGORY_NAMES[a.category]].append(a.bleu1)
    n = max(1, len(answers))
    return ModeSummary(
        mode=mode,
        category_f1={c: statistics.fmean(v) for c, v in name_to_f1.items()},
        category_bleu1={c: statistics.fmean(v) for c, v in name_to_bleu.items()},
        category_count={c: len(v) for c, v in name_to_f1.items()},
        f1=statistics.fmean(a.f1 for a in answers) if answers else 0.0,
        bleu1=statistics.fmean(a.bleu1 for a in answers) if answers else 0.0,
        answer_calls_per_answer=1.0 if answers else 0.0,
        background_calls_per_answer=background_calls / n,
        tokens_per_answer=(sum(a.prompt_tokens + a.completion_tokens for a in answers) + background_tokens)
        / n,
    )


async def run_eval(
    kernel: KernelAPI,
    memory: MemoryPort,
    dataset: list[Sample],
    params: EvalParams,
    *,
    name: str,
    model: str,
    progress: Progress,
) -> EvalReport:
    """Both modes over the dataset on one kernel (the same engine and memory settings); `memory` is the
    kernel's memory manager, `model` the name of the engine that answers."""
    if not isinstance(memory, MemoryManager):
        raise RuntimeError("aios eval memory needs the memory manager (memory.enabled = true)")
    settings = memory.settings
    budget = params.budget_tokens or settings.memory_tokens
    started = time.monotonic()
    user = f"eval-{int(time.time())}"
    samples = dataset[: params.samples] if params.samples else dataset
    mode_to_answers: dict[str, list[Answer]] = {"memory_on": [], "memory_off": []}
    for number, sample in enumerate(samples, 1):
        questions = sample.qa[: params.questions] if params.questions else sample.qa
        progress(f"{sample.sample_id} ({number}/{len(samples)}): storing the conversation")
        await _ingest(kernel, sample, user)
        progress(f"{sample.sample_id}: the pager summarises paged-out dialogue")
        await memory.settle()
        context = truncated_transcript(transcript_lines(sample), budget)
        for index, qa in enumerate(questions):
            for mode in ("memory_on", "memory_off"):
                progress(f"{sample.sample_id}: question {index + 1}/{len(questions)} ({mode})")
                answer = await _ask(
                    kernel, sample, qa, index, mode=mode, user=user, context=context, params=params
                )
                mode_to_answers[mode].append(answer)
            # the answer's own page would become a "memory" for the next question; questions stay independent
            session = f"{sample.sample_id}-q{index}-memory_on"
            for page in memory.store.list_items(user=user, agent=AGENT, session=session, limit=None):
                memory.store.update(page.id, state="forgotten")
    pager = kernel.process(memory.pager_pid) if memory.pager_pid is not None else None
    modes = [
        summarise(
            "memory_on",
            mode_to_answers["memory_on"],
            pager.llm_calls if pager else 0,
            pager.tokens_in + pager.tokens_out if pager else 0,
        ),
        summarise("memory_off", mode_to_answers["memory_off"], 0, 0),
    ]
    return EvalReport(
        dataset=name,
        model=model,
        answers=[a for answers in mode_to_answers.values() for a in answers],
        modes=modes,
        seconds=time.monotonic() - started,
    )


def default_dataset() -> Path:
    """The small LoCoMo-format dataset shipped with the package (written for this project)."""
    from importlib.resources import files

    return Path(str(files("aios.evals") / "data" / "memory_mini.json"))
