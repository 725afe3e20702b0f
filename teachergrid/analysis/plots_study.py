"""What the study found beyond the correlations: against the truth where one exists (the tiny
world), what screening would have recommended and where that teacher really ranked, and what
each stage cost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from teachergrid.analysis.figures import Figure, Inputs, interval, short

# the benchmark file's columns (Snakemake's `benchmark:` directive)
SECONDS, RSS_MB = "s", "max_rss"


def read_costs(
    benchmarks: Path, gpus: Callable[[tuple[str, ...]], int] | None = None
) -> pd.DataFrame | None:
    """Per stage (a rule: the first folder under `results/<study>/benchmarks/`, or the file's
    stem for a one-job rule): jobs, wall hours, peak resident memory, and GPU-hours (each job's
    wall time x the GPUs it holds, `gpus(path parts)`)."""
    rows = []
    for path in sorted(benchmarks.rglob("*.tsv")) if benchmarks.is_dir() else []:
        stage = path.relative_to(benchmarks).parts[0].removesuffix(".tsv")
        try:
            frame = pd.read_csv(path, sep="\t")
        except (pd.errors.EmptyDataError, pd.errors.ParserError):
            continue
        if SECONDS not in frame.columns or frame.empty:
            continue
        last = frame.iloc[-1]  # a job benchmarked with repeats: its last run
        rss = pd.to_numeric(last.get(RSS_MB), errors="coerce")
        held = gpus(path.relative_to(benchmarks).parts) if gpus else 0
        seconds = float(last[SECONDS])
        rows.append((stage, seconds, float(rss) if pd.notna(rss) else np.nan, seconds * held))
    if not rows:
        return None
    jobs = pd.DataFrame(rows, columns=["stage", "seconds", "rss_mb", "gpu_seconds"])
    out = jobs.groupby("stage", sort=False).agg(
        jobs=("seconds", "size"),
        wall_h=("seconds", "sum"),
        peak_rss_gib=("rss_mb", "max"),
        gpu_hours=("gpu_seconds", "sum"),
    )
    out["wall_h"] /= 3600
    out["gpu_hours"] /= 3600
    out["peak_rss_gib"] /= 1024
    return out.reset_index().sort_values("wall_h", ascending=False)


def truth(inputs: Inputs) -> tuple[Figure, Any] | None:
    """AP against the cells' accuracy, and each metric's top teacher against the truly best."""
    import matplotlib.pyplot as plt

    table, best = inputs.metrics, inputs.best_teachers
    if "accuracy" not in table.columns or "ap" not in table.columns or best is None:
        return None
    table = table[table["ap"].notna() & table["accuracy"].notna()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), width_ratios=[1, 1.3])
    for i, (base, sub) in enumerate(table.groupby("base", sort=False)):
        left.scatter(sub["accuracy"], sub["ap"], marker="os^Dv<>"[i % 7], label=base, s=26,
                     edgecolor="0.2", linewidth=0.4)  # fmt: skip
    agree = inputs.ap_accuracy
    every = agree[agree["base"] == "all"] if agree is not None else pd.DataFrame()
    rho = interval(every.iloc[0], "spearman_rho") if len(every) else "n/a"
    left.set_title(f"AP against the truth: Spearman {rho}, n = {len(table)} cells", fontsize=9)
    left.set_xlabel("student accuracy (% of exact answers)")
    left.set_ylabel("AP (%)")
    left.grid(alpha=0.3)
    left.legend(title="base", fontsize=7, title_fontsize=7)
    columns = [c.removesuffix("_right") for c in best.columns if c.endswith("_right")]
    right_ = best[[f"{c}_right" for c in columns]].astype(float).to_numpy()
    right.imshow(right_, cmap="Greys", vmin=-0.3, vmax=1.3, aspect="auto")
    for (i, j), value in np.ndenumerate(right_):
        pick = short(best.iloc[i][columns[j]])
        right.text(j, i, ("yes\n" if value else "no\n") + pick, ha="center", va="center",
                   fontsize=5.5, color="white" if value else "black")  # fmt: skip
    right.set_xticks(range(len(columns)), columns, rotation=45, ha="right", fontsize=7)
    right.set_yticks(range(len(best)), [f"{b}\n(best: {short(t)})" for b, t in
                                        zip(best["base"], best["accuracy"], strict=True)],
                     fontsize=7)  # fmt: skip
    right.set_title("Does each metric put the truly best teacher first?", fontsize=9)
    fig.tight_layout()
    caption = (
        "Where the tasks have exact answers (the tiny world), the truth is known. Left: the "
        "judge-based AP against the students' accuracy, one point per cell; AP is only as "
        "good as this agreement. Right: per base, the teacher each metric (and AP) ranks "
        "first, dark where it is the teacher whose student is truly most accurate."
    )
    return Figure("truth", "Against the truth", caption, "Truth"), fig


def recommendation_table(metrics: pd.DataFrame) -> pd.DataFrame | None:
    """Per base: the teacher CAR recommends before fine-tuning and, where AP exists, its rank
    among the base's teachers after fine-tuning, beside the largest teacher's rank."""
    if "car" not in metrics.columns:
        return None
    rows = []
    for base, sub in metrics[metrics["car"].notna()].groupby("base", sort=False):
        pick = sub.loc[sub["car"].idxmax()]
        row = {"base": base, "recommended": pick["teacher"], "car": pick["car"]}
        scored = sub[sub["ap"].notna()] if "ap" in sub.columns else sub.iloc[0:0]
        if len(scored):
            ranks = scored["ap"].rank(ascending=False, method="min")
            row["n_teachers"] = len(scored)
            row["ap_rank"] = ranks.get(pick.name, np.nan)
            row["best_by_ap"] = scored.loc[scored["ap"].idxmax(), "teacher"]
            if "params_b" in scored.columns and scored["params_b"].notna().any():
                largest = scored["params_b"].idxmax()
                row["largest"] = scored.loc[largest, "teacher"]
                row["largest_ap_rank"] = ranks[largest]
        rows.append(row)
    return pd.DataFrame(rows)


def recommendations(inputs: Inputs) -> tuple[Figure, Any] | None:
    import matplotlib.pyplot as plt

    table = recommendation_table(inputs.metrics)
    if table is None or "ap_rank" not in table.columns:
        return None
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(table) + 2), 3.6))
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["ap_rank"], 0.4, color="#0072B2", edgecolor="0.2",
           label="CAR's recommendation")  # fmt: skip
    if "largest_ap_rank" in table.columns:
        ax.bar(x + 0.2, table["largest_ap_rank"], 0.4, color="white", edgecolor="0.2",
               hatch="//", label="the largest teacher")  # fmt: skip
    for i, row in table.iterrows():
        ax.text(i - 0.2, row["ap_rank"], short(row["recommended"]), ha="center",
                va="bottom", fontsize=6, rotation=90)  # fmt: skip
    ax.set_xticks(x, [f"{b}\n(of {int(n)})" for b, n in
                      zip(table["base"], table["n_teachers"], strict=True)])  # fmt: skip
    ax.set_ylabel("rank by AP after fine-tuning (1 = best)")
    ax.invert_yaxis()
    ax.set_ylim(table["n_teachers"].max() + 0.5, 0.5)
    ax.legend(fontsize=7)
    ax.set_title("Screening's pick (top CAR) and where it really ranked")
    caption = (
        "Per base, the teacher with the highest CAR before any fine-tuning, and its rank by AP "
        "once every teacher was fine-tuned (1 is the best teacher for that base), beside the "
        "largest teacher's rank, the common habit. Shorter bars from the top are better picks."
    )
    return Figure("recommendations", "Screening's pick and its real rank", caption,
                  "Screening metrics"), fig  # fmt: skip


def costs(inputs: Inputs) -> tuple[Figure, Any] | None:
    import matplotlib.pyplot as plt

    table = inputs.costs
    if table is None or table.empty:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.3 * len(table) + 2.2))
    y = np.arange(len(table))
    left.barh(y, table["wall_h"], color="#56B4E9", edgecolor="0.2")
    for i, row in enumerate(table.itertuples()):
        note = f"{row.jobs} jobs" + (f", {row.gpu_hours:.1f} GPU-h" if row.gpu_hours else "")
        left.text(row.wall_h, i, " " + note, va="center", fontsize=6)
    left.set_yticks(y, table["stage"], fontsize=7)
    left.invert_yaxis()
    left.set_xlabel("wall time, summed over the stage's jobs (hours)")
    right.barh(y, table["peak_rss_gib"], color="#E69F00", edgecolor="0.2")
    right.set_yticks(y, [""] * len(table))
    right.invert_yaxis()
    right.set_xlabel("peak resident memory of one job (GiB)")
    total = table["wall_h"].sum()
    fig.suptitle(f"What each stage cost: {total:.2f} job-hours in all, "
                 f"{table['gpu_hours'].sum():.1f} GPU-hours")  # fmt: skip
    fig.tight_layout()
    caption = (
        "From Snakemake's benchmark file of every job (results/<study>/benchmarks/): the "
        "stage's jobs' wall time summed, the largest resident memory of any of its jobs, and "
        "GPU-hours (wall time x the GPUs the stage's jobs hold). Under `teachergrid worker` "
        "(`make demo`) each job runs in a process forked from the worker, which the "
        "benchmark does not measure: there the memory is that of the job's thin client."
    )
    return Figure("costs", "What each stage cost", caption, "Cost"), fig
