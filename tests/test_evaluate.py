"""One cell's evaluation: both judge orders, both benchmarks, AP, with a judge whose verdicts
are known in advance; judging and scoring apart."""

import pytest

from teachergrid.evaluate import judge_cell, score_cell


class KeywordJudge:
    """Prefers the answer that says 'good' (a decisive verdict, weight 3, when it is the
    model's); a tie when both or neither do. Records the order it was shown the answers in."""

    def __init__(self):
        self.seen = []

    def prefer(self, instructions, first, second):
        self.seen.extend(zip(first, second, strict=True))
        out = []
        for a, b in zip(first, second, strict=True):
            ga, gb = "good" in a, "good" in b
            out.append((1.0, 1.0) if ga and not gb else (0.0, 1.0) if gb and not ga else (0.5, 1.0))
        return out


def test_judge_then_score_by_hand():
    rows = [{"id": str(i), "instruction": f"q{i}", "answer": "plain answer"} for i in range(4)]
    answers = {"0": "good", "1": "good", "2": "good", "3": "bad"}
    judge = KeywordJudge()
    judgments = judge_cell(judge, rows, rows, answers)
    # every prompt judged with the model first and with the model second, for each benchmark
    assert judge.seen.count(("good", "plain answer")) == 6
    assert judge.seen.count(("plain answer", "good")) == 6
    assert len(judgments) == 8
    alpaca = [j for j in judgments if j["benchmark"] == "alpaca_eval"]
    assert [j["preference"] for j in alpaca] == [1.0, 1.0, 1.0, 0.5]
    assert [(j["len_model"], j["len_reference"]) for j in alpaca][3] == (3, 12)
    scores = score_cell(judgments, {"bootstrap": 50, "seed": 0})
    # 3 wins and 1 tie ("bad" vs "plain answer": neither says good) in both orders: 3.5 / 4
    assert scores["alpaca_eval_wr"] == pytest.approx(87.5)
    assert scores["arena_hard_wr"] == pytest.approx(87.5, abs=1e-3)
    assert scores["arena_hard_ci_low"] <= scores["arena_hard_wr"] <= scores["arena_hard_ci_high"]
    assert scores["ap"] == pytest.approx((scores["alpaca_eval_lc"] + scores["arena_hard_wr"]) / 2)
    assert scores["n_alpaca_eval"] == 4 and scores["n_arena_hard"] == 4


def test_scores_depend_on_analysis_settings_only_through_the_judgements():
    rows = [{"id": str(i), "instruction": f"q{i}", "answer": "x" * (5 + i)} for i in range(12)]
    answers = {str(i): ("good " * (i % 3 + 1)) if i % 4 else "bad" for i in range(12)}
    judgments = judge_cell(KeywordJudge(), rows, rows, answers)
    one = score_cell(judgments, {"bootstrap": 20, "seed": 1})
    two = score_cell(judgments, {"bootstrap": 20, "seed": 2})
    # the point estimates do not move with the bootstrap seed; the interval does
    assert one["arena_hard_wr"] == two["arena_hard_wr"]
    assert one["alpaca_eval_lc"] == two["alpaca_eval_lc"]
    assert (one["arena_hard_ci_low"], one["arena_hard_ci_high"]) != (
        two["arena_hard_ci_low"],
        two["arena_hard_ci_high"],
    )
