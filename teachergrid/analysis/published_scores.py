"""Published per-cell scores (`evaluation: {scores: FILE}`, `teachergrid analyze`): a screening
table joined to benchmark scores someone else measured, matched by base name and teacher
name or hub id.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from teachergrid.analysis.correlations import correlations, paradox, with_ap, with_paper
from teachergrid.analysis.sensitivity import car_sensitivity, leave_one_base_out
from teachergrid.core.published_format import same_teacher
from teachergrid.evaluation.scores import EVAL_SCORE_COLUMNS
from teachergrid.evaluation.winrates import average_performance

SCORE_COLUMNS = ["alpaca_eval_wr", "alpaca_eval_lc", "arena_hard_wr", "params_b", "family"]


def join_scores(screening: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """The screening table's finished cells with published benchmark scores (the paper's Table
    6, say) set beside them, joined by base and teacher (`same_teacher`); the screening's
    teacher names are kept. Cells without scores are left out."""
    keep = [c for c in SCORE_COLUMNS if c in scores.columns and c not in screening.columns]
    names = {t: next((s for s in screening["teacher"].unique() if same_teacher(t, s)), None)
             for t in scores["teacher"].unique()}  # fmt: skip
    scores = scores.assign(teacher=scores["teacher"].map(names)).dropna(subset=["teacher"])
    return screening.merge(
        scores[["base", "teacher", *keep]], on=["base", "teacher"], how="inner", validate="1:1"
    )


def _one_row_per_cell(table: pd.DataFrame, path: Path) -> None:
    twice = table[table.duplicated(["base", "teacher"])]
    if len(twice):
        base, teacher = twice.iloc[0][["base", "teacher"]]
        raise ValueError(f"{path}: cell {base}/{teacher} appears twice")


def analyze(
    scores: Path, out: Path, screening: Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`teachergrid analyze`: the same analysis on an external per-cell table; with
    `screening` (a screening.csv), its metrics against the table's scores, Table 4 without
    fine-tuning anything."""
    table = pd.read_csv(scores)
    missing = {"base", "teacher", "alpaca_eval_lc", "arena_hard_wr"} - set(table.columns)
    if missing:
        raise ValueError(f"{scores}: missing columns {', '.join(sorted(missing))}")
    _one_row_per_cell(table, scores)
    if screening is not None:
        from teachergrid.analysis.tables import read_screening

        screened = read_screening(screening, finished_only=True)
        _one_row_per_cell(screened, screening)
        table = join_scores(screened, table)
        if table.empty:
            raise ValueError(f"{screening}: no cell of it has a score in {scores}")
    out.mkdir(parents=True, exist_ok=True)
    table = with_ap(table)
    corr = with_paper(correlations(table))
    para = paradox(table)
    table.to_csv(out / "scores.csv", index=False)
    corr.to_csv(out / "correlations.csv", index=False)
    para.to_csv(out / "paradox.csv", index=False)
    rewards = {c.removeprefix("reward_"): c for c in table.columns if c.startswith("reward_")}
    if rewards and "loss" in table.columns:  # CAR's settings, where the table allows them
        sens = car_sensitivity(table, rewards)
        sens.to_csv(out / "car_sensitivity.csv", index=False)
        leave_one_base_out(sens).to_csv(out / "car_transfer.csv", index=False)
    return corr, para


def published_scores(path: Path, cells: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """`evaluation.scores`: the listed cells' benchmark scores from a published table (teachers
    by name or hub id, `join_scores`), in the columns the judged scores have; AP from
    its LC and Arena-Hard win rate. A cell the table does not score has none."""

    frame = pd.DataFrame(list(cells), columns=["base", "teacher"])
    joined = join_scores(frame, pd.read_csv(path))
    out = frame.merge(joined, on=["base", "teacher"], how="left")
    for column in EVAL_SCORE_COLUMNS:
        if column not in out.columns:
            out[column] = float("nan")
    out["alpaca_eval_lc_extreme"] = False
    out["alpaca_eval_lc_method"] = f"published ({path.name})"
    out["ap"] = [
        average_performance(lc, ah)
        for lc, ah in zip(out["alpaca_eval_lc"], out["arena_hard_wr"], strict=True)
    ]
    return out[["base", "teacher", *EVAL_SCORE_COLUMNS]]
