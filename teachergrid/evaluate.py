"""Evaluation of one fine-tuned cell in the shape of the paper's two benchmarks.

AlpacaEval-2-style: the model's answer against a reference answer for every prompt, judged in
both orders; win rate and length-controlled win rate. Arena-Hard-style: against a baseline
model's answer, judged in both positions; Bradley-Terry win rate with a bootstrap interval.

Judging (`judge_cell`, an evaluation job) and scoring (`score_cell`, the report) are apart:
judgements cost GPU hours or API money, scores are seconds of fitting, so a change of an
analysis setting (`length_penalty`, `bootstrap`, `seed`) reruns only the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .judges import Judge
from .winrates import (
    average_performance,
    bootstrap_interval,
    bt_win_rate,
    length_controlled_win_rate,
    win_rate,
)


def both_orders(
    judge: Judge, rows: Sequence[dict[str, Any]], answers: dict[str, str]
) -> tuple[list[str], list[str], list[tuple[float, float]], list[tuple[float, float]]]:
    """Judge every prompt's model answer against its reference answer, in both orders.

    Returns the model's answers, the reference answers, and the two lists of judgements, both
    expressed as (preference for the model, weight).
    """
    questions = [r["instruction"] for r in rows]
    model = [answers[r["id"]] for r in rows]
    other = [r["answer"] for r in rows]
    forward = judge.prefer(questions, model, other)
    backward = judge.prefer(questions, other, model)
    return model, other, forward, [(1.0 - p, w) for p, w in backward]


def judge_cell(
    judge: Judge,
    alpaca_rows: Sequence[dict[str, Any]],
    arena_rows: Sequence[dict[str, Any]],
    answers: dict[str, str],
) -> list[dict[str, Any]]:
    """Every judgement of one cell (the expensive half of evaluation: LLM or reward-model
    calls), one record per prompt and benchmark, with everything `score_cell` needs.

    AlpacaEval-style records carry the preference for the model averaged over both orders and
    the two answers' lengths (characters); Arena-Hard-style records carry the preference and
    the battle weight (3 for a decisive verdict) of each order."""
    model, ref, fwd, bwd = both_orders(judge, alpaca_rows, answers)
    judgments = [
        {
            "id": r["id"],
            "benchmark": "alpaca_eval",
            "preference": (f[0] + b[0]) / 2,
            "len_model": len(a),
            "len_reference": len(c),
        }
        for r, f, b, a, c in zip(alpaca_rows, fwd, bwd, model, ref, strict=True)
    ]
    _, _, fwd, bwd = both_orders(judge, arena_rows, answers)
    judgments += [
        {
            "id": r["id"],
            "benchmark": "arena_hard",
            "model_first": f[0],
            "model_first_weight": f[1],
            "baseline_first": b[0],
            "baseline_first_weight": b[1],
        }
        for r, f, b in zip(arena_rows, fwd, bwd, strict=True)
    ]
    return judgments


def alpaca_eval_scores(
    judgments: Sequence[dict[str, Any]], length_penalty: float = 0.01
) -> dict[str, float]:
    rows = [j for j in judgments if j["benchmark"] == "alpaca_eval"]
    prefs = [j["preference"] for j in rows]
    return {
        "alpaca_eval_wr": win_rate(prefs),
        "alpaca_eval_lc": length_controlled_win_rate(
            prefs,
            [j["len_model"] for j in rows],
            [j["len_reference"] for j in rows],
            length_penalty,
        ),
    }


def arena_hard_scores(
    judgments: Sequence[dict[str, Any]], rounds: int = 100, seed: int = 0
) -> dict[str, float]:
    rows = [j for j in judgments if j["benchmark"] == "arena_hard"]
    groups = [
        [("model", "baseline", j["model_first"]), ("model", "baseline", j["baseline_first"])]
        for j in rows
    ]
    weights = [[j["model_first_weight"], j["baseline_first_weight"]] for j in rows]
    battles = [x for g in groups for x in g]
    flat_w = [x for w in weights for x in w]
    lo, hi = bootstrap_interval(groups, "model", "baseline", rounds, seed, weights=weights)
    return {
        "arena_hard_wr": bt_win_rate(battles, "model", "baseline", flat_w),
        "arena_hard_ci_low": lo,
        "arena_hard_ci_high": hi,
    }


def score_cell(judgments: Sequence[dict[str, Any]], settings: dict[str, Any]) -> dict[str, float]:
    """The cell's benchmark scores from its judgements (the cheap half: fits and bootstrap,
    rerun on their own when an analysis setting changes). `settings`: `length_penalty`,
    `bootstrap` rounds and `seed` of the evaluation section."""
    a_scores = alpaca_eval_scores(judgments, float(settings.get("length_penalty", 0.01)))
    h_scores = arena_hard_scores(
        judgments, int(settings.get("bootstrap", 100)), int(settings.get("seed", 0))
    )
    return {
        **a_scores,
        **h_scores,
        "ap": average_performance(a_scores["alpaca_eval_lc"], h_scores["arena_hard_wr"]),
        "n_alpaca_eval": float(sum(j["benchmark"] == "alpaca_eval" for j in judgments)),
        "n_arena_hard": float(sum(j["benchmark"] == "arena_hard" for j in judgments)),
    }
