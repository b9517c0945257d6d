"""LoCoMo-format long-conversation QA: load a dataset and score answers the way the LoCoMo paper does.

A dataset is a JSON list of samples; each sample is one long two-person conversation split into dated
sessions, plus questions whose gold answers sit in specific turns (`evidence`, e.g. "D1:3" = session 1,
turn 3). Scores follow the LoCoMo evaluation: stemmed token F1 for most categories, a per-sub-answer F1 for
multi-hop, and a refusal check for adversarial questions whose answer is not in the conversation.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections import Counter
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aios.kernel.errors import describe_validation

if TYPE_CHECKING:
    from nltk.stem import PorterStemmer

CATEGORY_NAMES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
"""LoCoMo's numeric QA categories -> the names used in its paper and in reports."""
ADVERSARIAL = 5
MULTI_HOP = 1
REFUSAL_PHRASES = ("no information available", "not mentioned")
"""What an answer to an adversarial question must say to count as correctly declining."""

_SESSION_KEY = re.compile(r"session_(\d+)")
_DATE_KEY = re.compile(r"session_(\d+)_date_time")
_ARTICLES = re.compile(r"\b(a|an|the|and)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Turn(_Model):
    """One utterance; `dia_id` ("D<session>:<turn>") is what QA evidence points at."""

    speaker: str
    dia_id: str
    text: str


class Session(_Model):
    """One dated sitting of the conversation."""

    index: int
    date_time: str
    turns: list[Turn]


class Conversation(_Model):
    """The two speakers and their sessions, from the flat `session_N`/`session_N_date_time` keys."""

    speaker_a: str
    speaker_b: str
    sessions: dict[int, Session]
    """Keyed by session number, so validation errors point at `sessions.<N>` as the file numbers them."""

    @model_validator(mode="before")
    @classmethod
    def _gather_sessions(cls, data: Any) -> Any:
        """LoCoMo keeps sessions in numbered sibling keys; gather them so they validate as one field."""
        if not isinstance(data, dict) or "sessions" in data:
            return data
        turns: dict[int, Any] = {}
        dates: dict[int, Any] = {}
        for key, value in data.items():
            if m := _SESSION_KEY.fullmatch(key):
                turns[int(m.group(1))] = value
            elif m := _DATE_KEY.fullmatch(key):
                dates[int(m.group(1))] = value
        missing = sorted(set(turns) - set(dates))
        if missing:
            raise ValueError(f"session_{missing[0]} has turns but no session_{missing[0]}_date_time")
        # A date with no turns is an empty session: nothing to remember from it, so it is dropped.
        sessions = {i: {"index": i, "date_time": dates[i], "turns": turns[i]} for i in turns}
        return {**data, "sessions": sessions}


class QA(_Model):
    """A question with its gold answer; category 5 (adversarial) has only `adversarial_answer`."""

    question: str
    answer: str | int | None = None
    adversarial_answer: str | None = None
    evidence: list[str] = Field(default_factory=list)
    category: int

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: int) -> int:
        """An unknown category would be scored by the wrong rule without anyone noticing."""
        if value not in CATEGORY_NAMES:
            raise ValueError(f"category must be one of {sorted(CATEGORY_NAMES)}, got {value}")
        return value

    @model_validator(mode="after")
    def _answer_present(self) -> QA:
        """Every non-adversarial question needs a gold answer to score against."""
        if self.category != ADVERSARIAL and self.answer is None:
            raise ValueError(f"category {self.category} question has no 'answer': {self.question!r}")
        return self

    @property
    def answer_text(self) -> str:
        """The gold answer as text (LoCoMo stores some years as ints); empty for adversarial questions."""
        return "" if self.answer is None else str(self.answer)

    @property
    def category_name(self) -> str:
        """The category's name for reports."""
        return CATEGORY_NAMES[self.category]


class Sample(_Model):
    """One conversation and the questions asked about it."""

    sample_id: str
    conversation: Conversation
    qa: list[QA]

    @field_validator("sample_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        """Some LoCoMo derivatives number their samples; ids are compared as text."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def sessions(self) -> list[Session]:
        """Sessions in numeric order (session_2 before session_10), the order they happened in."""
        return [session for _, session in sorted(self.conversation.sessions.items())]

    def turns(self) -> dict[str, Turn]:
        """Every turn by its dia_id, so evidence ids can be looked up."""
        return {turn.dia_id: turn for session in self.sessions() for turn in session.turns}


def load_dataset(path: Path) -> list[Sample]:
    """Read and validate a LoCoMo-format file, naming the file and the problem instead of a KeyError later."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text: {exc}") from exc
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a JSON list of samples, got {type(raw).__name__}")
    samples: list[Sample] = []
    for i, item in enumerate(raw):
        label = f"sample {i}"
        if isinstance(item, dict) and "sample_id" in item:
            label += f" ({item['sample_id']!r})"
        try:
            samples.append(Sample.model_validate(item))
        except ValidationError as exc:
            raise ValueError(f"{path}: {label} is malformed: {describe_validation(exc)}") from exc
    ids = Counter(s.sample_id for s in samples)
    duplicates = sorted(sample_id for sample_id, n in ids.items() if n > 1)
    if duplicates:
        raise ValueError(f"{path}: duplicate sample_id(s): {', '.join(duplicates)}")
    return samples


def normalize_answer(s: str) -> str:
    """Lowercase, drop punctuation, articles and "and": scoring ignores surface form, as LoCoMo/SQuAD do."""
    s = s.lower().translate(_PUNCTUATION)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


@cache
def _stemmer() -> PorterStemmer:
    """One shared stemmer; nltk is imported only when answers are actually scored."""
    from nltk.stem import PorterStemmer

    return PorterStemmer()


def _stemmed_tokens(s: str) -> list[str]:
    """Normalized, Porter-stemmed tokens, so "runs" and "running" count as the same word."""
    stemmer = _stemmer()
    return [stemmer.stem(token) for token in normalize_answer(s).split()]


def token_f1(prediction: str, ground_truth: str) -> float:
    """Stemmed token-overlap F1: partial credit for answers phrased differently from the gold one."""
    pred = _stemmed_tokens(prediction)
    gold = _stemmed_tokens(ground_truth)
    if not pred or not gold:
        return 0.0
    overlap = sum((Counter(pred) & Counter(gold)).values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred)
    recall = overlap / len(gold)
    return 2 * precision * recall / (precision + recall)


def multi_answer_f1(prediction: str, ground_truth: str) -> float:
    """Multi-hop F1: each comma-separated gold sub-answer earns its best F1 against any predicted part."""
    golds = [part.strip() for part in ground_truth.split(",")]
    preds = [part.strip() for part in prediction.split(",")]
    return sum(max(token_f1(pred, gold) for pred in preds) for gold in golds) / len(golds)


def adversarial_score(prediction: str) -> float:
    """1.0 when the model declines a question the conversation cannot answer, else 0.0."""
    lowered = prediction.lower()
    return 1.0 if any(phrase in lowered for phrase in REFUSAL_PHRASES) else 0.0


def score_answer(prediction: str, qa: QA) -> float:
    """Score a prediction with the rule LoCoMo uses for the question's category."""
    if qa.category == ADVERSARIAL:
        return adversarial_score(prediction)
    if qa.category == MULTI_HOP:
        return multi_answer_f1(prediction, qa.answer_text)
    return token_f1(prediction, qa.answer_text)


def bleu1(prediction: str, ground_truth: str) -> float:
    """Unigram BLEU with brevity penalty: the secondary metric LoCoMo reports, penalising terse answers."""
    pred = normalize_answer(prediction).split()
    gold = normalize_answer(ground_truth).split()
    if not pred:
        return 0.0
    clipped = sum((Counter(pred) & Counter(gold)).values())
    c, r = len(pred), len(gold)
    brevity_penalty = 1.0 if c > r else math.exp(1 - r / c)
    return clipped / c * brevity_penalty
