"""`aios memory`, `aios bench memory` and `aios eval memory` as a user runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aios.memory.store import MemoryStore

from .cli_helpers import aios


def seed(data_dir: Path) -> dict[str, int]:
    store = MemoryStore(f"sqlite:///{data_dir / 'aios.db'}")
    try:
        old = store.add(
            user="tess", agent="chat", tier="long", kind="profile", text="Tess lives in Ghent", key="home"
        )
        new = store.add(
            user="tess", agent="chat", tier="long", kind="profile", text="Tess moved to Bruges", key="home"
        )
        hobby = store.add(
            user="tess", agent="chat", tier="long", kind="fact", text="Tess goes bouldering on Fridays"
        )
        other = store.add(user="ola", agent="chat", tier="long", kind="fact", text="Ola keeps bees")
        return {"old": old.id, "new": new.id, "hobby": hobby.id, "other": other.id}
    finally:
        store.close()


def test_memory_commands(tmp_path: Path, env: dict[str, str], config: Path) -> None:
    data_dir = tmp_path / "data"
    ids = seed(data_dir)

    def run(*args: str) -> str:
        done = aios("--config", str(config), "memory", *args, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    listed = run("ls", "--user", "tess")
    assert "Tess moved to Bruges" in listed and "bouldering" in listed
    assert "Ghent" not in listed and "Ola" not in listed  # history and other users stay out of ls
    assert "Ghent" in run("ls", "--user", "tess", "--all")
    shown = run("show", str(ids["new"]))
    assert (
        '"supersedes": ' + str(ids["old"]) in shown and "history" in shown and "Tess lives in Ghent" in shown
    )

    found = run("search", "rock climbing", "--user", "tess", "--k", "1")
    assert "bouldering" in found and "Bruges" not in found  # by meaning: no word of the query is in it
    assert "bees" not in run("search", "bees", "--user", "tess")  # another user's memory
    assert f"forgot {ids['hobby']}" in run("forget", str(ids["hobby"]))
    assert "bouldering" not in run("ls", "--user", "tess")
    assert "bouldering" not in run("search", "bouldering", "--user", "tess")

    exported = tmp_path / "tess.jsonl"
    run("export", "--user", "tess", "-o", str(exported))
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    assert {r["text"] for r in rows} == {
        "Tess lives in Ghent",
        "Tess moved to Bruges",
        "Tess goes bouldering on Fridays",
    }

    elsewhere = dict(env, AIOS_DATA_DIR=str(tmp_path / "other"))
    done = aios("--config", str(config), "memory", "import", str(exported), env=elsewhere, cwd=tmp_path)
    assert done.returncode == 0 and "imported 3 memories" in done.stdout, done.stderr
    done = aios(
        "--config", str(config), "memory", "search", "Bruges", "--user", "tess", env=elsewhere, cwd=tmp_path
    )
    assert "Tess moved to Bruges" in done.stdout

    assert f"purged {ids['old']}" in run("forget", "--purge", str(ids["old"]))
    assert "Ghent" not in run("show", str(ids["old"])) and "Ghent" not in run("ls", "--user", "tess", "--all")
    assert "reindexed 4 memories" in run("reindex")
    stats = run("stats", "--user", "tess")
    assert re.search(r"chat\s+│\s+long\s+│\s+active\s+│\s+1\b", stats), stats

    missing = aios("--config", str(config), "memory", "show", "999", env=env, cwd=tmp_path)
    assert missing.returncode == 2 and "no memory item 999" in missing.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "no id"}\n')
    refused = aios("--config", str(config), "memory", "import", str(bad), env=env, cwd=tmp_path)
    assert refused.returncode == 2 and "bad.jsonl:1" in refused.stderr


def test_bench_memory_quick(tmp_path: Path, env: dict[str, str], config: Path) -> None:
    done = aios(
        "--config", str(config), "bench", "memory", "--quick", "--queries", "8", env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"recall_p50_ms_2k=([\d.]+) remember_p50_ms=([\d.]+)", last)
    assert match and float(match[1]) > 0 and float(match[2]) > 0, last
    report = json.loads((tmp_path / "data" / "results" / "bench_memory_quick" / "report.json").read_text())
    assert [r["items"] for r in report["rows"]] == [200, 2000]


@pytest.mark.model
def test_eval_memory_on_a_slice_of_the_shipped_dataset(
    tmp_path: Path, env: dict[str, str], config: Path
) -> None:
    done = aios(
        "--config",
        str(config),
        "eval",
        "memory",
        "--samples",
        "1",
        "--questions",
        "2",
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"f1_memory_on=[\d.]+ f1_memory_off=[\d.]+", last), last
    report = json.loads((tmp_path / "data" / "results" / "eval_memory" / "report.json").read_text())
    assert len(report["answers"]) == 4 and {a["mode"] for a in report["answers"]} == {
        "memory_on",
        "memory_off",
    }
    on = next(m for m in report["modes"] if m["mode"] == "memory_on")
    assert on["answer_calls_per_answer"] == 1.0 and on["tokens_per_answer"] > 0
    for answer in report["answers"]:
        assert 0.0 <= answer["f1"] <= 1.0 and answer["prompt_tokens"] > 0
