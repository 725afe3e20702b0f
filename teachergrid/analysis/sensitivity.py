"""CAR's beta: how the correlation of CAR with AP moves with beta (car_sensitivity.csv), and
whether a beta chosen on the other bases transfers to a held-out one (car_transfer.csv).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from teachergrid.analysis.correlations import _corr, with_ap
from teachergrid.screening.metrics import MetricError, check_reward

DEFAULT_BETAS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


SENSITIVITY_COLUMNS = [
    "target",
    "reward_model",
    "beta",
    "base",
    "n_teachers",
    "spearman_rho",
    "kendall_tau",
]


TRANSFER_COLUMNS = [
    "target",
    "held_out_base",
    "chosen_reward_model",
    "chosen_beta",
    "train_spearman_rho",
    "held_out_spearman_rho",
    "held_out_best_spearman_rho",
    "held_out_best_setting",
]


def car_sensitivity(
    table: pd.DataFrame,
    rewards: dict[str, str],
    betas: tuple[float, ...] | list[float] = DEFAULT_BETAS,
    target: str = "ap",
) -> pd.DataFrame:
    """CAR = r / (1 + beta L) recomputed for every reward model and beta, correlated per base
    (and averaged) with `target`: AP, or where the truth is known the cells' `accuracy`. Which
    setting the data supports. `rewards`: reward-model name -> the column holding each cell's
    mean (positive, mapped) reward. Rows with no target value are left out."""
    table = with_ap(table)
    table = table[table[target].notna() & table["loss"].notna()]
    rows = []
    for rm, column in rewards.items():
        for teacher, reward in zip(table["teacher"], table[column], strict=True):
            try:
                check_reward(float(reward))
            except MetricError as exc:
                raise MetricError(f"teacher {teacher}, reward model {rm}: {exc}") from None
        for beta in betas:
            score = table[column] / (1.0 + float(beta) * table["loss"])
            per_base = []
            for base, sub in table.assign(score=score).groupby("base", sort=False):
                rho, _, tau, _ = _corr(sub["score"], sub[target])
                per_base.append((base, int(sub["score"].notna().sum()), rho, tau))
            rows += [(target, rm, float(beta), *r) for r in per_base]
            if per_base:
                rows.append((target, rm, float(beta), "average",
                             int(np.mean([r[1] for r in per_base])),
                             _mean_of_defined([r[2] for r in per_base]),
                             _mean_of_defined([r[3] for r in per_base])))  # fmt: skip
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def _mean_of_defined(values: list[float]) -> float:
    """The mean of the coefficients that are defined (a base whose target or metric is
    constant has none); NaN when no base has one."""
    defined = [v for v in values if not math.isnan(v)]
    return float(np.mean(defined)) if defined else math.nan


def leave_one_base_out(sensitivity: pd.DataFrame) -> pd.DataFrame:
    """For each target and base held out: the (reward model, beta) with the best mean Spearman
    over the other bases, and how it does on the held-out one (against the best any setting
    gets there). A setting that transfers is one a researcher could have chosen without the
    base."""
    rows = []
    for target, part in sensitivity.groupby("target", sort=False):
        per_base = part[part["base"] != "average"]
        for held in dict.fromkeys(per_base["base"]):
            train = per_base[per_base["base"] != held]
            if train.empty:
                continue
            means = train.groupby(["reward_model", "beta"], sort=False)["spearman_rho"].mean()
            test = per_base[per_base["base"] == held].set_index(["reward_model", "beta"])
            held_rho = test["spearman_rho"].dropna()
            row: dict[str, Any] = {"target": target, "held_out_base": held}
            # no defined coefficient (every cell's target, or every score, is the same): no
            # setting can be chosen or judged, and the row says so with empty values
            if means.notna().any():
                rm, beta = means.idxmax()
                row.update(
                    chosen_reward_model=rm,
                    chosen_beta=beta,
                    train_spearman_rho=float(means.max()),
                    held_out_spearman_rho=float(test.loc[(rm, beta), "spearman_rho"]),
                )
            if len(held_rho):
                best = held_rho.idxmax()
                row.update(
                    held_out_best_spearman_rho=float(held_rho.max()),
                    held_out_best_setting=f"{best[0]}, beta {best[1]:g}",
                )
            rows.append(row)
    return pd.DataFrame(rows, columns=TRANSFER_COLUMNS)
