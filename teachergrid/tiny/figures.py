"""The figures the README states about a finished tiny-world study, read from its report
folder as one flat mapping (name -> number, flag or teacher name).

One reader serves the seeds benchmark (`benchmarks/tiny_seeds.py`, which states them as mean
and range over seeds) and the script that prints every README figure, so a figure in the
README and the number that backs it cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

# The metrics the README compares (metrics.csv's columns; the reward model is the tiny one).
COMPARED = {
    "teacher_accuracy": "teacher_accuracy",
    "reward": "reward_rm-llama",
    "car": "car",
    "loss": "loss",
    "size": "params_b",
}
BETAS = (0.0, 0.1, 1.0, 8.0)


def _average(corr: pd.DataFrame, metric: str) -> pd.Series:
    return corr[(corr["base"] == "average") & (corr["metric"] == metric)].iloc[0]


def figures(report: Path) -> dict[str, Any]:
    """Every README figure of the study whose reports are in `report` (results/<study>/report)."""
    report = Path(report)
    out: dict[str, Any] = {}
    ap_acc = pd.read_csv(report / "ap_accuracy.csv").set_index("base")
    out["ap_accuracy_rho"] = float(ap_acc.loc["all", "spearman_rho"])
    for side in ("low", "high"):
        column = f"spearman_rho_ci_{side}"
        if column in ap_acc.columns:
            out[f"ap_accuracy_rho_ci_{side}"] = float(ap_acc.loc["all", column])
    within = ap_acc.drop(index="all")["spearman_rho"]
    out["ap_accuracy_rho_within_min"] = float(within.min())
    out["ap_accuracy_rho_within_max"] = float(within.max())

    best = pd.read_csv(report / "best_teachers.csv").set_index("base")
    bases = list(best.index)
    own = {b: f"{b.removeprefix('base-')}-m" for b in bases}
    out["bases_whose_truth_is_own_gap_free"] = int(
        sum(best["accuracy"][b] == own[b] for b in bases)
    )
    for name, column in {**COMPARED, "ap": "ap"}.items():
        if f"{column}_right" in best.columns:
            out[f"bases_{name}_finds_best"] = int(best[f"{column}_right"].sum())
    out["ap_top_teachers"] = "/".join(sorted(set(best["ap"])))
    out["reward_top_teachers"] = "/".join(sorted(set(best[COMPARED["reward"]])))

    for target, file in (("accuracy", "accuracy_correlations.csv"), ("ap", "correlations.csv")):
        corr = pd.read_csv(report / file)
        for name, metric in COMPARED.items():
            if metric == "teacher_accuracy" and target == "ap":
                continue
            row = _average(corr, metric)
            out[f"{target}_avg_rho_{name}"] = float(row["spearman_rho"])

    students = pd.read_csv(report / "student_accuracy.csv")
    out["untuned_accuracy_max"] = float(students["untuned_accuracy"].max())
    out["cell_accuracy_min"] = float(students["min_accuracy"].min())
    out["cell_accuracy_max"] = float(students["max_accuracy"].max())
    out["best_cell_accuracy_min"] = float(students["max_accuracy"].min())

    metrics = pd.read_csv(report / "metrics.csv")
    teacher_acc = metrics.groupby("teacher")["teacher_accuracy"].first()
    gap_free = teacher_acc[[t for t in teacher_acc.index if t.endswith("-m")]]
    out["gap_free_teacher_accuracy_min"] = float(gap_free.min())
    out["gap_free_teacher_accuracy_max"] = float(gap_free.max())
    gappy = teacher_acc.drop(index=gap_free.index)
    out["gappy_teacher_accuracy_min"] = float(gappy.min())
    out["gappy_teacher_accuracy_max"] = float(gappy.max())

    sens = pd.read_csv(report / "car_sensitivity.csv")
    average = sens[sens["base"] == "average"]
    for target in ("ap", "accuracy"):
        part = average[average["target"] == target].set_index("beta")["spearman_rho"]
        for beta in BETAS:
            if beta in part.index:
                out[f"car_beta_{beta:g}_avg_rho_{target}"] = float(part[beta])
        out[f"car_best_beta_{target}"] = float(part.idxmax())
    transfer = pd.read_csv(report / "car_transfer.csv")
    for target, part in transfer.groupby("target"):
        out[f"car_transfer_betas_{target}"] = "/".join(f"{b:g}" for b in part["chosen_beta"])
    return out
