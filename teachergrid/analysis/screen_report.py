"""`teachergrid screen`: one new base against every teacher of a study, written up.

DIR/ranking.csv (each teacher's CAR, every screening metric, P(first) and a 95% bootstrap
rank interval), rounds.csv (the same per round), records.jsonl (every response scored, with
its round), best.jsonl and mix.jsonl (training sets, loadable with `datasets.load_dataset
("json", data_files=...)`), screen.json (what stopped it, instructions, seconds, device) and
rank_by_round.png/.svg (each teacher's rank against the instructions scored).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from teachergrid.core.jsonl import atomic_open, write_json, write_jsonl
from teachergrid.screening.screen import Result, Settings, Teacher, mix
from teachergrid.support.layout import study_root


def base_entry(cfg: Mapping[str, Any], model: str, name: str, **given: Any) -> dict[str, Any]:
    """The new base as the study's bases are configured (the schema's defaults, the
    compatibility section's batch, budget, truncation and metric definitions)."""
    from teachergrid.config import fill_defaults
    from teachergrid.config.models import scoring_settings

    local = Path(model).exists()
    entry = {"name": name, "model": str(Path(model).resolve()) if local else model, **given}
    filled = fill_defaults({"bases": [entry]})["bases"][0]
    filled["local"] = local
    return scoring_settings(filled, dict(cfg["compatibility"]))


def read_study(cfg: Mapping[str, Any]) -> tuple[dict[str, Teacher], Settings]:
    """The study's teachers a new base is screened against (`screen.teachers`: responses and
    CAR's reward model's scores) and CAR's beta."""
    from teachergrid.screening.screen import read_teachers

    car = cfg["car"]
    teachers = read_teachers(
        Path(study_root(cfg["study"])),
        cfg["screen"]["teachers"],
        car["reward_model"],
        car["reward_mapping"],
    )
    return teachers, Settings(beta=float(car["beta"]))


def write(out: Path, result: Result, teachers: Mapping[str, Teacher], beta: float,
          settings: Settings, base: Mapping[str, Any]) -> dict[str, Any]:  # fmt: skip
    """Every output of one screen under `out`; returns screen.json's content."""
    out.mkdir(parents=True, exist_ok=True)
    last = result.history[-1]
    ranking = pd.DataFrame(
        [
            {"teacher": t, "rank": last.rank(t), "p_first": last.p_first[t],
             "rank_low": last.rank_low[t], "rank_high": last.rank_high[t],
             **result.summary[t]}
            for t in result.order
        ]
    )  # fmt: skip
    rounds = pd.DataFrame(
        [
            {"round": k + 1, "instructions": s.n, "teacher": t, "car": s.car[t], "rank": s.rank(t),
             "p_first": s.p_first[t], "rank_low": s.rank_low[t], "rank_high": s.rank_high[t]}
            for k, s in enumerate(result.history)
            for t in s.order
        ]
    )  # fmt: skip
    for name, frame in (("ranking.csv", ranking), ("rounds.csv", rounds)):
        with atomic_open(out / name) as handle:
            frame.to_csv(handle, index=False)
    write_jsonl(out / "records.jsonl", result.records)
    best = result.order[0]
    write_jsonl(
        out / "best.jsonl",
        [{"id": r["id"], "instruction": r["instruction"], "response": r["response"],
          "teacher": best} for i in sorted(teachers[best].by_id) for r in teachers[best].by_id[i]],
    )  # fmt: skip
    write_jsonl(out / "mix.jsonl", mix(teachers, result.records, best, beta))
    info = {
        "base": base["name"],
        "model": base["model"],
        "stopped_by": result.stopped_by,
        "instructions_scored": last.n,
        "instructions_available": len(set.intersection(*(set(t.by_id) for t in teachers.values()))),
        "responses_scored": len(result.records),
        "seconds": round(result.seconds, 1),
        "device": result.device,
        "gpu_seconds": round(result.seconds, 1) if result.device != "cpu" else 0.0,
        "best_teacher": best,
        "p_first": last.p_first[best],
        "settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
        "mix_rule": "per scored instruction, the response with the highest reward / (1 + beta x "
        "the base's loss on it); per instruction not scored, the best teacher's",
    }
    write_json(out / "screen.json", info)
    _figure(rounds, out)
    return info


def _figure(rounds: pd.DataFrame, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "teachergrid"  # the same ids in every run
    import matplotlib.pyplot as plt

    from teachergrid.analysis.figures import MARKERS, PALETTE, save

    fig, ax = plt.subplots(figsize=(6.5, 4))
    final = rounds[rounds["round"] == rounds["round"].max()].sort_values("rank")
    for i, teacher in enumerate(final["teacher"]):
        part = rounds[rounds["teacher"] == teacher]
        ax.plot(part["instructions"], part["rank"], marker=MARKERS[i % len(MARKERS)],
                color=PALETTE[i % len(PALETTE)], label=teacher)  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.invert_yaxis()
    ax.set_xlabel("instructions scored (every teacher's responses to each; log scale)")
    ax.set_ylabel("rank by CAR (1 = recommended)")
    ax.set_title("Each teacher's rank as the screening scored more instructions")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.grid(alpha=0.3)
    save(fig, out, "rank_by_round")


def convergence_report(
    screens: list[Path], scores: Path | None, truth_column: str = "ap", first: int = 16
) -> pd.DataFrame:
    """`teachergrid screen-convergence`: for each screen folder, convergence.csv (every prefix
    of its instructions) and convergence_summary.csv in it, and all summaries as one table
    (a row per screen and metric). The truth per teacher is `truth_column` of the `scores` rows
    of the screen's base, teachers matched by name or hub id."""
    from teachergrid.analysis.correlations import with_ap
    from teachergrid.core.jsonl import read_json, read_jsonl
    from teachergrid.core.published_format import same_teacher
    from teachergrid.screening.convergence import convergence

    table = None
    if scores is not None:
        table = pd.read_csv(scores)
        if truth_column == "ap" and "ap" not in table.columns:
            table = with_ap(table)
        missing = {"base", "teacher", truth_column} - set(table.columns)
        if missing:
            raise ValueError(f"{scores}: missing columns {', '.join(sorted(missing))}")
    summaries = []
    for folder in screens:
        info_path, records_path = folder / "screen.json", folder / "records.jsonl"
        for path in (info_path, records_path):
            if not path.is_file():
                raise FileNotFoundError(f"{path}: not there (a `teachergrid screen` --out folder?)")
        info = read_json(info_path)
        records = read_jsonl(records_path)
        truth = None
        if table is not None:
            rows = table[table["base"] == info["base"]]
            if rows.empty:
                raise ValueError(f"{scores}: no row of base {info['base']!r} ({folder})")
            teachers = {r["teacher"] for r in records}
            pairs = zip(rows["teacher"], rows[truth_column], strict=True)
            truth = {t: float(v) for name, v in pairs for t in teachers if same_teacher(name, t)}
        steps, summary = convergence(records, float(info["settings"]["beta"]), truth, first)
        for name, frame in (("convergence.csv", steps), ("convergence_summary.csv", summary)):
            with atomic_open(folder / name) as handle:
                frame.to_csv(handle, index=False)
        summaries.append(summary.assign(base=info["base"]))
    out = pd.concat(summaries, ignore_index=True)
    return out[["base", *[c for c in out.columns if c != "base"]]]
