"""Fan-in: the screening table (one row per base x teacher) and per-base CAR rankings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .jsonl import atomic_open
from .metrics import MetricError, car, map_rewards, mean

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


def screening_table(
    cfg: dict[str, Any],
    rewards: Mapping[tuple[str, str], Sequence[float]],
    compat: Mapping[tuple[str, str], dict[str, float]],
    reference: Mapping[str, dict[str, float]],
) -> pd.DataFrame:
    """Build metrics.csv's rows.

    rewards: (teacher, reward model) -> per-response rewards;
    compat: (base, teacher) -> summary of the base's losses on the teacher's responses;
    reference: teacher -> summary of the reference model's losses.
    """
    beta = float(cfg["car"]["beta"])
    car_rm = cfg["car"]["reward_model"]
    mapping = cfg["car"]["reward_mapping"]
    rm_names = [rm["name"] for rm in cfg["reward_models"]]
    rows = []
    for base in cfg["bases"]:
        for teacher in cfg["teachers"]:
            b, t = base["name"], teacher["name"]
            row: dict[str, Any] = {"base": b, "teacher": t}
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
            )
            rows.append(row)
    columns = ["base", "teacher", *(f"reward_{rm}" for rm in rm_names), *SCREENING_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def ranking_markdown(table: pd.DataFrame, base: str, cfg: dict[str, Any]) -> str:
    """Teachers for one base, best CAR first."""
    sub = table[table["base"] == base].sort_values("car", ascending=False)
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
    return "\n".join(lines) + "\n"


def write_reports(
    table: pd.DataFrame, cfg: dict[str, Any], csv_path: Path, ranking_dir: Path
) -> None:
    with atomic_open(csv_path) as handle:
        table.to_csv(handle, index=False)
    for base in cfg["bases"]:
        with atomic_open(ranking_dir / f"{base['name']}.md") as handle:
            handle.write(ranking_markdown(table, base["name"], cfg))
