"""Evaluation of one fine-tuned cell in the shape of the paper's two benchmarks.

AlpacaEval-2-style: the model's answer against a reference answer for every prompt, judged in
both orders; win rate and length-controlled win rate. Arena-Hard-style: against a baseline
model's answer, judged in both positions; Bradley-Terry win rate with a bootstrap interval.
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


def alpaca_eval(
    judge: Judge,
    rows: Sequence[dict[str, Any]],
    answers: dict[str, str],
    length_penalty: float = 0.01,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    model, ref, fwd, bwd = both_orders(judge, rows, answers)
    prefs = [(a + b) / 2 for (a, _), (b, _) in zip(fwd, bwd, strict=True)]
    scores = {
        "alpaca_eval_wr": win_rate(prefs),
        "alpaca_eval_lc": length_controlled_win_rate(
            prefs, [len(a) for a in model], [len(b) for b in ref], length_penalty
        ),
    }
    judgments = [
        {
            "id": r["id"],
            "benchmark": "alpaca_eval",
            "preference": p,
            "len_model": len(a),
            "len_reference": len(b),
        }
        for r, p, a, b in zip(rows, prefs, model, ref, strict=True)
    ]
    return scores, judgments


def arena_hard(
    judge: Judge,
    rows: Sequence[dict[str, Any]],
    answers: dict[str, str],
    rounds: int = 100,
    seed: int = 0,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    _, _, fwd, bwd = both_orders(judge, rows, answers)
    groups = [
        [("model", "baseline", f[0]), ("model", "baseline", b[0])]
        for f, b in zip(fwd, bwd, strict=True)
    ]
    weights = [[f[1], b[1]] for f, b in zip(fwd, bwd, strict=True)]
    battles = [x for g in groups for x in g]
    flat_w = [x for w in weights for x in w]
    lo, hi = bootstrap_interval(groups, "model", "baseline", rounds, seed, weights=weights)
    scores = {
        "arena_hard_wr": bt_win_rate(battles, "model", "baseline", flat_w),
        "arena_hard_ci_low": lo,
        "arena_hard_ci_high": hi,
    }
    judgments = [
        {"id": r["id"], "benchmark": "arena_hard", "model_first": f[0], "baseline_first": b[0]}
        for r, f, b in zip(rows, fwd, bwd, strict=True)
    ]
    return scores, judgments


def evaluate_cell(
    judge: Judge,
    alpaca_rows: Sequence[dict[str, Any]],
    arena_rows: Sequence[dict[str, Any]],
    answers: dict[str, str],
    settings: dict[str, Any],
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    a_scores, a_judged = alpaca_eval(
        judge, alpaca_rows, answers, float(settings.get("length_penalty", 0.01))
    )
    h_scores, h_judged = arena_hard(
        judge,
        arena_rows,
        answers,
        int(settings.get("bootstrap", 100)),
        int(settings.get("seed", 0)),
    )
    scores = {
        **a_scores,
        **h_scores,
        "ap": average_performance(a_scores["alpaca_eval_lc"], h_scores["arena_hard_wr"]),
        "n_alpaca_eval": float(len(alpaca_rows)),
        "n_arena_hard": float(len(arena_rows)),
    }
    return scores, a_judged + h_judged
