"""The study's figures: what they are drawn from, how they look, where they are written.

Every figure is drawn from the report's own tables (metrics.csv, correlations.csv, ...), never
from the cells' files, so the figures of a study, of its partial report and of an external
table (`teachergrid analyze`) are the same functions of the same columns. Each is written as PNG
(for the page and slides) and SVG (for a paper), readable in grey scale: families differ by
marker as well as by colour, sizes by shade, and heatmaps use a colour map whose lightness
rises monotonically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
# Okabe-Ito: distinguishable for the common colour-vision deficiencies
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
AP_LABEL = "AP (%: mean of AlpacaEval 2 LC and Arena-Hard WR)"


@dataclass
class Figure:
    """One drawn figure: `name` (its files' stem), `title`, `caption` (how to read it)."""

    name: str
    title: str
    caption: str
    section: str
    files: dict[str, Path] = field(default_factory=dict)


@dataclass
class Inputs:
    """The tables a study's figures are drawn from; None where the study has none (no
    evaluation, no tiny world's truth, no benchmark files, an external table)."""

    metrics: pd.DataFrame
    correlations: pd.DataFrame | None = None
    sensitivity: pd.DataFrame | None = None
    transfer: pd.DataFrame | None = None
    ap_accuracy: pd.DataFrame | None = None
    best_teachers: pd.DataFrame | None = None
    costs: pd.DataFrame | None = None

    @classmethod
    def from_folder(
        cls, folder: Path, metrics: str = "metrics.csv", costs: pd.DataFrame | None = None
    ) -> Inputs:
        """The tables of a report folder (`results/<study>/report/`, its `partial/`, or an
        `analyze --out` folder, whose per-cell table is `scores.csv`)."""

        def read(name: str) -> pd.DataFrame | None:
            path = folder / name
            return pd.read_csv(path) if path.is_file() else None

        table = read(metrics)
        if table is None:
            raise FileNotFoundError(f"{folder / metrics}: no per-cell table to draw from")
        return cls(
            metrics=table,
            correlations=read("correlations.csv"),
            sensitivity=read("car_sensitivity.csv"),
            transfer=read("car_transfer.csv"),
            ap_accuracy=read("ap_accuracy.csv"),
            best_teachers=read("best_teachers.csv"),
            costs=costs,
        )


def short(name: str) -> str:
    """A teacher's label: a hub id without its organisation."""
    return str(name).split("/")[-1]


def teacher_order(metrics: pd.DataFrame) -> list[str]:
    """Teachers grouped by family (families by their largest member), by size within one."""
    table = metrics.drop_duplicates("teacher").copy()
    if "family" not in table.columns:
        table["family"] = table["teacher"]
    family = table["family"].astype(object)
    table["family"] = family.where(family.notna(), table["teacher"]).astype(str)
    size = table["params_b"] if "params_b" in table.columns else pd.Series(0.0, table.index)
    table["size"] = pd.to_numeric(size, errors="coerce").fillna(0.0)
    largest = table.groupby("family")["size"].transform("max")
    table = table.assign(largest=largest).sort_values(["largest", "family", "size", "teacher"])
    return list(table["teacher"])


@dataclass(frozen=True)
class Style:
    color: str
    marker: str
    label: str


def teacher_styles(metrics: pd.DataFrame) -> dict[str, Style]:
    """Per teacher: its family's colour, lighter for smaller members, and its family's marker."""
    from matplotlib.colors import to_hex, to_rgb

    table = metrics.drop_duplicates("teacher").set_index("teacher")
    families = list(dict.fromkeys(family_of(table, t) for t in teacher_order(metrics)))
    styles = {}
    for i, family in enumerate(families):
        members = [t for t in teacher_order(metrics) if family_of(table, t) == family]
        base = to_rgb(PALETTE[i % len(PALETTE)])
        for rank, teacher in enumerate(members):
            # the largest member in the family's full colour, smaller ones mixed with white
            share = 1.0 if len(members) == 1 else 0.45 + 0.55 * rank / (len(members) - 1)
            rgb = tuple(1 - share * (1 - c) for c in base)
            styles[teacher] = Style(
                to_hex(rgb),
                MARKERS[i % len(MARKERS)],
                family,
            )
    return styles


def family_of(table: pd.DataFrame, teacher: str) -> str:
    if "family" in table.columns and isinstance(table.loc[teacher, "family"], str):
        return str(table.loc[teacher, "family"])
    return short(teacher)


def interval(row: pd.Series | dict[str, Any], column: str) -> str:
    """`0.62 [0.40, 0.81]`, the interval where the table has one."""
    value = row.get(column, math.nan)
    if value is None or pd.isna(value):
        return "n/a"
    low, high = row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high")
    if low is not None and high is not None and not (pd.isna(low) or pd.isna(high)):
        return f"{value:.2f} [{low:.2f}, {high:.2f}]"
    return f"{value:.2f}"


def family_legend(target: Any, metrics: pd.DataFrame, **kwargs: Any) -> None:
    """A legend of the teachers' families (each in its largest member's colour and marker) on
    `target`, an axis or a whole figure."""
    from matplotlib.lines import Line2D

    styles = teacher_styles(metrics)
    largest: dict[str, Style] = {}
    for teacher in teacher_order(metrics):  # smaller to larger: the last one stays
        largest[styles[teacher].label] = styles[teacher]
    handles = [
        Line2D([], [], linestyle="", marker=s.marker, markerfacecolor=s.color,
               markeredgecolor="0.2", label=family)
        for family, s in largest.items()
    ]  # fmt: skip
    target.legend(handles=handles, title="teacher family (lighter: smaller)", fontsize=7,
                  title_fontsize=7, frameon=False, **kwargs)  # fmt: skip


def save(fig: Any, out: Path, name: str) -> dict[str, Path]:
    """The figure as PNG and SVG under `out`; written to a temporary name, then moved, so a
    killed job leaves no half-written figure under the real one."""
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for ext in ("png", "svg"):
        path = out / f"{name}.{ext}"
        tmp = out / f".{name}.tmp.{ext}"
        # no creation date in the files: the same tables draw the same bytes
        fig.savefig(tmp, dpi=150 if ext == "png" else None, bbox_inches="tight",
                    metadata={"Date": None} if ext == "svg" else None)  # fmt: skip
        tmp.replace(path)
        files[ext] = path
    plt.close(fig)
    return files
