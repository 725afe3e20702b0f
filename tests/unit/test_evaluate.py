"""One cell's evaluation: the benchmarks' judging orders, both benchmarks, AP, with a judge
whose verdicts are known in advance; judging and scoring apart; verdicts dropped, not tied."""

import math

import pytest

from teachergrid.evaluation.judging import judge_cell, model_goes_second
from teachergrid.evaluation.scores import score_cells


class KeywordJudge:
    """Prefers the answer that says 'good' (a decisive verdict, weight 3); a tie when both or
    neither do; no verdict at all when either answer says 'mute'. Records the order it was
    shown the answers in."""

    def __init__(self):
        self.seen = []

    def prefer(self, instructions, first, second):
        self.seen.extend(zip(first, second, strict=True))
        out = []
        for a, b in zip(first, second, strict=True):
            ga, gb = "good" in a, "good" in b
            if "mute" in a or "mute" in b:
                out.append(None)
            else:
                out.append(
                    (1.0, 3.0) if ga and not gb else (0.0, 3.0) if gb and not ga else (0.5, 1.0)
                )
        return out


def judges(judge):
    return {"alpaca_eval": judge, "arena_hard": judge}


def records(answers: dict[str, str], cut: tuple[str, ...] = ()) -> list[dict]:
    """An answers file's records: one answer per prompt for both benchmarks, `cut` ended at
    the token limit."""
    return [
        {"id": i, "answer": a, "finish_reason": "length" if i in cut else "stop"}
        for i, a in answers.items()
    ]


def test_judge_then_score_by_hand():
    rows = [{"id": str(i), "instruction": f"q{i}", "answer": "plain answer"} for i in range(4)]
    answers = {"0": "good", "1": "good", "2": "good", "3": "bad"}
    judge = KeywordJudge()
    judgments = judge_cell(judges(judge), rows, rows, records(answers, cut=("3",)))
    # AlpacaEval: each prompt once, the model in the position AlpacaEval's rule gives it
    alpaca_seen = judge.seen[:4]
    for r, pair in zip(rows, alpaca_seen, strict=True):
        model_answer = answers[r["id"]]
        expected = (
            ("plain answer", model_answer)
            if model_goes_second(r["instruction"])
            else (model_answer, "plain answer")
        )
        assert pair == expected
    # Arena-Hard: both orders
    assert judge.seen[4:].count(("good", "plain answer")) == 3
    assert judge.seen[4:].count(("plain answer", "good")) == 3
    assert len(judgments) == 8
    alpaca = [j for j in judgments if j["benchmark"] == "alpaca_eval"]
    assert [j["preference"] for j in alpaca] == [1.0, 1.0, 1.0, 0.5]
    assert [(j["len_model"], j["len_reference"]) for j in alpaca][3] == (3, 12)
    scores = score_cells({"cell": judgments}, {"bootstrap": 50, "seed": 0})["cell"]
    # 3 wins and 1 tie ("bad" vs "plain answer": neither says good): 3.5 / 4
    assert scores["alpaca_eval_wr"] == pytest.approx(87.5)
    # equal lengths for nothing here, but one model only: LC is fitted, finite, flagged or not
    assert 0 < scores["alpaca_eval_lc"] < 100
    # BT with 3 decisive wins (weight 3 each, both orders) and one tie: p / (1 - p) = 9.5 / 0.5
    assert scores["arena_hard_wr"] == pytest.approx(100 * 19 / 20, abs=0.05)
    assert scores["arena_hard_ci_low"] <= scores["arena_hard_wr"] <= scores["arena_hard_ci_high"]
    assert scores["ap"] == pytest.approx((scores["alpaca_eval_lc"] + scores["arena_hard_wr"]) / 2)
    # what stands behind the scores: 4 prompts judged on each, nothing dropped, one answer cut
    assert scores["alpaca_eval_judged"] == 4 and scores["arena_hard_judged"] == 4
    assert scores["alpaca_eval_dropped"] == 0 and scores["arena_hard_dropped"] == 0
    assert scores["alpaca_eval_cut"] == 1 and scores["arena_hard_cut"] == 1


def test_a_reply_without_a_verdict_is_dropped_not_counted_as_a_tie(caplog):
    rows = [{"id": str(i), "instruction": f"q{i}", "answer": "plain"} for i in range(4)]
    answers = {"0": "good", "1": "good", "2": "mute", "3": "bad"}
    judgments = judge_cell(judges(KeywordJudge()), rows, rows, records(answers))
    assert "alpaca_eval: 1 of 4 judge replies had no usable verdict" in caplog.text
    assert "arena_hard: 2 of 8 judge replies had no usable verdict" in caplog.text
    scores = score_cells({"c": judgments}, {"bootstrap": 20, "seed": 0})["c"]
    # 2 wins and a tie over the 3 prompts judged (a tie for the mute one would give 62.5)
    assert scores["alpaca_eval_wr"] == pytest.approx(100 * 2.5 / 3)
    assert scores["alpaca_eval_judged"] == 3 and scores["arena_hard_judged"] == 3
    # the mute prompt: its AlpacaEval judgement and both its Arena-Hard orders
    assert scores["alpaca_eval_dropped"] == 1 and scores["arena_hard_dropped"] == 2


def test_scores_depend_on_analysis_settings_only_through_the_judgements():
    rows = [{"id": str(i), "instruction": f"q{i}", "answer": "x" * (5 + i)} for i in range(12)]
    answers = {str(i): ("good " * (i % 3 + 1)) if i % 4 else "bad" for i in range(12)}
    judgments = judge_cell(judges(KeywordJudge()), rows, rows, records(answers))
    one = score_cells({"c": judgments}, {"bootstrap": 20, "seed": 1})["c"]
    two = score_cells({"c": judgments}, {"bootstrap": 20, "seed": 2})["c"]
    # nothing moves with the report's bootstrap seed: the point estimates, and Arena-Hard's
    # interval, drawn with its own rounds and seed as its result script draws it
    assert one == two
    assert one["arena_hard_ci_low"] < one["arena_hard_wr"] < one["arena_hard_ci_high"]
    # `bootstrap: 0` turns the interval off (the report's replicates need only the estimates)
    none = score_cells({"c": judgments}, {"bootstrap": 0, "seed": 1})["c"]
    assert none["arena_hard_wr"] == one["arena_hard_wr"]
    assert math.isnan(none["arena_hard_ci_low"]) and math.isnan(none["arena_hard_ci_high"])


def test_ap_is_the_papers_also_where_the_lc_is_flagged():
    """A model that wins exactly where its answer is the longer one: the length model explains
    every verdict, and the LC departs from the raw win rate beyond AlpacaEval's rule. The cell
    is flagged; AP stays (LC + Arena-Hard) / 2, the number the paper reports."""
    alpaca = [
        {"benchmark": "alpaca_eval", "id": str(i), "preference": float(i < 15),
         "len_model": 900 if i < 15 else 300, "len_reference": 500}
        for i in range(20)
    ]  # fmt: skip
    arena = [
        {"benchmark": "arena_hard", "id": str(i), "model_first": 1.0, "baseline_first": 0.0,
         "model_first_weight": 1.0, "baseline_first_weight": 1.0}
        for i in range(20)
    ]  # fmt: skip
    scores = score_cells({"c": alpaca + arena}, {"bootstrap": 0, "seed": 0})["c"]
    assert scores["alpaca_eval_wr"] == pytest.approx(75.0)
    assert scores["alpaca_eval_lc_extreme"]
    assert scores["ap"] == pytest.approx((scores["alpaca_eval_lc"] + scores["arena_hard_wr"]) / 2)


def test_the_models_side_is_alpaca_evals():
    """The side AlpacaEval's own annotator puts the model's answer on: its
    RandomSwitchTwoColumnsProcessor (alpaca-eval 0.6.6, seed 0, seeded on the instruction) run
    on these instructions switched the third and the fifth, putting the model first there."""
    instructions = [
        "What is 2+2?",
        "Name a color.",
        "Hi",
        "Write a poem about the sea.",
        "x",
        "Explain gravity.",
    ]
    assert [model_goes_second(i) for i in instructions] == [True, True, False, True, False, True]


def test_an_answer_identical_to_the_reference_is_a_draw_the_judge_never_sees():
    rows = [{"id": str(i), "instruction": f"q{i}", "answer": f"ref {i}"} for i in range(3)]
    answers = {"0": "good", "1": "ref 1", "2": "good too"}
    judge = KeywordJudge()
    judgments = judge_cell(
        {"alpaca_eval": judge, "arena_hard": KeywordJudge()}, rows, [], records(answers)
    )
    assert len(judge.seen) == 2 and all("ref 1" not in pair for pair in judge.seen)
    assert [j["preference"] for j in judgments] == [1.0, 0.5, 1.0]


def test_each_benchmark_reads_the_answer_made_for_it():
    """Answers at two token limits: a prompt both benchmarks hold has a record for each
    (`benchmarks`), and each benchmark's judge sees its own; without a finish reason the cut
    count is unknown (NaN), not 0."""
    rows = [{"id": "0", "instruction": "q", "answer": "plain"}]
    answers = [
        {"id": "0", "answer": "good but short", "benchmarks": ["alpaca_eval"]},
        {"id": "0", "answer": "bad and long", "benchmarks": ["arena_hard"]},
    ]
    alpaca, arena = KeywordJudge(), KeywordJudge()
    judgments = judge_cell({"alpaca_eval": alpaca, "arena_hard": arena}, rows, rows, answers)
    assert {a for pair in alpaca.seen for a in pair} == {"good but short", "plain"}
    assert {a for pair in arena.seen for a in pair} == {"bad and long", "plain"}
    assert [j["answer_cut"] for j in judgments] == [None, None]
    scores = score_cells({"c": judgments}, {"bootstrap": 0, "seed": 0})["c"]
    assert math.isnan(scores["alpaca_eval_cut"]) and scores["alpaca_eval_judged"] == 1


def test_one_engine_answers_every_token_limit(tiny_llama, monkeypatch):
    """A student's answers at two benchmarks' limits come from one engine (loaded once, sized
    for the higher limit), each benchmark's answers cut at its own limit; a prompt both hold at
    one limit is answered once."""
    from helpers import model_entry

    from teachergrid.evaluation import answering
    from teachergrid.evaluation.answering import answer, student

    built = []

    def counted(*args, **kwargs):
        built.append(args[2].max_new_tokens)
        return make_backend(*args, **kwargs)

    make_backend = answering.make_backend
    monkeypatch.setattr(answering, "make_backend", counted)
    settings = {"backend": "hf", "batch_size": 4, "tensor_parallel_size": 1,
                "gpu_memory_utilization": 0.9, "max_model_len": None}  # fmt: skip
    base = model_entry("bases", name="b", dtype="float32")
    generator = student("s", settings, base, untuned=False)
    rows = [{"id": f"p{i}", "instruction": f"Tell me about item {i}."} for i in range(3)]
    prompts = {"short": rows, "long": rows[:2], "also_short": rows[:1]}
    limits = {"short": 3, "also_short": 3, "long": 24}
    decoding = {"temperature": 0.0, "top_p": 1.0, "seed": 0}
    answers = answer(generator, str(tiny_llama), decoding, limits, prompts, threads=1)
    assert built == [24]
    by_limit = {}
    for a in answers:
        by_limit.setdefault(limits[a["benchmarks"][0]], []).append(a)
    assert sorted(len(v) for v in by_limit.values()) == [2, 3]
    assert [a["benchmarks"] for a in by_limit[3] if a["id"] == "p0"] == [["short", "also_short"]]
    from teachergrid.core.chat import load_tokenizer

    tok = load_tokenizer(str(tiny_llama))
    short = [len(tok(a["answer"], add_special_tokens=False)["input_ids"]) for a in by_limit[3]]
    long = [len(tok(a["answer"], add_special_tokens=False)["input_ids"]) for a in by_limit[24]]
    assert max(short) <= 4  # 3 new tokens (decoding may merge or split a token at the edges)
    assert max(long) > 4
    assert all(a["finish_reason"] == "length" for a in by_limit[3] if len(a["answer"]) > 0)
