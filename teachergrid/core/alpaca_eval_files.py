"""AlpacaEval's published files that its length-controlled win rate is fitted with: the
instruction difficulties and the verbosity-gamed baselines. Read once per file version
(the report and every bootstrap round read the same file)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd


def _once_per_version(what: str) -> Callable[[Callable[[str], Any]], Callable[[str | Path], Any]]:
    """Read a published file once per version (path and modification time): the report's
    bootstrap asks for the same file in every replicate. The result is shared; callers only
    read it."""

    def wrap(reader: Callable[[str], Any]) -> Callable[[str | Path], Any]:
        cached = functools.lru_cache(maxsize=8)(lambda path, _version: reader(path))

        @functools.wraps(reader)
        def read(path: str | Path) -> Any:
            path = Path(path)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such {what} file")
            return cached(str(path), path.stat().st_mtime_ns)

        return read

    return wrap


@_once_per_version("instruction-difficulty")
def read_difficulty(path: str) -> dict[str, float]:
    """Published instruction difficulties by prompt position: AlpacaEval's
    `instruction_difficulty.csv` (first column the prompt's position in its 805-prompt file,
    second the difficulty) or any CSV with `index` and `instruction_difficulty` columns (such
    as its `df_gamed.csv`, one row per prompt and gamed model)."""
    table = pd.read_csv(path)
    if {"index", "instruction_difficulty"} <= set(table.columns):
        keys, values = table["index"], table["instruction_difficulty"]
    elif len(table.columns) == 2:
        keys, values = table.iloc[:, 0], table.iloc[:, 1]
    else:
        raise ValueError(
            f"{path}: expected two columns (prompt position, difficulty) or the columns index "
            f"and instruction_difficulty, found {', '.join(map(str, table.columns))}"
        )
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any():
        row = int(numbers.isna().to_numpy().nonzero()[0][0])
        raise ValueError(f"{path}: row {row + 1}: difficulty {values.iloc[row]!r} is not a number")
    return {str(k): float(v) for k, v in zip(keys, numbers, strict=True)}


GAMED_COLUMNS = ["index", "preference", "std_delta_len", "instruction_difficulty"]


@_once_per_version("gamed-baselines")
def read_gamed(path: str) -> pd.DataFrame:
    """AlpacaEval's verbosity-gamed baselines (`df_gamed.csv`): one row per prompt and gamed
    copy of the reference, with `index` (the prompt's position), `preference` (in [0, 1], that
    the judge prefers the copy), `std_delta_len` (the standardised length difference in
    AlpacaEval's sign: len(output_1) - len(output_2), the reference minus the copy, so a
    longer copy has a negative value) and `instruction_difficulty`. Returned as in the file."""
    table = pd.read_csv(path)
    absent = [c for c in GAMED_COLUMNS if c not in table.columns]
    if absent:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(absent)} (AlpacaEval's df_gamed.csv has "
            f"{', '.join(GAMED_COLUMNS)})"
        )
    if "not_gamed_baseline" in table.columns and table["not_gamed_baseline"].astype(bool).any():
        raise ValueError(f"{path}: rows with not_gamed_baseline true are not gamed baselines")
    for column in GAMED_COLUMNS[1:]:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna() | (((values < 0) | (values > 1)) if column == "preference" else False)
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise ValueError(f"{path}: row {row + 1}: {column} {table[column].iloc[row]!r}")
        table[column] = values
    return table[GAMED_COLUMNS]
