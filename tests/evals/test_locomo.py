"""LoCoMo-format loading and scoring: the shipped mini dataset's shape and hand-computed metric values."""

from __future__ import annotations

import json
import math
from collections import Counter
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import pytest

from aios.evals.locomo import (
    CATEGORY_NAMES,
    QA,
    adversarial_score,
    bleu1,
    load_dataset,
    multi_answer_f1,
    normalize_answer,
    score_answer,
    token_f1,
)


def _shipped() -> list:
    with as_file(files("aios.evals") / "data" / "memory_mini.json") as path:
        return load_dataset(path)


def _turn(session: int, turn: int, speaker: str = "Ann", **extra: Any) -> dict[str, Any]:
    return {"speaker": speaker, "dia_id": f"D{session}:{turn}", "text": f"turn {turn}", **extra}


def _write(tmp_path: Path, name: str, payload: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(payload))
    return path


def test_shipped_dataset_has_the_expected_shape() -> None:
    samples = _shipped()
    assert [s.sample_id for s in samples] == ["mini-1", "mini-2"]
    for sample in samples:
        sessions = sample.sessions()
        assert len(sessions) >= 4
        assert [s.index for s in sessions] == list(range(1, len(sessions) + 1))
        for session in sessions:
            assert session.date_time
            assert 6 <= len(session.turns) <= 8
            assert [t.dia_id for t in session.turns] == [
                f"D{session.index}:{k}" for k in range(1, len(session.turns) + 1)
            ]
            assert {t.speaker for t in session.turns} == {
                sample.conversation.speaker_a,
                sample.conversation.speaker_b,
            }
        turns = sample.turns()
        counts = Counter(q.category for q in sample.qa)
        assert set(counts) == set(CATEGORY_NAMES)
        assert counts[4] >= 2
        assert counts[2] >= 2
        assert counts[5] == 1
        for qa in sample.qa:
            assert qa.evidence
            assert all(e in turns for e in qa.evidence), (qa.question, qa.evidence)
            # facts sit early so that a short context window loses them
            assert all(e.startswith(("D1:", "D2:")) for e in qa.evidence), qa.question
            if qa.category == 5:
                assert qa.answer is None
                assert qa.adversarial_answer
            else:
                assert 1 <= len(qa.answer_text.split()) <= 6
            if qa.category == 1:
                assert "," in qa.answer_text
            if qa.category == 4:
                evidence_text = " ".join(turns[e].text for e in qa.evidence).lower()
                assert qa.answer_text.lower() in evidence_text


def test_sessions_are_ordered_numerically_and_extra_keys_ignored(tmp_path: Path) -> None:
    conversation = {
        "speaker_a": "Ann",
        "speaker_b": "Bo",
        "session_10_date_time": "9:00 am on 1 June, 2023",
        "session_10": [_turn(10, 1)],
        "session_2_date_time": "9:00 am on 1 February, 2023",
        "session_2": [_turn(2, 1, img_url=["http://x"], blip_caption="a photo")],
        "session_1_date_time": "9:00 am on 1 January, 2023",
        "session_1": [_turn(1, 1), _turn(1, 2, speaker="Bo")],
        "session_1_summary": "ignored",
    }
    sample = {
        "sample_id": "s",
        "conversation": conversation,
        "qa": [{"question": "q?", "answer": 2022, "evidence": ["D1:1"], "category": 2}],
        "observation": {"session_1_observation": []},
        "event_summary": {},
    }
    (loaded,) = load_dataset(_write(tmp_path, "ordered.json", [sample]))
    sessions = loaded.sessions()
    assert [s.index for s in sessions] == [1, 2, 10]
    assert sessions[2].date_time == "9:00 am on 1 June, 2023"
    assert [t.dia_id for t in sessions[0].turns] == ["D1:1", "D1:2"]
    assert loaded.qa[0].answer_text == "2022"


def test_load_dataset_rejects_bad_json_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken_locomo.json"
    path.write_text('[{"sample_id": "x", ')
    with pytest.raises(ValueError, match=r"broken_locomo\.json.*not valid JSON"):
        load_dataset(path)


def test_load_dataset_rejects_bad_shape_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"not_a_list\.json.*expected a JSON list"):
        load_dataset(_write(tmp_path, "not_a_list.json", {"sample_id": "x"}))
    no_answer = {
        "sample_id": "conv-x",
        "conversation": {"speaker_a": "Ann", "speaker_b": "Bo", "session_1_date_time": "d", "session_1": []},
        "qa": [{"question": "When?", "evidence": [], "category": 2}],
    }
    with pytest.raises(ValueError, match=r"no_answer\.json.*'conv-x'.*no 'answer'"):
        load_dataset(_write(tmp_path, "no_answer.json", [no_answer]))
    undated = {**no_answer, "qa": [], "conversation": {"speaker_a": "A", "speaker_b": "B", "session_1": []}}
    with pytest.raises(ValueError, match=r"undated\.json.*session_1_date_time"):
        load_dataset(_write(tmp_path, "undated.json", [undated]))


def test_normalize_answer_drops_case_punctuation_articles_and_and() -> None:
    assert normalize_answer("The Cat, and  a Dog!") == "cat dog"
    assert normalize_answer("Andrew's theory") == "andrews theory"


def test_token_f1_hand_computed() -> None:
    # stems: pred [run, dog]; gold [dog, run, fast] -> overlap 2, P = 1, R = 2/3, F1 = 0.8
    assert token_f1("the running dogs", "dog runs fast") == pytest.approx(0.8)
    assert token_f1("running dogs", "dog runs") == pytest.approx(1.0)
    # overlap 2 of 4 predicted tokens, all gold tokens: P = 1/2, R = 1, F1 = 2/3
    assert token_f1("marine biologist in Lisbon", "marine biologist") == pytest.approx(2 / 3)
    assert token_f1("Biscuit the beagle", "Biscuit the beagle") == 1.0
    assert token_f1("Lisbon", "Denver") == 0.0
    assert token_f1("the Lisbon", "a Lisbon") == 1.0
    assert token_f1("", "Lisbon") == 0.0
    assert token_f1("the", "Lisbon") == 0.0


def test_multi_answer_f1_averages_best_match_per_sub_answer() -> None:
    # gold "Lisbon": best is "Lisbon Portugal" (P = 1/2, R = 1 -> 2/3); gold "Iceland": exact (1.0)
    assert multi_answer_f1("Iceland, Lisbon Portugal", "Lisbon, Iceland") == pytest.approx(5 / 6)
    # plain F1 over the whole strings would give 0.8, so the split is what produced 5/6
    assert token_f1("Iceland, Lisbon Portugal", "Lisbon, Iceland") == pytest.approx(0.8)
    assert multi_answer_f1("Lisbon", "Lisbon, Iceland") == pytest.approx(0.5)


def test_bleu1_clips_counts_and_penalises_brevity() -> None:
    # gold normalizes to [marine, biologist, at, aquarium] (r = 4); pred c = 2, both match: 1 * exp(1 - 4/2)
    assert bleu1("marine biologist", "a marine biologist at the aquarium") == pytest.approx(math.exp(-1))
    # c = 3 > r = 2 so BP = 1; "dog" is clipped to its one gold occurrence: 1/3
    assert bleu1("dog dog dog", "dog cat") == pytest.approx(1 / 3)
    assert bleu1("Denver", "Denver") == 1.0
    assert bleu1("", "Denver") == 0.0


def test_adversarial_score_rewards_declining() -> None:
    assert adversarial_score("No information available.") == 1.0
    assert adversarial_score("That was NOT MENTIONED in the conversation") == 1.0
    assert adversarial_score("Biscuit") == 0.0
    assert adversarial_score("I don't know") == 0.0


def test_score_answer_dispatches_by_category() -> None:
    year = QA(question="When?", answer=2022, evidence=[], category=2)
    assert score_answer("in 2022", year) == pytest.approx(2 / 3)
    multi = QA(question="Where?", answer="Lisbon, Iceland", evidence=[], category=1)
    assert score_answer("Iceland, Lisbon Portugal", multi) == pytest.approx(5 / 6)
    adversarial = QA(question="Dog?", adversarial_answer="Biscuit", evidence=[], category=5)
    assert score_answer("Biscuit", adversarial) == 0.0
    assert score_answer("Not mentioned in the conversation.", adversarial) == 1.0
