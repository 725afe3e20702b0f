"""The grid's own figures: AP over bases x teachers, the paper's Figure-2 view, and the
paradox (AP against teacher size) per base."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from teachergrid.analysis.figures import (
    AP_LABEL,
    Figure,
    Inputs,
    family_legend,
    interval,
    short,
    teacher_order,
    teacher_styles,
)

HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--", "**", "||")


def ap_grid(inputs: Inputs) -> pd.DataFrame:
    """AP per (base, teacher), bases as rows in the table's order, teachers as `teacher_order`;
    NaN where a cell has no AP (unfinished, or left out of fine-tuning)."""
    table = inputs.metrics
    bases = list(dict.fromkeys(table["base"]))
    grid = table.pivot_table(index="base", columns="teacher", values="ap", aggfunc="first")
    return grid.reindex(index=bases, columns=teacher_order(table))


def heatmap(inputs: Inputs) -> tuple[Figure, Any] | None:
    import matplotlib.pyplot as plt

    if "ap" not in inputs.metrics.columns:
        return None
    grid = ap_grid(inputs)
    values = grid.to_numpy(dtype=float)
    n_missing = int(np.isnan(values).sum())
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * grid.shape[1] + 2), 0.6 * grid.shape[0] + 2.2))
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        if math.isnan(value):
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="xx",
                                       edgecolor="0.5", linewidth=0))  # fmt: skip
            ax.text(j, i, "missing", ha="center", va="center", fontsize=6, color="0.3")
        else:
            light = image.norm(value) > 0.55
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=7,
                    color="black" if light else "white")  # fmt: skip
    ax.set_xticks(range(grid.shape[1]), [short(t) for t in grid.columns], rotation=60, ha="right")
    ax.set_yticks(range(grid.shape[0]), list(grid.index))
    ax.set_xlabel("teacher (grouped by family, smaller to larger)")
    ax.set_ylabel("base model")
    fig.colorbar(image, ax=ax, label=AP_LABEL, shrink=0.8)
    done = int(values.size - n_missing)
    title = f"AP of every cell: {done} of {values.size} cells"
    ax.set_title(title + (f", {n_missing} missing (hatched)" if n_missing else ""))
    caption = (
        "Each square is one base fine-tuned on one teacher's responses, scored by AP (the mean "
        "of AlpacaEval 2 LC and Arena-Hard win rates, %). Read a row to see which teacher "
        "serves that base best; read a column to see whether a teacher is good for every base. "
        "Hatched squares are cells without a score (unfinished or not fine-tuned)."
    )
    return Figure("ap_heatmap", "AP over bases x teachers", caption, "Grid"), fig


def per_teacher(inputs: Inputs) -> tuple[Figure, Any] | None:
    """The paper's Figure 2: per base, a bar per teacher, coloured by family, darker for larger."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if "ap" not in inputs.metrics.columns:
        return None
    grid = ap_grid(inputs)
    styles = teacher_styles(inputs.metrics)
    families = list(dict.fromkeys(styles[t].label for t in grid.columns))
    hatch = {f: HATCHES[i % len(HATCHES)] for i, f in enumerate(families)}
    n_t = grid.shape[1]
    width = 0.85 / n_t
    fig, ax = plt.subplots(figsize=(max(7.0, 1.6 * grid.shape[0] + 2), 4.2))
    for j, teacher in enumerate(grid.columns):
        style = styles[teacher]
        xs = np.arange(grid.shape[0]) - 0.425 + width * (j + 0.5)
        ax.bar(xs, grid[teacher].fillna(0.0), width, color=style.color, edgecolor="0.2",
               linewidth=0.3, hatch=hatch[style.label])  # fmt: skip
        for x, v in zip(xs, grid[teacher], strict=True):
            if pd.isna(v):
                ax.text(x, 0, "x", ha="center", va="bottom", fontsize=6)
    ax.set_xticks(range(grid.shape[0]), list(grid.index))
    ax.set_xlabel(f"base model ({n_t} teachers each; x: no score)")
    ax.set_ylabel(AP_LABEL)
    ax.legend(
        handles=[Patch(facecolor=styles[next(t for t in grid.columns if styles[t].label == f)]
                       .color, hatch=hatch[f], edgecolor="0.2", label=f) for f in families],
        title="teacher family (darker: larger)", fontsize=7, title_fontsize=7,
        ncols=min(4, len(families)), loc="upper left", frameon=False,
    )  # fmt: skip
    ax.set_title("Each teacher's AP per base (the paper's Figure 2)")
    caption = (
        "For each base, one bar per teacher in family order, smaller members lighter. If "
        "larger teachers made better students, the darkest bar of each family would be the "
        "tallest; where it is not, the base learns more from a smaller teacher."
    )
    return Figure("ap_per_teacher", "Each teacher's AP per base", caption, "Grid"), fig


def paradox(inputs: Inputs) -> tuple[Figure, Any] | None:
    """Per base: AP against the teacher's size, with the size-AP Spearman and its interval."""
    import matplotlib.pyplot as plt

    from teachergrid.analysis.correlations import _corr

    table = inputs.metrics
    if "ap" not in table.columns or "params_b" not in table.columns:
        return None
    table = table[table["ap"].notna() & table["params_b"].notna()]
    bases = list(dict.fromkeys(table["base"]))
    if not bases:
        return None
    styles = teacher_styles(inputs.metrics)
    cols = min(3, len(bases))
    rows = math.ceil(len(bases) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    corr = inputs.correlations
    for ax, base in zip(axes.flat, bases, strict=False):
        sub = table[table["base"] == base]
        for _, row in sub.iterrows():
            style = styles[row["teacher"]]
            ax.scatter(row["params_b"], row["ap"], color=style.color, marker=style.marker,
                       edgecolor="0.2", linewidth=0.4, s=36)  # fmt: skip
        ax.set_xscale("log")
        found = (
            corr[(corr["base"] == base) & (corr["metric"] == "params_b")]
            if corr is not None
            else pd.DataFrame()
        )
        if len(found):
            rho = interval(found.iloc[0], "spearman_rho")
        else:
            value = _corr(sub["params_b"], sub["ap"])[0]
            rho = "n/a" if math.isnan(value) else f"{value:.2f}"
        ax.set_title(f"{base}: Spearman(size, AP) {rho}, n = {len(sub)}", fontsize=8)
        ax.set_xlabel("teacher size (B parameters, log scale)")
        ax.set_ylabel("AP (%)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(bases) :]:
        ax.axis("off")
    fig.suptitle("The paradox: does a larger teacher make a better student?")
    fig.tight_layout()
    spare = list(axes.flat)[len(bases) :]
    if spare:
        family_legend(spare[0], inputs.metrics, loc="center")
    else:
        family_legend(fig, inputs.metrics, loc="lower center", ncols=4,
                      bbox_to_anchor=(0.5, -0.08))  # fmt: skip
    caption = (
        "Each point is one teacher (marker: family, lighter: smaller within its family). A "
        "positive Spearman means larger teachers did better for this base; near zero or "
        "negative is the Larger Models' Paradox. Brackets: 95% bootstrap interval over "
        "instructions, where the study computed one."
    )
    return Figure("paradox", "AP against teacher size", caption, "Grid"), fig
