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

from . import layout
from .accuracy import CHECKERS, load_truth
from .compatibility import summarize
from .jsonl import read_jsonl
from .metrics import car, map_rewards

Cell = tuple[str, str]


class CellData:
    """Every per-instruction record the metrics and scores of the finished cells come from."""

    def __init__(self, cfg: dict[str, Any], root: Path, cells: Sequence[Cell]) -> None:
        self.cfg = cfg
        self.cells = list(cells)
        teachers = sorted({t for _, t in cells})
        rms = [r if isinstance(r, str) else r["name"] for r in cfg["reward_models"]]
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
        self.teacher_correct: dict[str, dict[str, bool]] = {}
        self.cell_correct: dict[Cell, dict[str, bool]] = {}
        acc = cfg.get("accuracy")
        if acc:
            check = CHECKERS[acc["checker"]]
            truth = load_truth(root / acc["screening"], acc["column"])
            for t in teachers:
                rows = read_jsonl(root / layout.RESPONSES.format(teacher=t))
                self.teacher_correct[t] = {
                    r["id"]: check(truth[r["instruction"]], r["response"]) for r in rows
                }
            if acc.get("evaluation"):
                truth = load_truth(root / acc["evaluation"], acc["column"])
                for b, t in cells:
                    rows = read_jsonl(root / layout.ANSWERS.format(base=b, teacher=t))
                    self.cell_correct[(b, t)] = {
                        r["id"]: check(truth[r["instruction"]], r["answer"]) for r in rows
                    }

    def table(self, screening_ids: Sequence[str], eval_ids: Sequence[str]) -> pd.DataFrame:
        """The cells' metrics, AP and accuracy over these instructions (ids may repeat)."""
        from .evaluate import score_cells

        cfg = self.cfg
        beta = float(cfg["car"]["beta"])
        mapping = cfg["car"].get("reward_mapping") or {"kind": "none"}
        rms = sorted({rm for _, rm in self.rewards})
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
        rows = []
        for b, t in self.cells:
            rewards = {rm: [self.rewards[(t, rm)][i] for i in screening_ids] for rm in rms}
            summary = summarize([self.compat[(b, t)][i] for i in screening_ids], options.get(b))
            ref = summarize(
                [self.reference[t][i] for i in screening_ids], cfg.get("reference_metrics")
            )
            reward = float(np.mean(map_rewards(rewards[cfg["car"]["reward_model"]], mapping)))
            row: dict[str, Any] = {
                "base": b,
                "teacher": t,
                **{f"reward_{rm}": float(np.mean(v)) for rm, v in rewards.items()},
                "reward": reward,
                "loss": summary["loss"],
                "ppl_self": summary["ppl"],
                "ifd_self": summary["ifd"],
                "ppl_ref": ref["ppl"],
                "ifd_ref": ref["ifd"],
                "length": summary["length"],
                "car": car(reward, summary["loss"], beta),
                "ap": scores[f"{b}/{t}"]["ap"],
            }
            if t in self.teacher_correct:
                row["teacher_accuracy"] = 100.0 * np.mean(
                    [self.teacher_correct[t][i] for i in screening_ids]
                )
            if (b, t) in self.cell_correct:
                row["accuracy"] = 100.0 * np.mean(
                    [self.cell_correct[(b, t)][i.split("#")[0]] for _, i in renamed]
                )
            rows.append(row)
        return pd.DataFrame(rows)


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
        [lambda x: np.nanpercentile(x, low), lambda x: np.nanpercentile(x, high)]
    )
    out.columns = [f"{v}_ci_{side}" for v in values for side in ("low", "high")]
    return out.reset_index()


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
