"""The study's input files, checked before any job: instruction files line by line, the
benchmarks' prompt and answer files, AlpacaEval's published files for the length control, a
table of published scores. Every problem names the file and the line or record."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from teachergrid.config.schema import ConfigError
from teachergrid.core.alpaca_eval_files import read_difficulty, read_gamed
from teachergrid.core.datafiles import DataFileError, field, read_file_records
from teachergrid.core.published_format import same_teacher


def is_local_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or ref in (".", "..")


def resolve_path(ref: str, base_dir: Path) -> Path:
    path = Path(os.path.expanduser(ref))
    return path if path.is_absolute() else (base_dir / path).resolve()


def portable(path: Path, working_dir: Path | None) -> str:
    """A resolved path as jobs are told it: relative to the working directory when it lies
    inside it, so that moving the project (working directory, configs and data together)
    changes no job's params and reruns nothing; absolute otherwise."""
    if working_dir is not None:
        try:
            return str(path.relative_to(working_dir.resolve()))
        except ValueError:
            pass
    return str(path)


def check_instruction_file(
    path: Path, column: str, answers: str | None = None, answers_key: str = "accuracy.column"
) -> int:
    """Check a local instruction file line by line; return the number of records. With
    `answers` (the ground truth's column, `accuracy.column`, named in messages as
    `answers_key`), every record must also carry its exact answer there, in the same pass.

    A malformed line is reported with its number so the user can fix the file in an editor.
    """
    path = path.absolute()  # messages name the file wherever the jobs' working directory is
    if not path.exists():
        raise ConfigError(f"{path}: instruction file does not exist")

    def no_answer(number: int, columns: list[str]) -> ConfigError:
        return ConfigError(
            f"{answers_key}: {path}: record {number} has no answer in column {answers!r} "
            f"(columns: {', '.join(columns)})"
        )

    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        if column not in names:
            raise ConfigError(f"{path}: no column {column!r} (columns: {', '.join(names)})")
        if answers is not None:
            if answers not in names:
                raise no_answer(1, names)
            values = pq.read_table(path, columns=[answers]).column(answers)
            if values.null_count:
                raise no_answer(values.is_null().to_pylist().index(True) + 1, names)
        return pq.read_metadata(path).num_rows
    count = 0
    unanswered: ConfigError | None = None
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{path}:{lineno}: not UTF-8 text (byte {raw[exc.start]:#04x} at column "
                    f"{exc.start + 1}); save the file as UTF-8"
                ) from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise ConfigError(f"{path}:{lineno}: expected a JSON object")
            value = record.get(column)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{path}:{lineno}: missing or empty string field {column!r}")
            count += 1
            if answers is not None and unanswered is None and record.get(answers) is None:
                unanswered = no_answer(count, list(record))  # after the file's own problems
    if count == 0:
        raise ConfigError(f"{path}: no instructions in file")
    if unanswered is not None:
        raise unanswered
    return count


def check_benchmark_file(section: dict[str, Any], where: str, file: str) -> None:
    """A local benchmark file exists and parses, and every record has the configured fields,
    text where the field is a prompt or an answer (errors name the record)."""

    path = Path(section["source"]).absolute()
    try:
        records = read_file_records(path)
        if not records:
            raise DataFileError(f"{path}: no records")
        for number, record in enumerate(records, 1):
            if section.get("id"):
                field(record, section["id"], f"{path}: record {number}: ")
            value = field(record, section["column"], f"{path}: record {number}: ")
            if not isinstance(value, str) or not value.strip():
                raise DataFileError(
                    f"{path}: record {number}: field {section['column']!r} is not a non-empty text"
                )
    except (DataFileError, OSError) as exc:
        raise ConfigError(f"{file}: {where}: {exc}") from None


def resolve_source(
    section: dict[str, Any], base_dir: Path, where: str, file: str, working_dir: Path | None
) -> None:
    source = section["source"]
    if is_local_path(source) or source.endswith((".jsonl", ".json", ".parquet")):
        path = resolve_path(source, base_dir)
        if not path.exists():
            raise ConfigError(f"{file}: {where}.source: local file {source!r} does not exist")
        section["source"] = portable(path, working_dir)
        section["local"] = True
    else:
        section["local"] = False


SCORE_FILE_COLUMNS = ("base", "teacher", "alpaca_eval_lc", "arena_hard_wr")


def check_published_scores(
    cfg: dict[str, Any], ev: dict[str, Any], base_dir: Path, file: str, working_dir: Path | None
) -> None:
    """`evaluation: {scores: FILE}`: AP from a published per-cell table, so no cell is
    fine-tuned or evaluated. The file is checked here: its columns, and that it scores some
    configured cell."""
    import pandas as pd

    other = sorted(set(ev) - {"scores", "exclude_from_correlations"})
    if other:
        raise ConfigError(
            f"{file}: evaluation.{other[0]}: published scores (evaluation.scores) replace "
            "fine-tuning and evaluation; remove it"
        )
    path = resolve_path(ev["scores"], base_dir)
    if not path.is_file():
        raise ConfigError(f"{file}: evaluation.scores: {ev['scores']!r} is not a file")
    try:
        table = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: evaluation.scores: {path}: not a CSV table ({exc})") from None
    absent = [c for c in SCORE_FILE_COLUMNS if c not in table.columns]
    if absent:
        raise ConfigError(f"{file}: evaluation.scores: {path}: no column {', '.join(absent)}")

    bases = {b["name"] for b in cfg["bases"]}
    teachers = [t["name"] for t in cfg["teachers"]]
    if not any(
        b in bases and any(same_teacher(str(t), name) for name in teachers)
        for b, t in zip(table["base"], table["teacher"], strict=True)
    ):
        raise ConfigError(
            f"{file}: evaluation.scores: {path} scores none of the configured cells (bases by "
            "name, teachers by name or hub id)"
        )
    for name in ev.get("exclude_from_correlations") or []:
        if name not in teachers:
            raise ConfigError(
                f"{file}: evaluation.exclude_from_correlations: {name!r} is not a configured "
                "teacher"
            )
    ev["scores"] = portable(path, working_dir)
    cfg["finetune_cells"] = []


LC_FILES = {
    "instruction_difficulty": "instruction_difficulty.csv",
    "gamed_baselines": "df_gamed.csv",
}


def resolve_lc_files(
    lc: dict[str, Any], base_dir: Path, file: str, working_dir: Path | None
) -> None:
    """`evaluation.length_control.instruction_difficulty` and `.gamed_baselines`: AlpacaEval's
    published files, each a local CSV (read now, so a bad one stops the run before any job) or
    one file of a hub data set (fetched by rule alpaca_eval_lc_file)."""

    for key, published in LC_FILES.items():
        spec = lc.get(key)
        where = f"evaluation.length_control.{key}"
        if not spec:
            lc[key] = None
            continue
        if lc["mode"] != "joint":
            raise ConfigError(
                f"{file}: {where}: only the joint mode reads it (paper-comparable uses the "
                "alpaca-eval package's own)"
            )
        if "file" in spec:
            spec["local"] = False
            continue
        source = spec["source"]
        if not is_local_path(source) and not source.endswith(".csv"):
            raise ConfigError(
                f"{file}: {where}.file: which file of the hub data set {source!r}? "
                f"(AlpacaEval's: {published})"
            )
        path = resolve_path(source, base_dir)
        if not path.is_file():
            raise ConfigError(f"{file}: {where}.source: local file {source!r} does not exist")
        try:
            (read_gamed if key == "gamed_baselines" else read_difficulty)(path)
        except ValueError as exc:
            raise ConfigError(f"{file}: {where}: {exc}") from None
        spec["source"] = portable(path, working_dir)
        spec["local"] = True
