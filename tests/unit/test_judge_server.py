"""The LLM-judge path end to end against a real OpenAI-compatible server: `transformers serve`
(the transformers package's own server) running a tiny model on CPU. The tiny model is no
judge: its replies carry no verdict, which is the case this checks — every request goes over
real HTTP, each reply is read as the benchmark reads it, and a reply without a verdict is
dropped and counted, never scored as a tie."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import judge_entry, transformers_serve

from teachergrid.evaluation.judges import make_judge
from teachergrid.evaluation.judging import judge_cell
from teachergrid.evaluation.scores import score_cells


@pytest.fixture(scope="module")
def served(tiny_llama: Path, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with transformers_serve(tiny_llama, log) as url:
        yield {"url": url, "model": str(tiny_llama), "log": log}


def test_both_benchmark_judges_over_a_real_server(served, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("SERVE_KEY", "sk-local-not-secret")
    api = {"model": served["model"], "api_key_env": "SERVE_KEY", "base_url": served["url"],
           "max_concurrency": 2, "max_tokens": 24}  # fmt: skip
    spec = judge_entry(kind="openai", api=api)
    cache = tmp_path / "judge_cache.jsonl"
    judges = {
        bench: make_judge(spec, None, bench, cache_path=cache)
        for bench in ("alpaca_eval", "arena_hard")
    }
    rows = [
        {"id": str(i), "instruction": f"Name a colour number {i}.", "answer": "Red."}
        for i in range(3)
    ]
    answers = [{"id": str(i), "answer": "Blue, I think."} for i in range(3)]
    judgments = judge_cell(judges, rows, rows, answers)
    # 3 AlpacaEval requests of one token each; 6 Arena-Hard requests (both orders), each
    # continued once, as Arena-Hard's judge does when a reply has no verdict label
    alpaca_backend = judges["alpaca_eval"].backend
    arena_backend = judges["arena_hard"].backend
    assert alpaca_backend.requests_sent == 3 and arena_backend.requests_sent == 12
    assert alpaca_backend.finish_reasons == {"length": 3}  # cut at its one token
    assert sum(arena_backend.finish_reasons.values()) == 12
    # the tiny model names no model identifier and writes no [[verdict]]: all dropped
    assert all(j["preference"] is None for j in judgments if j["benchmark"] == "alpaca_eval")
    assert all(
        j["model_first"] is None and j["baseline_first"] is None
        for j in judgments
        if j["benchmark"] == "arena_hard"
    )
    assert "alpaca_eval: 3 of 3 judge replies had no usable verdict" in caplog.text
    assert "arena_hard: 6 of 6 judge replies had no usable verdict" in caplog.text
    scores = score_cells({"cell": judgments}, {"bootstrap": 10, "seed": 0})["cell"]
    assert scores["alpaca_eval_judged"] == 0 and scores["arena_hard_judged"] == 0
    assert scores["alpaca_eval_dropped"] == 3 and scores["arena_hard_dropped"] == 6
    assert scores["arena_hard_wr"] != scores["arena_hard_wr"]  # NaN: nothing to score
    # the server saw the benchmark prompts; a rerun is answered from the cache
    log = served["log"].read_text()
    assert log.count("POST /v1/chat/completions") == 15
    again = {b: make_judge(spec, None, b, cache_path=cache) for b in judges}
    assert judge_cell(again, rows, rows, answers) == judgments
    assert served["log"].read_text().count("POST /v1/chat/completions") == 15
