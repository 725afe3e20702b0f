"""Fan-in: the screening table, the per-base CAR rankings and the whole study's tables, built
over the cells that have finished.

A sweep of a hundred cells rarely finishes in one go: a teacher may not load, a node may die.
The reports are therefore built from whatever cells are complete. Every configured cell has a
row; a cell that is not complete has empty metrics and names, in the `missing` column, the
first job of it that has not finished (its log is `results/<study>/logs/<rule>/...`). A rerun that
completes the cell fills the row in. The correlations use the complete cells only.

The report rules write under `results/<study>/report/`. After a failed run, the workflow's error
handler writes the same reports over the cells that finished under `results/<study>/report/partial/`
(`build_partial`), a folder no rule writes: were they at the rules' output paths, Snakemake
would take them for finished reports and the next run would have nothing to do. The report
rules remove that folder when they write the real ones.

`report_cfg` is the part of the study's config the reports read: `teachers` (name,
`params_b`), `bases`, `reward_models` (names), `car`, and `evaluation` (the analysis settings
`length_control`, `bootstrap`, `seed`) or None for a screening-only study.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from teachergrid.analysis import bootstrap, correlations, sensitivity
from teachergrid.analysis.published_scores import published_scores
from teachergrid.analysis.tables import (
    MISSING,
    MISSING_CELL_COLUMNS,
    _percents,
    _read_screening_inputs,
    cell_correct,
    missing_cells,
    names,
    ranking_markdown,
    read_screening,
    screening_table,
    teacher_correct,
    untuned_accuracy,
)
from teachergrid.core.jsonl import atomic_open, read_jsonl
from teachergrid.evaluation.scores import EVAL_SCORE_COLUMNS
from teachergrid.screening.metrics import map_rewards, mean
from teachergrid.support import layout

log = logging.getLogger(__name__)


def _destination(root: Path, into: Path | None) -> Callable[[str], Path]:
    """Where a report file goes: its rule's output path under `root`, or with `into` the same
    name under that folder (the partial reports)."""
    if into is None:
        return lambda pattern: root / pattern
    return lambda pattern: into / Path(pattern).relative_to(layout.REPORT)


def build_screening(cfg: dict[str, Any], root: Path, into: Path | None = None) -> pd.DataFrame:
    """screening.csv and the rankings, from the files under `root` (the study's folder),
    written where the rule writes them or, with `into`, in that folder."""
    dest = _destination(root, into)
    missing = missing_cells(cfg, root, evaluation=False)
    rewards, compat, reference = _read_screening_inputs(cfg, root, missing)
    table = screening_table(
        cfg,
        rewards,
        compat,
        reference,
        {k: s.rule for k, s in missing.items()},
        _percents(teacher_correct(cfg, root, {t for (_, t) in compat})),
    )
    with atomic_open(dest(layout.SCREENING)) as handle:
        table.to_csv(handle, index=False)
    for base in names(cfg["bases"]):
        logs = {t: s.log for (b, t), s in missing.items() if b == base}
        with atomic_open(dest(layout.RANKINGS.format(base=base))) as handle:
            handle.write(ranking_markdown(table, base, cfg, logs))
    return table


def evaluation_scores(
    cfg: dict[str, Any], root: Path, cells: Sequence[tuple[str, str]]
) -> pd.DataFrame:
    """Every listed cell's benchmark scores, fitted from the judgements of all of them together
    (the length-controlled win rate is a joint fit). An LC that AlpacaEval's own rule calls an
    extreme change from the raw win rate is flagged in `alpaca_eval_lc_extreme` and logged."""
    from teachergrid.evaluation.scores import score_cells

    judgments = {
        f"{b}/{t}": read_jsonl(root / layout.JUDGMENTS.format(base=b, teacher=t)) for b, t in cells
    }
    scores = score_cells(judgments, cfg["evaluation"])
    rows = [{"base": b, "teacher": t, **scores[f"{b}/{t}"]} for b, t in cells]
    return pd.DataFrame(rows, columns=["base", "teacher", *EVAL_SCORE_COLUMNS])


def _with_intervals(
    cfg: dict[str, Any],
    root: Path,
    done: pd.DataFrame,
    sizes: dict[str, Any],
    metrics: list[str],
    tables: dict[str, pd.DataFrame],
    rounds: int,
) -> dict[str, pd.DataFrame]:
    """Bootstrap intervals over instructions for every coefficient of `tables`: `ap` (the
    correlations with AP), and where the truth is known `accuracy` (with accuracy) and
    `ap_accuracy` (AP against accuracy)."""

    data = bootstrap.CellData(cfg, root, list(zip(done["base"], done["teacher"], strict=True)))

    def statistics(replicate: pd.DataFrame) -> pd.DataFrame:
        sized = replicate.assign(params_b=replicate["teacher"].map(sizes))
        # coefficients only: the intervals need no p-values
        parts = [correlations.correlations(sized, metrics, p_values=False).assign(target="ap")]
        if "accuracy" in tables:
            by_truth = correlations.correlations(sized, metrics, "accuracy", p_values=False)
            parts.append(by_truth.assign(target="accuracy"))
            parts.append(
                correlations.ap_accuracy(replicate, p_values=False).assign(
                    metric="ap", target="ap_accuracy"
                )
            )
        return pd.concat(parts, ignore_index=True)

    values = ["spearman_rho", "kendall_tau"]
    keys = ["target", "base", "metric"]
    cis = bootstrap.intervals(
        data, statistics, keys, values, rounds, int(cfg["evaluation"]["seed"])
    )
    out = {}
    for target, table in tables.items():
        ours = cis[cis["target"] == target].drop(columns="target")
        extra = {"metric": "ap"} if "metric" not in table.columns else {}
        merged = bootstrap.merge_intervals(table.assign(**extra), ours, ["base", "metric"], values)
        out[target] = merged.drop(columns=list(extra))
    return out


def build_study(cfg: dict[str, Any], root: Path, into: Path | None = None) -> pd.DataFrame:
    """metrics.csv (screening and benchmark scores per cell); with an evaluation section also
    correlations.csv and paradox.csv, over the complete cells. Reads screening.csv from, and
    writes to, the rules' paths or, with `into`, that folder."""

    dest = _destination(root, into)
    screening = read_screening(dest(layout.SCREENING))
    evaluation = cfg.get("evaluation") is not None
    # published scores (evaluation.scores): a cell is complete once screened
    published = (cfg.get("evaluation") or {}).get("scores")
    missing = missing_cells(cfg, root, evaluation=evaluation and not published)
    finetuned = cfg.get("finetuned")
    complete = [
        (b, t)
        for b in names(cfg["bases"])
        for t in names(cfg["teachers"])
        if (b, t) not in missing and (finetuned is None or [b, t] in finetuned)
    ]
    table = screening
    if evaluation:
        scores = (
            published_scores(Path(published), complete)
            if published
            else evaluation_scores(cfg, root, complete)
        )
        cells = _percents(cell_correct(cfg, root, complete))
        if cells is not None:
            scores["accuracy"] = [
                cells[(b, t)] for b, t in zip(scores["base"], scores["teacher"], strict=True)
            ]
        table = table.merge(scores, on=["base", "teacher"], how="left", validate="1:1")
    table[MISSING] = [
        missing[(b, t)].rule if (b, t) in missing else ""
        for b, t in zip(table["base"], table["teacher"], strict=True)
    ]
    # each teacher's labels beside its cells, so that the table is analysable on its own
    # (`teachergrid analyze --scores metrics.csv`: the paradox needs the teachers' sizes)
    teachers = {t["name"]: t for t in cfg["teachers"]}
    labelled = table.copy()
    labelled.insert(2, "family", [teachers[t].get("family") for t in table["teacher"]])
    labelled.insert(3, "params_b", [teachers[t].get("params_b") for t in table["teacher"]])
    with atomic_open(dest(layout.METRICS)) as handle:
        labelled.to_csv(handle, index=False)
    if evaluation:
        # finished cells with benchmark scores (cells left out of fine-tuning have none)
        done = table[(table[MISSING] == "") & table["ap"].notna()].drop(columns=[MISSING])
        # teachers left out of the correlations (the paper's Table 4 uses the open generators)
        done = done[~done["teacher"].isin(cfg.get("exclude_from_correlations") or [])]
        sizes = {t["name"]: t.get("params_b") for t in cfg["teachers"]}
        sized = done.assign(params_b=done["teacher"].map(sizes))
        metrics = [*correlations.metric_columns(done), "params_b"]
        corr = correlations.with_paper(correlations.correlations(sized, metrics))
        para = correlations.paradox(sized)
        tables = {"ap": corr}
        if "accuracy" in done.columns:
            tables["accuracy"] = correlations.correlations(sized, metrics, "accuracy")
            tables["ap_accuracy"] = correlations.ap_accuracy(done)
        # (published scores have no judgements to redraw: no intervals)
        rounds = 0 if published else int(cfg["evaluation"]["bootstrap"])
        if rounds > 0 and len(done):
            tables = _with_intervals(cfg, root, done, sizes, metrics, tables, rounds)
        with atomic_open(dest(layout.CORRELATIONS)) as handle:
            tables["ap"].to_csv(handle, index=False)
        with atomic_open(dest(layout.PARADOX)) as handle:
            para.to_csv(handle, index=False)
        if "accuracy" in tables:
            for path, name in (
                (layout.ACCURACY_CORRELATIONS, "accuracy"),
                (layout.AP_ACCURACY, "ap_accuracy"),
            ):
                with atomic_open(dest(path)) as handle:
                    tables[name].to_csv(handle, index=False)
            best = correlations.best_teachers(sized, metrics)
            with atomic_open(dest(layout.BEST_TEACHERS)) as handle:
                best.to_csv(handle, index=False)
            checked = table[(table[MISSING] == "") & table["accuracy"].notna()]
            students = correlations.student_accuracy(checked, untuned_accuracy(cfg, root))
            with atomic_open(dest(layout.STUDENT_ACCURACY)) as handle:
                students.to_csv(handle, index=False)
            log.info("students' accuracy:\n%s", students.to_string(index=False))
            log.info("AP against accuracy:\n%s", tables["ap_accuracy"].to_string(index=False))
        corr = tables["ap"]
        # CAR's unknowns (which reward model, which beta) as a measured result
        mapping = cfg["car"].get("reward_mapping") or {"kind": "none"}
        rms = names(cfg["reward_models"])
        mapped = {
            (t, rm): mean(
                map_rewards(
                    [
                        r["reward"]
                        for r in read_jsonl(root / layout.REWARDS.format(teacher=t, rm=rm))
                    ],
                    mapping,
                )
            )
            for t in set(done["teacher"])
            for rm in rms
        }
        scored = done.assign(
            **{
                # (float also with no finished cell, where map gives an empty text column)
                f"car_reward_{rm}": done["teacher"]
                .map(lambda t, rm=rm: mapped[(t, rm)])
                .astype("float64")
                for rm in rms
            }
        )
        betas = cfg["car"].get("betas") or sensitivity.DEFAULT_BETAS
        columns = {rm: f"car_reward_{rm}" for rm in rms}
        targets = ["ap", *(["accuracy"] if "accuracy" in scored.columns else [])]
        sens = pd.concat(
            [sensitivity.car_sensitivity(scored, columns, betas, target) for target in targets],
            ignore_index=True,
        )
        transfer = sensitivity.leave_one_base_out(sens)
        with atomic_open(dest(layout.CAR_SENSITIVITY)) as handle:
            sens.to_csv(handle, index=False)
        with atomic_open(dest(layout.CAR_TRANSFER)) as handle:
            transfer.to_csv(handle, index=False)
        log.info("CAR settings, leave one base out:\n%s", transfer.to_string(index=False))
        log.info("correlations:\n%s", corr[corr["base"] == "average"].to_string(index=False))
        log.info("paradox:\n%s", para.to_string(index=False))
    return table


def build_partial(
    screening_cfg: dict[str, Any],
    study_cfg: dict[str, Any],
    root: Path,
    gpus: dict[str, Any] | None = None,
) -> dict[tuple[str, str], layout.Step]:
    """After a failed run: every report over the cells that finished, under
    `results/<study>/report/partial/`, with `missing.csv` naming each cell that did not (the
    first job of it that has not finished, that job's output and its log), and the page of
    them (`gpus`: `Plan.gpu_counts`, for the cost figure). Returns those cells.

    The folder is built beside its place and moved there in one step, after any earlier one
    is removed: a report that fails to build leaves no partial folder rather than a stale or
    half-written one."""
    remove_partial(root)
    final = root / layout.PARTIAL
    final.parent.mkdir(parents=True, exist_ok=True)
    # (not mkdtemp: its folder is private whatever the umask; these are read like the others)
    work = final.parent / f".partial-{uuid.uuid4().hex[:12]}"
    work.mkdir()
    try:
        build_screening(screening_cfg, root, into=work)
        build_study(study_cfg, root, into=work)
        evaluation = study_cfg.get("evaluation") is not None
        missing = missing_cells(study_cfg, root, evaluation=evaluation)
        rows = [[b, t, step.rule, step.output, step.log] for (b, t), step in missing.items()]
        frame = pd.DataFrame(rows, columns=MISSING_CELL_COLUMNS)
        with atomic_open(work / Path(layout.PARTIAL_MISSING).relative_to(layout.PARTIAL)) as f:
            frame.to_csv(f, index=False)
        _partial_page(work, root, len(missing), gpus)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return missing


def _partial_page(folder: Path, root: Path, missing: int, gpus: dict[str, Any] | None) -> None:
    """The page of the partial reports: the same figures, the missing cells marked."""
    from teachergrid.analysis.figures import Inputs
    from teachergrid.analysis.page import render
    from teachergrid.analysis.plots_study import read_costs
    from teachergrid.support.plan import job_gpus

    note = (
        f"Partial report: {missing} cell(s) did not finish; the figures show the cells that did. "
        "The same command again runs the unfinished jobs and writes the full report."
    )
    costs = read_costs(root / "benchmarks", partial(job_gpus, gpus) if gpus else None)
    render(Inputs.from_folder(folder, costs=costs), folder, f"teachergrid: {root.name} (partial)",
           notes=[note])  # fmt: skip


def withdraw(reports: Iterable[str], root: Path) -> list[str]:
    """Remove the report rules' outputs `reports` where they exist; the ones removed.

    After a failed run they describe results that have changed since (a job that ran, failed
    or not, had its outputs replaced or removed), and Snakemake does not remake a missing
    intermediate file while what it fed is present: reports left in place would make the next
    run find nothing to do, with the failed cell's files missing. Removed, they are rebuilt by
    the run that completes the cells, and the partial reports say meanwhile what finished."""
    removed = []
    for path in reports:
        if (root / path).is_dir():  # the page's figures
            shutil.rmtree(root / path)
            removed.append(path)
        elif (root / path).is_file():
            (root / path).unlink()
            removed.append(path)
            # and the folder it leaves empty (the rankings' screening/)
            folder = (root / path).parent
            if folder != root / layout.REPORT and not any(folder.iterdir()):
                folder.rmdir()
    return removed


def remove_partial(root: Path) -> None:
    """Remove the partial reports of an earlier failed run (the report rules call this once
    they have written the real ones), and what a killed build of them left."""
    folder = root / layout.PARTIAL
    for path in [folder, *folder.parent.glob(".partial-*")]:
        shutil.rmtree(path, ignore_errors=True)
