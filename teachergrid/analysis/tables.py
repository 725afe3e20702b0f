"""The screening table and what it is built from: each cell's rewards, compatibility metrics
and (with ground truth) accuracy, read from the study's folder. Shared by the report and the
bootstrap, which rebuilds the same table from resampled records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from teachergrid.core.jsonl import read_json, read_jsonl
from teachergrid.evaluation.accuracy import checked_files, percent
from teachergrid.screening.metrics import MetricError, car, map_rewards, mean
from teachergrid.support import layout

K = TypeVar("K")


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


MISSING = "missing"


# the columns of the partial reports' list of missing cells
MISSING_CELL_COLUMNS = ["base", "teacher", "rule", "output", "log"]


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
            judge_rule = report_cfg["judge_rule"] if evaluation else None
            step = layout.first_unfinished(root, base, teacher, rms, tuned, judge_rule)
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
