"""How well each screening metric predicts AP: CAR (and the best other metric) against AP per
base, the Table-4 view of every metric's Spearman, and CAR's sensitivity to its settings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from teachergrid.analysis.figures import (
    AP_LABEL,
    Figure,
    Inputs,
    family_legend,
    interval,
    teacher_styles,
)

# metrics that describe the teacher, not its fit to the base: not screening metrics
NOT_SCREENING = ("params_b",)


def screening_rows(corr: pd.DataFrame) -> pd.DataFrame:
    return corr[~corr["metric"].isin(NOT_SCREENING) & corr["spearman_rho"].notna()]


def best_other(corr: pd.DataFrame, base: str, but: str = "car") -> str | None:
    """The metric other than `but` with the highest (direction-adjusted) Spearman on `base`."""
    rows = screening_rows(corr)
    rows = rows[(rows["base"] == base) & (rows["metric"] != but)]
    return None if rows.empty else str(rows.loc[rows["spearman_rho"].idxmax(), "metric"])


def car_against_ap(inputs: Inputs) -> tuple[Figure, Any] | None:
    import matplotlib.pyplot as plt

    table, corr = inputs.metrics, inputs.correlations
    if corr is None or "car" not in table.columns or "ap" not in table.columns:
        return None
    table = table[table["ap"].notna() & table["car"].notna()]
    bases = list(dict.fromkeys(table["base"]))
    if not bases:
        return None
    styles = teacher_styles(inputs.metrics)
    fig, axes = plt.subplots(2, len(bases), figsize=(3.8 * len(bases), 6.6), squeeze=False)
    for j, base in enumerate(bases):
        sub = table[table["base"] == base]
        other = best_other(corr, base)
        for i, metric in enumerate(["car", other]):
            ax = axes[i, j]
            if metric is None or metric not in sub.columns:
                ax.axis("off")
                continue
            for _, row in sub.iterrows():
                style = styles[row["teacher"]]
                ax.scatter(row[metric], row["ap"], color=style.color, marker=style.marker,
                           edgecolor="0.2", linewidth=0.4, s=32)  # fmt: skip
            found = corr[(corr["base"] == base) & (corr["metric"] == metric)]
            stats = found.iloc[0] if len(found) else {}
            rho, tau = interval(stats, "spearman_rho"), interval(stats, "kendall_tau")
            ax.set_title(f"{base}, {metric}\nrho {rho}, tau {tau}, n = {len(sub)}", fontsize=7)
            lower = metric == "loss" or metric.startswith(("ppl_", "ifd_"))
            ax.set_xlabel(metric + (" (lower is better)" if lower else ""))
            ax.set_ylabel("AP (%)")
            ax.grid(alpha=0.3)
    fig.suptitle("CAR (top) and the best other metric (bottom) against AP, per base")
    fig.tight_layout()
    family_legend(fig, inputs.metrics, loc="lower center", ncols=6, bbox_to_anchor=(0.5, -0.06))
    caption = (
        "Each point is one teacher for one base: its screening score before fine-tuning (x) "
        "against the fine-tuned student's AP (y). A metric that predicts the best teacher puts "
        "the points on a rising line (falling, for metrics where lower is better). rho: "
        "Spearman, tau: Kendall, both signed so that positive means the metric ranks the "
        "teachers the way AP does; brackets: 95% bootstrap intervals over instructions."
    )
    return Figure("car_against_ap", "CAR against AP", caption, "Screening metrics"), fig


def table4(inputs: Inputs) -> tuple[Figure, Any] | None:
    """Every metric's Spearman per base with its interval, the best one marked, the paper's
    Table 4 value beside it where the grid is the paper's."""
    import matplotlib.pyplot as plt

    if inputs.correlations is None:
        return None
    corr = screening_rows(inputs.correlations)
    if corr.empty:
        return None
    bases = list(dict.fromkeys(corr["base"]))
    metrics = list(dict.fromkeys(corr["metric"]))
    fig, axes = plt.subplots(1, len(bases), figsize=(2.6 * len(bases) + 1.5, 0.32 * len(metrics)
                             + 1.8), sharey=True, squeeze=False)  # fmt: skip
    has_paper = "paper_spearman_rho" in corr.columns and corr["paper_spearman_rho"].notna().any()
    for ax, base in zip(axes[0], bases, strict=True):
        sub = corr[corr["base"] == base].set_index("metric").reindex(metrics)
        y = np.arange(len(metrics))
        rho = sub["spearman_rho"].to_numpy(dtype=float)
        if "spearman_rho_ci_low" in sub.columns:
            # the interval from its own ends: a percentile bootstrap interval need not contain
            # the point estimate (errorbar's offsets from the point would turn negative)
            low = sub["spearman_rho_ci_low"].to_numpy(dtype=float)
            high = sub["spearman_rho_ci_high"].to_numpy(dtype=float)
            known = ~(np.isnan(low) | np.isnan(high))
            ax.hlines(y[known], low[known], high[known], color="0.5", linewidth=1)
            for end in (low, high):
                ax.plot(end[known], y[known], "|", color="0.5", markersize=5)
        ax.scatter(rho, y, color="black", s=18, zorder=3, label="this study")
        if has_paper:
            ax.scatter(sub["paper_spearman_rho"], y, facecolor="none", edgecolor="#D55E00",
                       marker="D", s=26, zorder=3, label="paper (Table 4)")  # fmt: skip
        if not np.isnan(rho).all():
            best = int(np.nanargmax(rho))
            ax.scatter([rho[best]], [best], marker="*", s=140, color="#E69F00", zorder=4,
                       edgecolor="black", linewidth=0.5, label="best metric")  # fmt: skip
        ax.axvline(0, color="0.6", linewidth=0.8)
        ax.set_xlim(-1.05, 1.05)
        n = sub["n_teachers"].dropna()
        ax.set_title(f"{base}" + (f" (n = {int(n.max())})" if len(n) else ""), fontsize=8)
        ax.set_xlabel("Spearman rho with AP")
        ax.grid(alpha=0.3, axis="x")
    axes[0, 0].set_yticks(range(len(metrics)), metrics)
    axes[0, 0].invert_yaxis()
    axes[0, -1].legend(fontsize=6, loc="lower right")
    fig.suptitle("How well each metric ranks the teachers (the paper's Table 4)")
    fig.tight_layout()
    caption = (
        "Per base, each screening metric's Spearman correlation with AP over the teachers, "
        "signed so that 1 is a perfect ranking; bars: 95% bootstrap intervals over "
        "instructions; star: the best metric for that base; diamonds: the paper's Table 4 "
        "value for the same base and metric, where this study's grid is the paper's."
    )
    return Figure("table4", "Every metric's Spearman with AP", caption, "Screening metrics"), fig


def sensitivity(inputs: Inputs) -> tuple[Figure, Any] | None:
    """CAR's average Spearman over the bases for every reward model and beta, and the settings
    a leave-one-base-out choice picks."""
    import matplotlib.pyplot as plt

    sens = inputs.sensitivity
    if sens is None or sens.empty:
        return None
    targets = list(dict.fromkeys(sens["target"]))
    fig, axes = plt.subplots(1, len(targets), figsize=(5.0 * len(targets), 3.8), squeeze=False)
    transfer = inputs.transfer if inputs.transfer is not None else pd.DataFrame()
    for ax, target in zip(axes[0], targets, strict=True):
        avg = sens[(sens["target"] == target) & (sens["base"] == "average")]
        for i, (rm, part) in enumerate(avg.groupby("reward_model", sort=False)):
            part = part.sort_values("beta")
            ax.plot(part["beta"], part["spearman_rho"], marker="os^Dv"[i % 5], label=rm)
        chosen = (
            transfer[transfer["target"] == target] if "target" in transfer.columns else transfer
        )
        picks = chosen.groupby(["chosen_reward_model", "chosen_beta"]).size() if len(chosen) else {}
        for (rm, beta), count in dict(picks).items():
            hit = avg[(avg["reward_model"] == rm) & (avg["beta"] == beta)]
            if len(hit):
                ax.scatter(beta, hit["spearman_rho"].iloc[0], marker="*", s=160, color="#E69F00",
                           edgecolor="black", zorder=4)  # fmt: skip
                ax.annotate(f"chosen for {count} of {len(chosen)} held-out bases",
                            (beta, hit["spearman_rho"].iloc[0]), fontsize=6,
                            xytext=(4, -10), textcoords="offset points")  # fmt: skip
        ax.set_xscale("symlog", linthresh=0.1)
        ax.set_xlabel("beta (CAR = reward / (1 + beta x loss); symmetric log scale)")
        label = AP_LABEL.split(" (")[0] if target == "ap" else target
        ax.set_ylabel(f"mean Spearman with {label} over bases")
        ax.set_title(f"CAR's settings against {label}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(title="reward model", fontsize=7, title_fontsize=7)
    fig.tight_layout()
    caption = (
        "CAR recomputed for every reward model (lines) and beta (x), averaged over the bases. "
        "beta 0 is the reward alone; larger beta weighs the base's loss more. Stars: the "
        "setting chosen on all bases but one (leave one base out), a choice a researcher "
        "could make without the new base."
    )
    return Figure("car_sensitivity", "CAR's beta and reward model", caption,
                  "Screening metrics"), fig  # fmt: skip
