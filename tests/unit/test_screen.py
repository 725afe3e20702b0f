"""Screening a new base on as few instructions as it takes: a planted clear winner stops the
rounds early; two teachers that cannot be told apart run to the budget, which says so; the
training sets load with `datasets`. The base's losses are a real tiny model's."""

import json

import numpy as np
import pytest
from helpers import model_entry

from teachergrid.config import section
from teachergrid.config.models import scoring_settings
from teachergrid.screening.rounds import (
    STOP_EXHAUSTED,
    STOP_MAX_INSTRUCTIONS,
    STOP_SETTLED,
    schedule,
    standing,
)
from teachergrid.screening.screen import Settings, Teacher, base_scorer, mix, run
from teachergrid.tiny.tasks import render, unique_tasks


def test_rounds_double_up_to_the_cap():
    assert schedule(100, 8) == [8, 16, 32, 64, 100]
    assert schedule(100, 8, cap=40) == [8, 16, 32, 40]
    assert schedule(5, 8) == [5]


def test_tied_teachers_share_first_place_in_the_bootstrap():
    same = np.array([0.5, 0.6, 0.7, 0.4])
    s = standing({"a": same, "b": same.copy(), "c": same - 0.2},
                 {t: np.ones(4) for t in "abc"}, beta=1.0, replicates=100, seed=0)  # fmt: skip
    assert s.p_first == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.0})
    assert s.rank_low["a"] == s.rank_low["b"] == 1.0 and s.rank_low["c"] == 3.0


def teachers(rewards: dict[str, float], n: int = 96) -> dict[str, Teacher]:
    """Teachers answering the same `n` tiny tasks correctly (the same text), each with a fixed
    reward per response: only the rewards tell them apart."""
    out = {}
    for name, reward in rewards.items():
        t = Teacher(name)
        for task in unique_tasks(3, n):
            response = render(task["kind"], task["answer"], "llama")
            t.by_id[task["id"]] = [{"id": task["id"], "sample": 0, "teacher": name,
                                    "instruction": task["instruction"], "response": response,
                                    "reward": reward}]  # fmt: skip
        out[name] = t
    return out


@pytest.fixture(scope="module")
def scorer(tiny_llama):
    entry = scoring_settings(model_entry("bases", name="b", dtype="float32"),
                             section("compatibility"))  # fmt: skip
    return base_scorer(str(tiny_llama), entry, threads=1), entry["metrics"]


def test_a_clear_winner_stops_the_screening_early(scorer):
    score, options = scorer
    pool = teachers({"winner": 0.9, "b": 0.5, "c": 0.4, "d": 0.3})
    lines = []
    result = run(pool, score, Settings(beta=1.0, first_round=8), options, progress=lines.append)
    assert result.stopped_by == STOP_SETTLED
    assert result.order[0] == "winner"
    # settled after the second round: the leader first in every replicate, top 3 unchanged
    assert [s.n for s in result.history] == [8, 16]
    assert result.history[-1].p_first["winner"] == 1.0
    assert len(result.records) == 16 * 4  # 16 instructions x 4 teachers, one response each
    assert "16 of 96 instructions scored" in lines[-1] and "tokens/s" in lines[-1]


def test_teachers_that_cannot_be_told_apart_run_to_the_budget(scorer):
    score, options = scorer
    pool = teachers({"twin-a": 0.8, "twin-b": 0.8, "c": 0.3})
    budget = run(pool, score, Settings(beta=1.0, first_round=8, max_instructions=32), options)
    assert budget.stopped_by == STOP_MAX_INSTRUCTIONS
    assert [s.n for s in budget.history] == [8, 16, 32]
    assert budget.history[-1].p_first["twin-a"] == pytest.approx(0.5)
    everything = run(teachers({"twin-a": 0.8, "twin-b": 0.8}, n=20), score,
                     Settings(beta=1.0, first_round=8), options)  # fmt: skip
    assert everything.stopped_by == STOP_EXHAUSTED and everything.history[-1].n == 20


def test_the_training_sets_load_with_datasets(scorer, tmp_path):
    import datasets

    from teachergrid.core.jsonl import write_jsonl

    score, options = scorer
    pool = teachers({"a": 0.9, "b": 0.5})
    # b's responses to a few instructions are better for this base: a higher reward there
    for i in list(pool["b"].by_id)[:5]:
        pool["b"].by_id[i][0]["reward"] = 5.0
    result = run(pool, score, Settings(beta=1.0, first_round=16, max_instructions=16), options)
    rows = mix(pool, result.records, result.order[0], beta=1.0)
    write_jsonl(tmp_path / "mix.jsonl", rows)
    data = datasets.load_dataset("json", data_files=str(tmp_path / "mix.jsonl"), split="train")
    assert len(data) == 96 and set(data.column_names) >= {"instruction", "response", "teacher"}
    scored = [r for r in data if r["chosen_by"] == "per-instruction CAR"]
    assert len(scored) == 16
    # per scored instruction the higher reward / (1 + loss): b where its reward was raised
    boosted = {i for i in list(pool["b"].by_id)[:5]}
    scored_ids = {r["id"] for r in result.records}
    assert {r["id"] for r in scored if r["teacher"] == "b"} == boosted & scored_ids
    assert all(r["teacher"] == "a" for r in data if r["chosen_by"] != "per-instruction CAR")
    json.dumps(rows)  # plain data
