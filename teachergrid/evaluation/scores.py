"""The benchmark scores of the fine-tuned cells, fitted by the report from every cell's
judgements together: AlpacaEval's win rate and length-controlled win rate, Arena-Hard's
Bradley-Terry win rate with its interval, and the judgement counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from teachergrid.evaluation.winrates import (
    ARENA_HARD_ROUNDS,
    average_performance,
    battle_bootstrap_interval,
    bt_win_rate,
)
from teachergrid.support.layout import BENCHMARKS


def alpaca_eval_table(
    judgments: Mapping[str, Sequence[dict[str, Any]]], settings: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Every cell's AlpacaEval-style scores, the cells fitted together: cell ->
    `alpaca_eval_wr`, `alpaca_eval_lc`, `alpaca_eval_lc_extreme`, `alpaca_eval_lc_method`
    (what produced the LC). Judgements without a verdict (preference None) are left out."""
    import pandas as pd

    from teachergrid.evaluation.lengthcontrol import method, win_rate_table

    # AlpacaEval's own fit looks prompts up by their position in its published file
    by_index = (settings.get("length_control") or {}).get("mode") == "paper-comparable"
    rows = [
        {
            "model": cell,
            "prompt_id": j.get("index") if by_index else j["id"],
            # the position in the published file, which a published difficulty is keyed by
            "index": j.get("index"),
            "preference": j["preference"],
            "len_model": j["len_model"],
            "len_reference": j["len_reference"],
        }
        for cell, js in judgments.items()
        for j in js
        if j["benchmark"] == "alpaca_eval" and j.get("preference") is not None
    ]
    if not rows:
        return {}
    table = win_rate_table(pd.DataFrame(rows), settings.get("length_control"))
    how = method(settings.get("length_control"))
    return {
        r.model: {
            "alpaca_eval_wr": r.win_rate,
            "alpaca_eval_lc": r.lc_win_rate,
            "alpaca_eval_lc_extreme": bool(r.lc_extreme),
            "alpaca_eval_lc_method": how,
        }
        for r in table.itertuples()
    }


def arena_hard_scores(
    judgments: Sequence[dict[str, Any]], rounds: int = ARENA_HARD_ROUNDS
) -> dict[str, float]:
    """Arena-Hard's Bradley-Terry win rate and its bootstrap interval, as its v0.1 result script
    computes them (`winrates.battle_bootstrap_interval`; no interval with `rounds` 0). Each
    prompt's battles in its order: the baseline's answer shown first, then the model's. An
    order without a verdict is a battle left out (the prompt's other order still counts)."""
    battles, weights = [], []
    for j in judgments:
        if j["benchmark"] != "arena_hard":
            continue
        for k in ("baseline_first", "model_first"):
            if j[k] is not None:
                battles.append(("model", "baseline", j[k]))
                weights.append(j[f"{k}_weight"])
    if not battles:
        return {"arena_hard_wr": float("nan"), "arena_hard_ci_low": float("nan"),
                "arena_hard_ci_high": float("nan")}  # fmt: skip
    lo, hi = (
        battle_bootstrap_interval(battles, "model", "baseline", weights, rounds)
        if rounds > 0
        else (float("nan"), float("nan"))
    )
    return {
        "arena_hard_wr": bt_win_rate(battles, "model", "baseline", weights),
        "arena_hard_ci_low": lo,
        "arena_hard_ci_high": hi,
    }


def score_cells(
    judgments: Mapping[str, Sequence[dict[str, Any]]], settings: dict[str, Any]
) -> dict[str, dict[str, float]]:
    """Every cell's benchmark scores from its judgements (the cheap half: fits and bootstrap,
    rerun on their own when an analysis setting changes). `judgments`: cell name -> its
    judgement records; `settings`: the evaluation section (`length_control`, `bootstrap`,
    `seed`)."""
    alpaca = alpaca_eval_table(judgments, settings)
    out = {}
    for cell, js in judgments.items():
        a_scores = alpaca.get(
            cell,
            {"alpaca_eval_wr": float("nan"), "alpaca_eval_lc": float("nan"),
             "alpaca_eval_lc_extreme": False, "alpaca_eval_lc_method": ""},
        )  # fmt: skip
        # Arena-Hard's own interval (its rounds and seed); `bootstrap: 0` turns intervals off
        rounds = ARENA_HARD_ROUNDS if int(settings["bootstrap"]) > 0 else 0
        h_scores = arena_hard_scores(js, rounds)
        # AP is the paper's: the LC win rate and Arena-Hard's, averaged, on every cell. Where
        # AlpacaEval's own rule calls the LC an extreme change from the raw win rate, the cell
        # is flagged (`alpaca_eval_lc_extreme`) and logged, not rescored.
        out[cell] = {
            **a_scores,
            **h_scores,
            "ap": average_performance(a_scores["alpaca_eval_lc"], h_scores["arena_hard_wr"]),
            **judgement_counts(js),
        }
    return out


COUNT_COLUMNS = [
    f"{bench}_{count}" for bench in BENCHMARKS for count in ("judged", "dropped", "cut")
]


def judgement_counts(judgments: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Per benchmark, what stands behind a cell's scores: `judged`, the prompts with a verdict
    (AlpacaEval: one judgement each; Arena-Hard: at least one of its two orders); `dropped`,
    the judgements without a verdict (AlpacaEval prompts, Arena-Hard orders); `cut`, the
    prompts whose answer ended at the token limit (NaN where the engine did not say)."""
    out: dict[str, float] = {}
    for bench in BENCHMARKS:
        mine = [j for j in judgments if j["benchmark"] == bench]
        if bench == "alpaca_eval":
            verdicts = [[j.get("preference")] for j in mine]
        else:
            verdicts = [[j["model_first"], j["baseline_first"]] for j in mine]
        cut = [j.get("answer_cut") for j in mine]
        out[f"{bench}_judged"] = float(sum(any(v is not None for v in vs) for vs in verdicts))
        out[f"{bench}_dropped"] = float(sum(v is None for vs in verdicts for v in vs))
        out[f"{bench}_cut"] = float("nan") if None in cut else float(sum(cut))
    return out


EVAL_SCORE_COLUMNS = [
    "alpaca_eval_wr",
    "alpaca_eval_lc",
    "alpaca_eval_lc_extreme",
    "alpaca_eval_lc_method",
    "arena_hard_wr",
    "arena_hard_ci_low",
    "arena_hard_ci_high",
    "ap",
    *COUNT_COLUMNS,
]
