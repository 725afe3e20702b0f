"""Does a metric rank teachers the way fine-tuning does? The paper's Table 4, for any grid.

For each base, every metric is correlated (Spearman and Kendall, scipy) with the measured
average performance AP over that base's teachers. Metrics where lower is better (losses,
perplexities, IFD) are negated first, so a positive correlation always means "the metric
picks good teachers". The average row per metric is the mean coefficient over bases (its
p-values are left empty: a mean of p-values is not a p-value). The paradox summary gives, per
base, the best teacher and the correlation between teacher size and AP.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from teachergrid.evaluation.scores import COUNT_COLUMNS
from teachergrid.evaluation.winrates import average_performance

EVAL_COLUMNS = ["alpaca_eval_wr", "alpaca_eval_lc", "arena_hard_wr", "ap"]
LOWER_IS_BETTER = ("loss", "ppl_", "ifd_")
EXCLUDED = {
    "base",
    "teacher",
    "family",
    # metrics.csv's note of a cell's unfinished job (empty, so read as numbers, where none is)
    "missing",
    "beta",
    "arena_hard_ci_low",
    "arena_hard_ci_high",
    "alpaca_eval_lc_extreme",
    "accuracy",
    *EVAL_COLUMNS,
    *COUNT_COLUMNS,
}


CORRELATION_COLUMNS = [
    "base",
    "metric",
    "direction",
    "n_teachers",
    "spearman_rho",
    "spearman_p",
    "kendall_tau",
    "kendall_p",
    "spearman_rho_raw",
    "kendall_tau_raw",
]
PARADOX_COLUMNS = [
    "base",
    "best_teacher",
    "best_ap",
    "largest_teacher",
    "spearman_size_ap",
    "kendall_size_ap",
]


def direction(metric: str) -> int:
    return -1 if metric == "loss" or metric.startswith(LOWER_IS_BETTER) else 1


def metric_columns(table: pd.DataFrame) -> list[str]:
    """Every numeric column that is neither an identifier nor an evaluation result."""
    return [
        c for c in table.columns if c not in EXCLUDED and pd.api.types.is_numeric_dtype(table[c])
    ]


def with_ap(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    if "ap" not in table.columns:
        table["ap"] = [
            average_performance(lc, wr)
            for lc, wr in zip(table["alpaca_eval_lc"], table["arena_hard_wr"], strict=True)
        ]
    return table


def _corr(x: pd.Series, y: pd.Series, p_values: bool = True) -> tuple[float, float, float, float]:
    """Spearman's rho, its p-value, Kendall's tau-b, its p-value, over the pairs where both are
    known; NaN where fewer than 3 pairs or either side is constant. Without `p_values` (the
    bootstrap's replicates, thousands of calls) the coefficients come from `_coefficients` and
    the p-values are NaN."""
    from scipy.stats import kendalltau, spearmanr

    xa, ya = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
    ok = ~(np.isnan(xa) | np.isnan(ya))
    xa, ya = xa[ok], ya[ok]
    if len(xa) < 3 or (xa == xa[0]).all() or (ya == ya[0]).all():
        return (math.nan,) * 4
    if not p_values:
        rho, tau = _coefficients(xa, ya)
        return rho, math.nan, tau, math.nan
    rho, rho_p = spearmanr(xa, ya)
    tau, tau_p = kendalltau(xa, ya)
    return float(rho), float(rho_p), float(tau), float(tau_p)


def _coefficients(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman's rho and Kendall's tau-b by scipy's own formulas, so the floats are the same
    (rho: the correlation of average ranks; tau-b: from the counts of tied and discordant
    pairs), without scipy's per-call overhead and p-values."""
    from scipy.stats import rankdata

    rho = float(np.corrcoef(np.vstack([rankdata(x), rankdata(y)]))[1, 0])
    i, j = np.triu_indices(len(x), 1)
    sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    total = len(i)
    x_ties, y_ties = int((sx == 0).sum()), int((sy == 0).sum())
    joint_ties = int(((sx == 0) & (sy == 0)).sum())
    discordant = int((sx * sy < 0).sum())
    con_minus_dis = total - x_ties - y_ties + joint_ties - 2 * discordant
    tau = con_minus_dis / np.sqrt(total - x_ties) / np.sqrt(total - y_ties)
    return rho, float(min(1.0, max(-1.0, tau)))


def correlations(
    table: pd.DataFrame,
    metrics: list[str] | None = None,
    target: str = "ap",
    p_values: bool = True,
) -> pd.DataFrame:
    """Each metric against `target` per base (AP, as the paper; or `accuracy`, the ground
    truth where the tasks have exact answers), and the average over bases. `p_values=False`:
    the coefficients only (the bootstrap's replicates)."""
    table = with_ap(table)
    metrics = metrics if metrics is not None else metric_columns(table)
    rows = []
    for base, sub in table.groupby("base", sort=False):
        for metric in metrics:
            rho, rho_p, tau, tau_p = _corr(direction(metric) * sub[metric], sub[target], p_values)
            rows.append(
                {
                    "base": base,
                    "metric": metric,
                    "direction": direction(metric),
                    "n_teachers": int(sub[metric].notna().sum()),
                    "spearman_rho": rho,
                    "spearman_p": rho_p,
                    "kendall_tau": tau,
                    "kendall_p": tau_p,
                    # the metric as measured, not negated: the sign the paper's Table 4 prints
                    "spearman_rho_raw": direction(metric) * rho,
                    "kendall_tau_raw": direction(metric) * tau,
                }
            )
    out = pd.DataFrame(rows, columns=CORRELATION_COLUMNS)
    averages = [
        {
            "base": "average",
            "metric": metric,
            "direction": direction(metric),
            "n_teachers": int(sub["n_teachers"].mean()) if len(sub) else 0,
            "spearman_rho": sub["spearman_rho"].mean(),
            "spearman_p": np.nan,
            "kendall_tau": sub["kendall_tau"].mean(),
            "kendall_p": np.nan,
            "spearman_rho_raw": sub["spearman_rho_raw"].mean(),
            "kendall_tau_raw": sub["kendall_tau_raw"].mean(),
        }
        for metric, sub in out.groupby("metric", sort=False)
    ]
    return pd.concat([out, pd.DataFrame(averages, columns=out.columns)], ignore_index=True)


# The paper's Table 4 (Spearman of each metric with AP over the 19 open generators, per base),
# and the project's name of each of its columns (GPT-2 is the paper's reference model).
PAPER_TABLE4 = Path(__file__).resolve().parents[2] / "data" / "paper" / "table4_spearman.csv"
PAPER_METRICS = {
    "reward_armorm": "reward_armorm",
    "reward_skywork_llama": "reward_skywork_llama",
    "reward_skywork_gemma": "reward_skywork_gemma",
    "ifd_gpt2": "ifd_ref",
    "ifd_self": "ifd_self",
    "ppl_gpt2": "ppl_ref",
    "ppl_self": "ppl_self",
    "length": "length",
    "car": "car",
}
PAPER_COLUMN = "paper_spearman_rho"


def with_paper(corr: pd.DataFrame, table4: Path = PAPER_TABLE4) -> pd.DataFrame:
    """`correlations` with the paper's Table 4 value beside each of its own, in
    `paper_spearman_rho` (the metric's own sign, as `spearman_rho_raw`): for the bases and
    metrics Table 4 has, and for the average where the grid's bases are exactly the paper's;
    empty elsewhere (or where the table is not at hand)."""
    corr = corr.copy()
    corr[PAPER_COLUMN] = np.nan
    if not table4.is_file():
        return corr
    paper = pd.read_csv(table4).set_index("base").rename(columns=PAPER_METRICS)
    values = {(b, m): v for b, row in paper.iterrows() for m, v in row.items()}
    if set(corr["base"]) - {"average"} == set(paper.index):
        values |= {("average", m): v for m, v in paper.mean().items()}
    corr[PAPER_COLUMN] = [
        values.get((b, m), np.nan) for b, m in zip(corr["base"], corr["metric"], strict=True)
    ]
    return corr


AP_ACCURACY_COLUMNS = ["base", "n_cells", "spearman_rho", "spearman_p", "kendall_tau", "kendall_p"]


def ap_accuracy(table: pd.DataFrame, p_values: bool = True) -> pd.DataFrame:
    """How well AP ranks the cells as their ground-truth accuracy does: over all cells
    (`base` = all) and within each base. The judge-based evaluation is only worth its name
    where these are high."""
    table = with_ap(table)
    groups = [("all", table), *table.groupby("base", sort=False)]
    rows = []
    for base, sub in groups:
        rho, rho_p, tau, tau_p = _corr(sub["ap"], sub["accuracy"], p_values)
        rows.append(
            {
                "base": base,
                "n_cells": int((sub["ap"].notna() & sub["accuracy"].notna()).sum()),
                "spearman_rho": rho,
                "spearman_p": rho_p,
                "kendall_tau": tau,
                "kendall_p": tau_p,
            }
        )
    return pd.DataFrame(rows, columns=AP_ACCURACY_COLUMNS)


def best_teachers(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Per base, the teacher each column puts first: `accuracy` (the ground truth), `ap` and
    every metric (in its better direction); `<column>_right` says whether it is the teacher
    that is truly best. What the README's "what each metric recovers" table is built from."""
    table = with_ap(table)
    columns = ["base", "accuracy"]
    for column in ["ap", *metrics]:
        columns += [column, f"{column}_right"]
    rows = []
    for base, sub in table.groupby("base", sort=False):
        truth = sub.loc[sub["accuracy"].idxmax(), "teacher"]
        row: dict[str, Any] = {"base": base, "accuracy": truth}
        for column in ["ap", *metrics]:
            scored = (direction(column) * sub[column]).dropna()
            top = sub.loc[scored.idxmax(), "teacher"] if len(scored) else None
            row[column] = top
            row[f"{column}_right"] = top == truth
        rows.append(row)
    # (the columns named: a partial report with no finished cell still has its header)
    return pd.DataFrame(rows, columns=columns)


STUDENT_ACCURACY_COLUMNS = [
    "base",
    "untuned_accuracy",
    "n_cells",
    "min_accuracy",
    "median_accuracy",
    "max_accuracy",
    "best_teacher",
]


def student_accuracy(table: pd.DataFrame, untuned: Mapping[str, float]) -> pd.DataFrame:
    """Per base, what fine-tuning did: the base's accuracy before fine-tuning (`untuned`; empty
    where it was not measured) beside the spread of its fine-tuned cells' accuracies and the
    teacher of the most accurate one. A grid whose students stay near the untuned base, or
    all reach the same accuracy, has nothing for a teacher-choosing metric to recover."""
    rows = []
    for base, sub in table.groupby("base", sort=False):
        acc = sub["accuracy"]
        rows.append(
            {
                "base": base,
                "untuned_accuracy": untuned.get(base, math.nan),
                "n_cells": len(sub),
                "min_accuracy": acc.min(),
                "median_accuracy": acc.median(),
                "max_accuracy": acc.max(),
                "best_teacher": sub.loc[acc.idxmax(), "teacher"],
            }
        )
    return pd.DataFrame(rows, columns=STUDENT_ACCURACY_COLUMNS)


def paradox(table: pd.DataFrame) -> pd.DataFrame:
    table = with_ap(table)
    rows = []
    for base, sub in table.groupby("base", sort=False):
        best = sub.loc[sub["ap"].idxmax()]
        sized = sub if "params_b" in sub.columns else sub.iloc[0:0]
        rho, _, tau, _ = _corr(sized["params_b"], sized["ap"]) if len(sized) else (math.nan,) * 4
        largest = sized.loc[sized["params_b"].idxmax()]["teacher"] if len(sized) else None
        rows.append(
            {
                "base": base,
                "best_teacher": best["teacher"],
                "best_ap": best["ap"],
                "largest_teacher": largest,
                "spearman_size_ap": rho,
                "kendall_size_ap": tau,
            }
        )
    return pd.DataFrame(rows, columns=PARADOX_COLUMNS)
