"""The benchmarks' published files, read as published: AlpacaEval 2's reference answers (a JSON
list), Arena-Hard v0.1's questions and GPT-4-0314 answers in the arena-hard-auto repository's
format and in the hub data set's, from local files and from a hub cache. The files under
tests/data/benchmarks/ are unchanged 20-row samples of the real ones (README.md there)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from helpers import benchmark_prompts

from teachergrid.config import ConfigError, load_config
from teachergrid.core.datafiles import DataFileError, field
from teachergrid.evaluation.benchmark_data import BenchmarkDataError, benchmark_rows

DATA = Path(__file__).parents[1] / "data" / "benchmarks"
ALPACA = DATA / "alpaca_eval" / "alpaca_eval_gpt4_baseline.sample.json"
QUESTIONS = DATA / "arena_hard_v0.1" / "question.sample.jsonl"
BASELINE = DATA / "arena_hard_v0.1" / "gpt-4-0314.sample.jsonl"


def local(path: Path, **keys) -> dict:
    return {**benchmark_prompts(source=str(path), **keys), "local": True}


def test_field_paths_walk_keys_and_positions():
    record = {"messages": [{"content": "q"}, {"content": {"answer": "a"}}]}
    assert field(record, "messages.-1.content.answer") == "a"
    assert field(record, "messages.0.content") == "q"
    with pytest.raises(DataFileError, match=r"no field 'messages\.2\.content'"):
        field(record, "messages.2.content")


def test_alpaca_eval_2_reference_answers_are_gpt4_turbos():
    published = json.loads(ALPACA.read_text())
    rows = benchmark_rows(
        {"prompts": local(ALPACA, column="instruction"), "reference": {"column": "output"}}
    )
    assert len(rows) == 20
    assert {p["generator"] for p in published} == {"gpt4_1106_preview"}
    expected = {p["instruction"]: p["output"] for p in published}
    assert all(r["answer"] == expected[r["instruction"]] for r in rows)


def arena_repo_format() -> dict:
    return {
        "prompts": local(QUESTIONS, column="prompt", id="uid"),
        "reference": local(BASELINE, column="messages.-1.content.answer", id="uid"),
    }


def test_arena_hard_repository_format_joins_gpt4_0314_answers_by_uid():
    rows = benchmark_rows(arena_repo_format())
    assert len(rows) == 20
    questions = {q["uid"]: q["prompt"] for q in map(json.loads, QUESTIONS.read_text().splitlines())}
    answers = [json.loads(line) for line in BASELINE.read_text().splitlines()]
    assert {a["model"] for a in answers} == {"gpt-4-0314"}
    expected = {questions[a["uid"]]: a["messages"][-1]["content"]["answer"] for a in answers}
    assert all(r["answer"] == expected[r["instruction"]] for r in rows)


def test_arena_hard_hub_format_gives_the_same_rows(tmp_path):
    # the hub data set's layout of the same content: question_id, turns; choices.turns
    questions = tmp_path / "question.jsonl"
    questions.write_text(
        "".join(
            json.dumps(
                {
                    "question_id": q["uid"],
                    "category": q["category"],
                    "cluster": q["cluster"],
                    "turns": [{"content": q["prompt"]}],
                }
            )
            + "\n"
            for q in map(json.loads, QUESTIONS.read_text().splitlines())
        )
    )
    answers = tmp_path / "gpt-4-0314.jsonl"
    answers.write_text(
        "".join(
            json.dumps(
                {
                    "question_id": a["uid"],
                    "model_id": "gpt-4-0314",
                    "choices": [
                        {"index": 0, "turns": [{"content": a["messages"][-1]["content"]["answer"]}]}
                    ],
                }
            )
            + "\n"
            for a in map(json.loads, BASELINE.read_text().splitlines())
        )
    )
    hub = benchmark_rows(
        {
            "prompts": local(questions, column="turns.0.content", id="question_id"),
            "reference": local(answers, column="choices.0.turns.0.content", id="question_id"),
        }
    )
    assert hub == benchmark_rows(arena_repo_format())


def test_a_missing_baseline_answer_is_named(tmp_path):
    short = tmp_path / "answers.jsonl"
    short.write_text("".join(BASELINE.read_text().splitlines(keepends=True)[:19]))
    spec = arena_repo_format()
    spec["reference"]["source"] = str(short)
    with pytest.raises(BenchmarkDataError, match="no reference answer for 1 prompt"):
        benchmark_rows(spec)


def test_hub_files_are_read_from_the_hub_cache_at_a_pinned_revision(tmp_path, monkeypatch):
    """`file` + `revision` go through huggingface_hub's own download (offline here: the cache a
    submitting host fills), as the real study reads tatsu-lab/alpaca_eval."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "hub" / "datasets--tatsu-lab--alpaca_eval" / "snapshots" / revision
    snapshot.mkdir(parents=True)
    shutil.copy(ALPACA, snapshot / "alpaca_eval_gpt4_baseline.json")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    spec = {
        "prompts": {
            **benchmark_prompts(
                source="tatsu-lab/alpaca_eval",
                file="alpaca_eval_gpt4_baseline.json",
                revision=revision,
                column="instruction",
            ),
            "local": False,
        },
        "reference": {"column": "output"},
    }
    from_hub = benchmark_rows(spec)
    assert from_hub == benchmark_rows(
        {"prompts": local(ALPACA, column="instruction"), "reference": {"column": "output"}}
    )


def study_with(tmp_path: Path, evaluation: dict) -> Path:
    from helpers import tiny_config

    cfg = tiny_config()
    cfg["evaluation"] = {**cfg["evaluation"], **evaluation}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_config_takes_the_published_files(tmp_path):
    cfg = load_config(
        study_with(
            tmp_path,
            {
                "alpaca_eval": {
                    "prompts": {"source": str(ALPACA), "column": "instruction"},
                    "reference": {"column": "output"},
                },
                "arena_hard": {
                    "prompts": {"source": str(QUESTIONS), "column": "prompt", "id": "uid"},
                    "reference": {
                        "source": str(BASELINE),
                        "id": "uid",
                        "column": "messages.-1.content.answer",
                    },
                },
            },
        )
    )
    assert cfg["evaluation"]["arena_hard"]["reference"]["local"] is True


@pytest.mark.parametrize(
    ("arena", "message"),
    [
        (
            {
                "prompts": {"source": str(QUESTIONS), "column": "turns.0.content", "id": "uid"},
                "reference": {
                    "source": str(BASELINE),
                    "id": "uid",
                    "column": "messages.-1.content.answer",
                },
            },
            "evaluation.arena_hard.prompts: .*question.sample.jsonl: record 1: no field "
            "'turns.0.content'",
        ),
        (
            {
                "prompts": {"source": str(QUESTIONS), "column": "prompt"},
                "reference": {"source": str(BASELINE), "id": "uid", "column": "messages"},
            },
            "evaluation.arena_hard.reference.id: answers from another file are joined",
        ),
        (
            {
                "prompts": {"source": str(QUESTIONS), "column": "prompt", "id": "uid"},
                "reference": {"source": str(BASELINE), "id": "question_id", "column": "messages"},
            },
            "evaluation.arena_hard.reference: .*gpt-4-0314.sample.jsonl: record 1: no field "
            "'question_id'",
        ),
    ],
)
def test_bad_benchmark_fields_are_config_errors_naming_file_and_key(tmp_path, arena, message):
    with pytest.raises(ConfigError, match=message):
        load_config(study_with(tmp_path, {"arena_hard": arena}))
