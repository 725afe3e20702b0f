"""How sure are the correlations? A bootstrap over instructions.

A Spearman coefficient over a dozen teachers moves a lot with the instructions that happened to
be sampled. Each replicate draws the screening instructions and the evaluation prompts again
(with replacement), recomputes every cell's metrics from its per-response records (rewards,
losses, IFD, accuracy) and its benchmark scores from its per-prompt judgements (the
length-controlled fit included), and correlates them again; the 2.5 and 97.5 percentiles over
replicates are the interval. A prompt drawn twice counts as two prompts, as in any bootstrap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from teachergrid.analysis.tables import (
    MISSING,
    cell_correct,
    names,
    screening_table,
    teacher_correct,
)
from teachergrid.core.jsonl import read_jsonl
from teachergrid.screening.compatibility import summarize
from teachergrid.support import layout

Cell = tuple[str, str]


class CellData:
    """Every per-instruction record the metrics and scores of the finished cells come from."""

    def __init__(self, cfg: dict[str, Any], root: Path, cells: Sequence[Cell]) -> None:
        self.cfg = cfg
        self.cells = list(cells)
        teachers = sorted({t for _, t in cells})
        rms = names(cfg["reward_models"])
        self.rewards = {
            (t, rm): {
                r["id"]: r["reward"]
                for r in read_jsonl(root / layout.REWARDS.format(teacher=t, rm=rm))
            }
            for t in teachers
            for rm in rms
        }
        self.compat = {
            (b, t): {
                r["id"]: r
                for r in read_jsonl(root / layout.COMPATIBILITY_RECORDS.format(base=b, teacher=t))
            }
            for b, t in cells
        }
        self.reference = {
            t: {r["id"]: r for r in read_jsonl(root / layout.REFERENCE_RECORDS.format(teacher=t))}
            for t in teachers
        }
        # each cell's judgements by prompt id (both benchmarks' judgements of the prompt)
        self.judgments: dict[Cell, dict[str, list[dict[str, Any]]]] = {}
        for b, t in cells:
            by_id: dict[str, list[dict[str, Any]]] = {}
            for j in read_jsonl(root / layout.JUDGMENTS.format(base=b, teacher=t)):
                by_id.setdefault(j["id"], []).append(j)
            self.judgments[(b, t)] = by_id
        self.screening_ids = sorted(next(iter(self.reference.values()))) if teachers else []
        self.eval_ids = sorted({i for by_id in self.judgments.values() for i in by_id})
        # ground truth where configured: each response's and answer's exactness, by id
        self.teacher_correct = teacher_correct(cfg, root, teachers) or {}
        self.cell_correct = cell_correct(cfg, root, self.cells) or {}

    def table(self, screening_ids: Sequence[str], eval_ids: Sequence[str]) -> pd.DataFrame:
        """The cells' metrics, AP and accuracy over these instructions (ids may repeat)."""
        from teachergrid.evaluation.scores import score_cells

        cfg = self.cfg
        options = cfg.get("compat_metrics") or {}
        copies: dict[str, int] = {}
        renamed = []
        for i in eval_ids:
            copies[i] = copies.get(i, 0) + 1
            renamed.append((i, f"{i}#{copies[i]}"))
        judgments = {
            f"{b}/{t}": [
                {**j, "id": new}
                for old, new in renamed
                for j in self.judgments[(b, t)].get(old, [])
            ]
            for b, t in self.cells
        }
        # the joint length-controlled fit (prompts drawn twice are two prompts to it)
        settings = {**(cfg.get("evaluation") or {}), "bootstrap": 0}
        settings["length_control"] = {**(settings.get("length_control") or {}), "mode": "joint"}
        scores = score_cells(judgments, settings)
        # the screening columns, computed as screening.csv's are, over the drawn instructions
        teachers = sorted({t for _, t in self.cells})
        bases = sorted({b for b, _ in self.cells})
        done = set(self.cells)
        table = screening_table(
            {**cfg, "teachers": teachers, "bases": bases},
            {key: [by_id[i] for i in screening_ids] for key, by_id in self.rewards.items()},
            {
                (b, t): summarize([self.compat[(b, t)][i] for i in screening_ids], options.get(b))
                for b, t in self.cells
            },
            {
                t: summarize(
                    [self.reference[t][i] for i in screening_ids], cfg.get("reference_metrics")
                )
                for t in teachers
            },
            {(b, t): "not drawn" for b in bases for t in teachers if (b, t) not in done},
            {
                t: 100.0 * float(np.mean([flags[i] for i in screening_ids]))
                for t, flags in self.teacher_correct.items()
            }
            if self.teacher_correct
            else None,
        )
        table = table[table[MISSING] == ""].drop(columns=[MISSING])
        table = table.set_index(["base", "teacher"]).loc[self.cells].reset_index()
        table["ap"] = [scores[f"{b}/{t}"]["ap"] for b, t in self.cells]
        if self.cell_correct:
            table["accuracy"] = [
                100.0
                * float(np.mean([self.cell_correct[(b, t)][i.split("#")[0]] for _, i in renamed]))
                for b, t in self.cells
            ]
        return table


def intervals(
    data: CellData,
    statistics: Callable[[pd.DataFrame], pd.DataFrame],
    keys: Sequence[str],
    values: Sequence[str],
    rounds: int,
    seed: int,
    level: float = 0.95,
) -> pd.DataFrame:
    """Percentile intervals of `statistics` (a table with `keys` and `values` columns) over
    `rounds` bootstrap replicates: one row per key, `<value>_ci_low` and `<value>_ci_high`."""
    rng = np.random.default_rng(seed)
    draws: list[pd.DataFrame] = []
    n_s, n_e = len(data.screening_ids), len(data.eval_ids)
    for _ in range(rounds):
        s_ids = [data.screening_ids[i] for i in rng.integers(0, n_s, size=n_s)]
        e_ids = [data.eval_ids[i] for i in rng.integers(0, n_e, size=n_e)]
        draws.append(statistics(data.table(s_ids, e_ids)))
    stacked = pd.concat(draws, ignore_index=True)
    low, high = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    out = stacked.groupby(list(keys), sort=False)[list(values)].agg(
        [lambda x: _percentile(x, low), lambda x: _percentile(x, high)]
    )
    out.columns = [f"{v}_ci_{side}" for v in values for side in ("low", "high")]
    return out.reset_index()


def _percentile(values: pd.Series, q: float) -> float:
    """The percentile of the replicates whose coefficient is defined; NaN where none is (a
    coefficient of a constant column)."""
    defined = values.dropna()
    return float(np.percentile(defined, q)) if len(defined) else np.nan


def merge_intervals(
    table: pd.DataFrame, cis: pd.DataFrame, keys: Sequence[str], values: Mapping[str, str]
) -> pd.DataFrame:
    """`table` with each value's interval columns placed right after it."""
    merged = table.merge(cis, on=list(keys), how="left")
    order: list[str] = []
    for column in table.columns:
        order.append(column)
        if column in values:
            order += [f"{column}_ci_low", f"{column}_ci_high"]
    return merged[order]
