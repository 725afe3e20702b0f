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
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from teachergrid.core.jsonl import atomic_open, read_json, read_jsonl
from teachergrid.evaluation.accuracy import checked_files, percent
from teachergrid.evaluation.judging import COUNT_COLUMNS
from teachergrid.evaluation.winrates import average_performance
from teachergrid.screening.metrics import MetricError, car, map_rewards, mean
from teachergrid.support import layout

K = TypeVar("K")
log = logging.getLogger(__name__)

SCREENING_COLUMNS = [
    "beta",
    "reward",
    "loss",
    "ppl_self",
    "ifd_self",
    "ppl_ref",
    "ifd_ref",
    "length",
    "car",
]
EVAL_SCORE_COLUMNS = [
    "alpaca_eval_wr",
    "alpaca_eval_lc",
    "alpaca_eval_lc_extreme",
    "alpaca_eval_lc_method",
    "arena_hard_wr",
    "arena_hard_ci_low",
    "arena_hard_ci_high",
    "ap",
    *COUNT_COLUMNS,
]
MISSING = "missing"
# the columns of the partial reports' list of missing cells
MISSING_CELL_COLUMNS = ["base", "teacher", "rule", "output", "log"]


def _destination(root: Path, into: Path | None) -> Callable[[str], Path]:
    """Where a report file goes: its rule's output path under `root`, or with `into` the same
    name under that folder (the partial reports)."""
    if into is None:
        return lambda pattern: root / pattern
    return lambda pattern: into / Path(pattern).relative_to(layout.REPORT)


def names(items: Sequence[Any]) -> list[str]:
    """The names of config entries (mappings with a `name`) or of plain names."""
    return [i["name"] if isinstance(i, Mapping) else str(i) for i in items]


def missing_cells(
    report_cfg: dict[str, Any], root: Path, evaluation: bool
) -> dict[tuple[str, str], layout.Step]:
    """(base, teacher) -> the first unfinished job, for every cell that is not complete. A
    cell that is not fine-tuned (`finetuned`: the fine-tuned cells, when not all are) is
    complete after its screening jobs."""
    rms = names(report_cfg["reward_models"])
    finetuned = report_cfg.get("finetuned")
    out = {}
    for base in names(report_cfg["bases"]):
        for teacher in names(report_cfg["teachers"]):
            tuned = evaluation and (finetuned is None or [base, teacher] in finetuned)
            step = layout.first_unfinished(
                root, base, teacher, rms, tuned, report_cfg.get("judge_rule", "evaluate")
            )
            if step is not None:
                out[(base, teacher)] = step
    return out


def screening_table(
    cfg: dict[str, Any],
    rewards: Mapping[tuple[str, str], Sequence[float]],
    compat: Mapping[tuple[str, str], dict[str, float]],
    reference: Mapping[str, dict[str, float]],
    missing: Mapping[tuple[str, str], str] | None = None,
    teacher_accuracy: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """screening.csv's rows, one per (base, teacher).

    rewards: (teacher, reward model) -> per-response rewards;
    compat: (base, teacher) -> summary of the base's losses on the teacher's responses;
    reference: teacher -> summary of the reference model's losses;
    missing: (base, teacher) -> the unfinished job of a cell without data (its row is empty);
    teacher_accuracy: teacher -> percent of its responses that give the exact answer (where the
    instructions carry answers; the column is absent otherwise).
    """
    missing = missing or {}
    beta = float(cfg["car"]["beta"])
    car_rm = cfg["car"]["reward_model"]
    mapping = cfg["car"]["reward_mapping"]
    rm_names = names(cfg["reward_models"])
    rows = []
    for b in names(cfg["bases"]):
        for t in names(cfg["teachers"]):
            row: dict[str, Any] = {"base": b, "teacher": t}
            if (b, t) in missing:
                row[MISSING] = missing[(b, t)]
                rows.append(row)
                continue
            for rm in rm_names:
                row[f"reward_{rm}"] = mean(rewards[(t, rm)])
            reward = mean(map_rewards(rewards[(t, car_rm)], mapping))
            summary = compat[(b, t)]
            try:
                score = car(reward, summary["loss"], beta)
            except MetricError as exc:
                raise MetricError(f"teacher {t}, reward model {car_rm}: {exc}") from None
            row.update(
                beta=beta,
                reward=reward,
                loss=summary["loss"],
                ppl_self=summary["ppl"],
                ifd_self=summary["ifd"],
                ppl_ref=reference[t]["ppl"],
                ifd_ref=reference[t]["ifd"],
                length=summary["length"],
                car=score,
                missing="",
            )
            if teacher_accuracy is not None:
                row["teacher_accuracy"] = teacher_accuracy[t]
            rows.append(row)
    columns = [
        "base",
        "teacher",
        *(f"reward_{rm}" for rm in rm_names),
        *SCREENING_COLUMNS,
        *(["teacher_accuracy"] if teacher_accuracy is not None else []),
        MISSING,
    ]
    return pd.DataFrame(rows, columns=columns)


def ranking_markdown(
    table: pd.DataFrame, base: str, cfg: dict[str, Any], logs: Mapping[str, str] | None = None
) -> str:
    """Teachers for one base, best CAR first; then the teachers not scored yet."""
    sub = table[(table["base"] == base) & (table[MISSING].fillna("") == "")]
    sub = sub.sort_values("car", ascending=False)
    params = {t["name"]: t.get("params_b") for t in cfg["teachers"]}
    lines = [
        f"# Teachers for {base}, ranked by CAR",
        "",
        f"CAR = reward / (1 + beta * loss), beta = {cfg['car']['beta']}, reward model "
        f"`{cfg['car']['reward_model']}` (mapping: {cfg['car']['reward_mapping']['kind']}).",
        "",
        "| rank | teacher | params (B) | reward | loss | ppl_self | ifd_self | length | CAR |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rank, row in enumerate(sub.itertuples(index=False), start=1):
        p = params.get(row.teacher)
        lines.append(
            f"| {rank} | {row.teacher} | {'' if p is None else f'{p:g}'} | {row.reward:.4f} "
            f"| {row.loss:.4f} | {row.ppl_self:.3f} | {row.ifd_self:.4f} | {row.length:.1f} "
            f"| {row.car:.4f} |"
        )
    absent = table[(table["base"] == base) & (table[MISSING].fillna("") != "")]
    if len(absent):
        lines += ["", "Not ranked (a job of the cell has not finished):", ""]
        for row in absent.itertuples(index=False):
            where = (logs or {}).get(row.teacher)
            lines.append(
                f"- {row.teacher}: `{getattr(row, MISSING)}`"
                + (f" (log: `{where}`)" if where else "")
            )
    return "\n".join(lines) + "\n"


def _read_screening_inputs(
    cfg: dict[str, Any], root: Path, missing: Mapping[tuple[str, str], layout.Step]
) -> tuple[dict, dict, dict]:
    bases, teachers, rms = (names(cfg[k]) for k in ("bases", "teachers", "reward_models"))
    done = {(b, t) for b in bases for t in teachers if (b, t) not in missing}
    done_teachers = {t for _, t in done}
    rewards = {
        (t, rm): [r["reward"] for r in read_jsonl(root / layout.REWARDS.format(teacher=t, rm=rm))]
        for t in done_teachers
        for rm in rms
    }
    compat = {
        (b, t): read_json(root / layout.COMPATIBILITY.format(base=b, teacher=t)) for b, t in done
    }
    reference = {t: read_json(root / layout.REFERENCE.format(teacher=t)) for t in done_teachers}
    return rewards, compat, reference


def teacher_correct(
    cfg: dict[str, Any], root: Path, teachers: Iterable[str]
) -> dict[str, dict[str, bool]] | None:
    """Whether each teacher response on the screening split gives the exact answer, by id;
    None where the instructions carry no answers (no `accuracy` in the config)."""
    acc = cfg.get("accuracy")
    if not acc:
        return None
    files = {t: root / layout.RESPONSES.format(teacher=t) for t in sorted(teachers)}
    return checked_files(Path(acc["screening"]), acc["column"], acc["checker"], files, "response")


def cell_correct(
    cfg: dict[str, Any], root: Path, cells: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, bool]] | None:
    """Whether each fine-tuned cell's answer on the evaluation split is exact, by prompt id;
    None where the evaluation prompts carry no answers."""
    if not (cfg.get("accuracy") or {}).get("evaluation"):
        return None
    files = {(b, t): root / layout.ANSWERS.format(base=b, teacher=t) for b, t in cells}
    return _answers_correct(cfg, root, files)


def _answers_correct(
    cfg: dict[str, Any], root: Path, files: Mapping[K, Path]
) -> dict[K, dict[str, bool]]:
    acc = cfg["accuracy"]
    return checked_files(Path(acc["evaluation"]), acc["column"], acc["checker"], files, "answer")


def untuned_accuracy(cfg: dict[str, Any], root: Path) -> dict[str, float]:
    """Each base's accuracy on the evaluation split before fine-tuning (rule evaluate_untuned),
    for the bases whose answers exist (a failed job leaves its base out)."""
    files = {b: root / layout.UNTUNED_ANSWERS.format(base=b) for b in names(cfg["bases"])}
    found = {b: path for b, path in files.items() if path.exists()}
    return {b: percent(flags) for b, flags in _answers_correct(cfg, root, found).items()}


def _percents(correct: Mapping[Any, Mapping[str, bool]] | None) -> dict[Any, float] | None:
    return None if correct is None else {k: percent(v) for k, v in correct.items()}


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
    from teachergrid.evaluation.judging import score_cells

    judgments = {
        f"{b}/{t}": read_jsonl(root / layout.JUDGMENTS.format(base=b, teacher=t)) for b, t in cells
    }
    scores = score_cells(judgments, cfg["evaluation"])
    rows = [{"base": b, "teacher": t, **scores[f"{b}/{t}"]} for b, t in cells]
    return pd.DataFrame(rows, columns=["base", "teacher", *EVAL_SCORE_COLUMNS])


def published_scores(path: Path, cells: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """`evaluation.scores`: the listed cells' benchmark scores from a published table (teachers
    by name or hub id, `analysis.join_scores`), in the columns the judged scores have; AP from
    its LC and Arena-Hard win rate. A cell the table does not score has none."""
    from teachergrid.analysis.correlations import join_scores

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
    from teachergrid.analysis import bootstrap
    from teachergrid.analysis import correlations as analysis

    data = bootstrap.CellData(cfg, root, list(zip(done["base"], done["teacher"], strict=True)))

    def statistics(replicate: pd.DataFrame) -> pd.DataFrame:
        sized = replicate.assign(params_b=replicate["teacher"].map(sizes))
        # coefficients only: the intervals need no p-values
        parts = [analysis.correlations(sized, metrics, p_values=False).assign(target="ap")]
        if "accuracy" in tables:
            by_truth = analysis.correlations(sized, metrics, "accuracy", p_values=False)
            parts.append(by_truth.assign(target="accuracy"))
            parts.append(
                analysis.ap_accuracy(replicate, p_values=False).assign(
                    metric="ap", target="ap_accuracy"
                )
            )
        return pd.concat(parts, ignore_index=True)

    values = ["spearman_rho", "kendall_tau"]
    keys = ["target", "base", "metric"]
    cis = bootstrap.intervals(
        data, statistics, keys, values, rounds, int(cfg["evaluation"].get("seed", 0))
    )
    out = {}
    for target, table in tables.items():
        ours = cis[cis["target"] == target].drop(columns="target")
        extra = {"metric": "ap"} if "metric" not in table.columns else {}
        merged = bootstrap.merge_intervals(table.assign(**extra), ours, ["base", "metric"], values)
        out[target] = merged.drop(columns=list(extra))
    return out


def read_screening(path: Path, finished_only: bool = False) -> pd.DataFrame:
    """screening.csv as build_screening wrote it, less its `missing` column (and with
    `finished_only`, less the cells it names as missing). Every metric column is numeric,
    also where no cell has a value yet (a partial report)."""
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if finished_only:
        table = table[table[MISSING].isna()].reset_index(drop=True)
    table = table.drop(columns=[MISSING])
    for column in table.columns.drop(["base", "teacher"]):
        if not pd.api.types.is_numeric_dtype(table[column]):
            table[column] = pd.to_numeric(table[column]).astype("float64")
    return table


def build_study(cfg: dict[str, Any], root: Path, into: Path | None = None) -> pd.DataFrame:
    """metrics.csv (screening and benchmark scores per cell); with an evaluation section also
    correlations.csv and paradox.csv, over the complete cells. Reads screening.csv from, and
    writes to, the rules' paths or, with `into`, that folder."""
    from teachergrid.analysis import correlations as analysis

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
        metrics = [*analysis.metric_columns(done), "params_b"]
        corr = analysis.with_paper(analysis.correlations(sized, metrics))
        para = analysis.paradox(sized)
        tables = {"ap": corr}
        if "accuracy" in done.columns:
            tables["accuracy"] = analysis.correlations(sized, metrics, "accuracy")
            tables["ap_accuracy"] = analysis.ap_accuracy(done)
        # (published scores have no judgements to redraw: no intervals)
        rounds = 0 if published else int(cfg["evaluation"].get("bootstrap", 100))
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
            best = analysis.best_teachers(sized, metrics)
            with atomic_open(dest(layout.BEST_TEACHERS)) as handle:
                best.to_csv(handle, index=False)
            checked = table[(table[MISSING] == "") & table["accuracy"].notna()]
            students = analysis.student_accuracy(checked, untuned_accuracy(cfg, root))
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
        betas = cfg["car"].get("betas") or analysis.DEFAULT_BETAS
        columns = {rm: f"car_reward_{rm}" for rm in rms}
        targets = ["ap", *(["accuracy"] if "accuracy" in scored.columns else [])]
        sens = pd.concat(
            [analysis.car_sensitivity(scored, columns, betas, target) for target in targets],
            ignore_index=True,
        )
        transfer = analysis.leave_one_base_out(sens)
        with atomic_open(dest(layout.CAR_SENSITIVITY)) as handle:
            sens.to_csv(handle, index=False)
        with atomic_open(dest(layout.CAR_TRANSFER)) as handle:
            transfer.to_csv(handle, index=False)
        log.info("CAR settings, leave one base out:\n%s", transfer.to_string(index=False))
        log.info("correlations:\n%s", corr[corr["base"] == "average"].to_string(index=False))
        log.info("paradox:\n%s", para.to_string(index=False))
    return table


def build_partial(
    screening_cfg: dict[str, Any], study_cfg: dict[str, Any], root: Path
) -> dict[tuple[str, str], layout.Step]:
    """After a failed run: every report over the cells that finished, under
    `results/<study>/report/partial/`, with `missing.csv` naming each cell that did not (the
    first job of it that has not finished, that job's output and its log). Returns those cells.

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
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return missing


def withdraw(reports: Iterable[str], root: Path) -> list[str]:
    """Remove the report rules' outputs `reports` where they exist; the ones removed.

    After a failed run they describe results that have changed since (a job that ran, failed
    or not, had its outputs replaced or removed), and Snakemake does not remake a missing
    intermediate file while what it fed is present: reports left in place would make the next
    run find nothing to do, with the failed cell's files missing. Removed, they are rebuilt by
    the run that completes the cells, and the partial reports say meanwhile what finished."""
    removed = []
    for path in reports:
        if (root / path).is_file():
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
