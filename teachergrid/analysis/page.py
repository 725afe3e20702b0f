"""The study's report as one HTML page: every figure with how to read it, the tables behind the
recommendation, the cells that are missing. Self-contained: the figures are embedded as data
URIs and the page has no script, font or style sheet from anywhere else, so it opens from disk,
attached to an e-mail, or on a machine with no network."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from teachergrid.analysis import plots_grid, plots_metrics, plots_study
from teachergrid.analysis.figures import Figure, Inputs, save, short
from teachergrid.analysis.plots_study import recommendation_table
from teachergrid.core.jsonl import atomic_open

FIGURES = "figures"
PAGE = "index.html"
STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
figure { margin: 1.5em 0; } img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; max-width: 900px; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; } .missing { color: #a00; }
"""


def render(
    inputs: Inputs, folder: Path, title: str, notes: Sequence[str] = ()
) -> tuple[Path, list[Figure]]:
    """Draw every figure under `folder/figures/` (PNG and SVG) and write `folder/index.html`."""
    figures = draw(inputs, folder / FIGURES)
    body = [f"<h1>{html.escape(title)}</h1>"]
    body += [f"<p>{html.escape(n)}</p>" for n in notes]
    missing = _missing(inputs.metrics)
    if missing is not None:
        body.append(
            f'<p class="missing">{len(missing)} cell(s) are missing from this report: their '
            "squares are hatched in the heatmap and they are left out of every correlation.</p>"
        )
        body.append(_table(missing))
    sections = list(dict.fromkeys(f.section for f in figures))
    for section in sections:
        body.append(f"<h2>{html.escape(section)}</h2>")
        for figure in (f for f in figures if f.section == section):
            body.append(_figure(figure, folder))
            if figure.name == "recommendations":
                body.append(_table(recommendation_table(inputs.metrics)))
            if figure.name == "costs" and inputs.costs is not None:
                body.append(_table(inputs.costs))
    recs = recommendation_table(inputs.metrics)
    if recs is not None and not any(f.name == "recommendations" for f in figures):
        body += ["<h2>Screening's recommendation</h2>", _table(recs)]
    if not figures:
        body.append("<p>No figure can be drawn yet: the report has no scored cell.</p>")
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    path = folder / PAGE
    with atomic_open(path) as handle:
        handle.write(page)
    return path, figures


def draw(inputs: Inputs, out: Path) -> list[Figure]:
    """Every figure the inputs allow, written under `out`; a figure without its data is left
    out (the page says which are missing by their absence)."""
    import matplotlib

    matplotlib.use("Agg")
    # text in the SVGs stays text (editable in a paper's figure, searchable), not glyph paths
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "teachergrid"  # the same ids in every run
    makers: Sequence[Callable[[Inputs], tuple[Figure, Any] | None]] = (
        plots_grid.heatmap,
        plots_grid.per_teacher,
        plots_grid.paradox,
        plots_metrics.car_against_ap,
        plots_metrics.table4,
        plots_metrics.sensitivity,
        plots_study.truth,
        plots_study.recommendations,
        plots_study.costs,
    )
    figures = []
    for make in makers:
        drawn = make(inputs)
        if drawn is None:
            continue
        figure, fig = drawn
        figure.files = save(fig, out, figure.name)
        figures.append(figure)
    return figures


def _figure(figure: Figure, folder: Path) -> str:
    png = figure.files["png"]
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    svg = figure.files["svg"].relative_to(folder)
    return (
        f'<figure id="{figure.name}"><img alt="{html.escape(figure.title)}" '
        f'src="data:image/png;base64,{data}">'
        f"<figcaption><b>{html.escape(figure.title)}.</b> {html.escape(figure.caption)} "
        f'(<a href="{svg}">SVG</a>, <a href="{png.relative_to(folder)}">PNG</a>)'
        "</figcaption></figure>"
    )


def _missing(metrics: pd.DataFrame) -> pd.DataFrame | None:
    if "missing" not in metrics.columns:
        return None
    rows = metrics[metrics["missing"].fillna("").astype(str) != ""]
    if rows.empty:
        return None
    return rows[["base", "teacher", "missing"]].rename(columns={"missing": "first unfinished job"})


def _table(frame: pd.DataFrame) -> str:
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype == object:
            shown[column] = shown[column].map(lambda v: short(v) if isinstance(v, str) else v)
    return shown.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="", border=0)
