"""How many instructions a screening ranking needs: CAR's and the mean reward's ranking of the
teachers over growing prefixes of a screen's instructions, against its own final ranking and
against a truth (benchmark scores or accuracy of fine-tuned cells).

A screen's records (`records.jsonl`) hold every scored response in the order the instructions
were drawn, so any prefix is a smaller screen on the same random sample. The question a
researcher asks of a finished screen with many instructions ("would a tenth of them have given
the same answer?") is answered from these prefixes without scoring anything again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from teachergrid.screening.rounds import per_instruction, ranked, schedule

METRICS = ("car", "reward")

STEP_COLUMNS = ["instructions", "metric", "leader", "leader_truth_rank", "top3",
                "spearman_final", "spearman_truth", "kendall_truth"]  # fmt: skip
SUMMARY_COLUMNS = ["metric", "instructions", "leader", "leader_truth_rank", "truth_best",
                   "leader_stable_from", "top3_stable_from", "order_stable_from",
                   "spearman_truth"]  # fmt: skip


def scores_at(rewards: Mapping[str, np.ndarray], losses: Mapping[str, np.ndarray], beta: float,
              n: int) -> dict[str, dict[str, float]]:  # fmt: skip
    """Each metric's per-teacher value on the first n instructions (CAR from the means, as the
    screen computes it)."""
    reward = {t: float(v[:n].mean()) for t, v in rewards.items()}
    car = {t: reward[t] / (1.0 + beta * float(losses[t][:n].mean())) for t in rewards}
    return {"car": car, "reward": reward}


def convergence(
    records: Sequence[Mapping[str, Any]],
    beta: float,
    truth: Mapping[str, float] | None = None,
    first: int = 16,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per prefix (first, 2 x first, ..., every instruction) and metric: the leader, the
    Spearman with the metric's own ranking on every instruction and, with `truth` (higher is
    better, per teacher), the leader's rank by the truth (ties share the better rank) and the
    Spearman and Kendall with it. Then per metric: from how many instructions on the leader,
    the top three (as a set) and the whole order no longer change."""
    from scipy.stats import kendalltau, spearmanr

    order, rewards, losses = per_instruction(records)
    steps = schedule(len(order), first)
    final = scores_at(rewards, losses, beta, len(order))
    truth = {t: v for t, v in (truth or {}).items() if t in rewards and not np.isnan(v)}
    truth_order = ranked(truth)
    rows = []
    for n in steps:
        for metric, values in scores_at(rewards, losses, beta, n).items():
            teachers = list(values)
            mine = [values[t] for t in teachers]
            judged = [t for t in teachers if t in truth]
            order_now = ranked(values)
            leader = order_now[0]
            row = {
                "instructions": n,
                "metric": metric,
                "leader": leader,
                "leader_truth_rank": _rank(truth, leader),
                "top3": "/".join(sorted(order_now[:3])),
                "spearman_final": spearmanr(mine, [final[metric][t] for t in teachers])[0],
                "spearman_truth": np.nan,
                "kendall_truth": np.nan,
            }
            if len(judged) >= 3:
                x, y = [values[t] for t in judged], [truth[t] for t in judged]
                row["spearman_truth"] = spearmanr(x, y)[0]
                row["kendall_truth"] = kendalltau(x, y)[0]
            rows.append({**row, "_order": tuple(order_now)})
    steps_table = pd.DataFrame(rows)
    summary = []
    for metric in METRICS:
        part = steps_table[steps_table["metric"] == metric].reset_index(drop=True)
        last = part.iloc[-1]
        summary.append(
            {
                "metric": metric,
                "instructions": int(last["instructions"]),
                "leader": last["leader"],
                "leader_truth_rank": last["leader_truth_rank"],
                "truth_best": truth_order[0] if truth_order else None,
                "leader_stable_from": _stable_from(part, part["leader"]),
                "top3_stable_from": _stable_from(part, part["top3"]),
                "order_stable_from": _stable_from(part, part["_order"]),
                "spearman_truth": last["spearman_truth"],
            }
        )
    return steps_table[STEP_COLUMNS], pd.DataFrame(summary, columns=SUMMARY_COLUMNS)


def _rank(values: Mapping[str, float], teacher: str) -> int | None:
    """1 + the teachers strictly better by `values` (tied teachers share the better rank)."""
    if teacher not in values:
        return None
    return 1 + sum(v > values[teacher] for v in values.values())


def _stable_from(part: pd.DataFrame, values: pd.Series) -> int:
    """The fewest instructions from which `values` equals its value on every instruction."""
    k = len(values) - 1
    while k > 0 and values.iloc[k - 1] == values.iloc[-1]:
        k -= 1
    return int(part["instructions"].iloc[k])
