"""Benchmark: does `teachergrid screen` find each tiny base's truly best teacher on a fifth of
the instructions, and does its per-instruction mix train a better student than that teacher?

    python benchmarks/tiny_screen.py [--seeds 0 1 2] [--keep DIR] [--cores 2] [--json FILE]

Per seed of the tiny world (a whole study from nothing, `benchmarks/tiny_seeds.py`; with --keep
an existing DIR/seed-N is reused), every base of the study is screened as if it were new, with
the study's own responses and rewards, three ways:

- `fifth`: `--first-round 16 --max-instructions N/5` (N: the instructions every teacher
  answered), the budget issue 24 asks the screen to need at most;
- `default`: the command's defaults (rounds of 64, 128, ...; no budget);
- `all`: one round over every instruction, which makes the mix choose per instruction
  everywhere (the default screen's mix chooses only on the instructions it scored and takes
  the leading teacher's responses on the rest).

The truth is the study's own: per base, the teacher whose fine-tuned student is most
accurate (exact answers on the evaluation split; teachers tied at that accuracy are all
counted as best). On the `all` screens, `teachergrid screen-convergence`'s table with that
accuracy as the truth: from how many instructions CAR's and the mean reward's leader and top
three no longer change, and whether that leader is the truly best. Then, in a copy of the
finished study (DIR/seed-N-mix), the `default` and `all` mixes of each base become
published-style teachers fine-tuned and evaluated on that base alone (`finetune.cells`), and
their students' accuracy is set beside the best single teacher's. About 35 minutes from
nothing on a 2-core machine (three whole studies, 36 screens, 24 more cells).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from tiny_seeds import STUDY, collect, run, seed_arguments  # noqa: E402

from teachergrid.analysis.screen_report import convergence_report  # noqa: E402

# the screens run for each base: name -> extra arguments (N: instructions available)
SCREENS = {
    "fifth": lambda n: ["--first-round", "16", "--max-instructions", str(n // 5)],
    "default": lambda n: [],
    "all": lambda n: ["--first-round", str(n)],
}
MIXES = ("default", "all")


def screen(workdir: Path, base: str, how: str, n: int, seed: int) -> dict[str, Any]:
    """`teachergrid screen` of the study's base `base` in `workdir`; its screen.json."""
    out = workdir / "screen" / how / base
    if not (out / "screen.json").exists():
        cmd = [
            *(sys.executable, "-m", "teachergrid.cli", "screen", "--config", "configs/tiny.yaml"),
            *("--base", f"{STUDY}/tiny/models/{base}", "--name", base, "--out", str(out)),
            *("--seed", str(seed), *SCREENS[how](n)),
        ]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        done = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed in {workdir}:\n{done.stderr[-2000:]}")
    return json.loads((out / "screen.json").read_text())


def instructions(workdir: Path, teacher: str) -> int:
    """How many instructions a teacher of the study answered (every tiny teacher answers all)."""
    from teachergrid.core.jsonl import read_jsonl
    from teachergrid.support.layout import RESPONSES

    rows = read_jsonl(workdir / STUDY / RESPONSES.format(teacher=teacher))
    return len({r["id"] for r in rows})


def best(accuracy: pd.DataFrame, base: str) -> tuple[list[str], float]:
    """The base's most accurate single teachers (all those tied at the top) and that accuracy."""
    sub = accuracy[accuracy["base"] == base]
    top = float(sub["accuracy"].max())
    return sorted(sub.loc[sub["accuracy"] == top, "teacher"]), top


def mix_cells(seed_dir: Path, bases: list[str], cores: int) -> pd.DataFrame:
    """Fine-tune and evaluate each base's mixes (in a copy of the study); the rows of
    metrics.csv of the mixes' teachers (each fine-tuned on its own base only)."""
    work = seed_dir.parent / f"{seed_dir.name}-mix"
    metrics = work / STUDY / "report/metrics.csv"
    names = [f"mix-{how}-{b}" for b in bases for how in MIXES]
    if metrics.exists() and set(names) <= set(pd.read_csv(metrics)["teacher"]):
        table = pd.read_csv(metrics)
        return table[table["teacher"].isin(names)]
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(seed_dir, work, symlinks=True)
    config = work / "configs/tiny.yaml"
    cfg = yaml.safe_load(config.read_text())
    cells = cfg.setdefault("finetune", {}).setdefault("cells", {})
    for base in bases:
        for how in MIXES:
            name = f"mix-{how}-{base}"
            source = str(work / "screen" / how / base / "mix.jsonl")
            cfg["teachers"].append(
                {"name": name, "family": "Mix", "dataset": {"source": source, "column": "response"}}
            )
            cells[name] = [base]
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    timing = run(work, config, cores)
    print(f"  mixes of {seed_dir.name}: {timing['wall_s']:.0f} s", flush=True)
    table = pd.read_csv(metrics)
    return table[table["teacher"].isin(names)]


def evaluate_seed(seed_dir: Path, seed: int, cores: int) -> list[dict[str, Any]]:
    """One row per base: the truth, each screen's leader and stop, the mixes' accuracy."""
    cfg = yaml.safe_load((seed_dir / "configs/tiny.yaml").read_text())
    bases = [b["name"] for b in cfg["bases"]]
    teachers = [t["name"] for t in cfg["teachers"]]
    n = instructions(seed_dir, teachers[0])
    accuracy = pd.read_csv(seed_dir / STUDY / "report/metrics.csv")
    accuracy = accuracy[accuracy["teacher"].isin(teachers)]
    rows = []
    for base in bases:
        truth, top = best(accuracy, base)
        row: dict[str, Any] = {"seed": seed, "base": base, "instructions": n,
                               "truly_best": "/".join(truth), "best_accuracy": top}  # fmt: skip
        for how in SCREENS:
            info = screen(seed_dir, base, how, n, seed)
            row[f"{how}_first"] = info["best_teacher"]
            row[f"{how}_right"] = info["best_teacher"] in truth
            row[f"{how}_scored"] = info["instructions_scored"]
            row[f"{how}_stopped_by"] = info["stopped_by"]
            row[f"{how}_seconds"] = info["seconds"]
        rows.append(row)
    # how many of the instructions CAR and the reward needed, against the students' accuracy
    truth = seed_dir / "screen" / "truth.csv"
    accuracy.to_csv(truth, index=False)
    folders = [seed_dir / "screen" / "all" / b for b in bases]
    table = convergence_report(folders, truth, "accuracy").set_index(["base", "metric"])
    for row in rows:
        for metric in ("car", "reward"):
            found = table.loc[(row["base"], metric)]
            row[f"{metric}_leader_all"] = found["leader"]
            row[f"{metric}_leader_right"] = bool(found["leader_truth_rank"] == 1)
            for key in ("leader_stable_from", "top3_stable_from", "spearman_truth"):
                row[f"{metric}_{key}"] = found[key].item()
    mixes = mix_cells(seed_dir, bases, cores)
    for row in rows:
        for how in MIXES:
            cell = mixes[(mixes["teacher"] == f"mix-{how}-{row['base']}")
                         & (mixes["base"] == row["base"])]  # fmt: skip
            row[f"mix_{how}_accuracy"] = float(cell["accuracy"].iloc[0])
    return rows


def report(rows: list[dict[str, Any]]) -> list[str]:
    """The per-(seed, base) table and the summary lines the README quotes."""
    table = pd.DataFrame(rows)
    cols = ["seed", "base", "truly_best", "fifth_first", "fifth_scored", "fifth_stopped_by",
            "default_first", "default_scored", "default_stopped_by", "best_accuracy",
            "mix_default_accuracy", "mix_all_accuracy"]  # fmt: skip
    lines = [table[cols].to_string(index=False), ""]
    pairs = len(table)
    for how in SCREENS:
        right = int(table[f"{how}_right"].sum())
        scored = table[f"{how}_scored"] / table["instructions"]
        stops = table[f"{how}_stopped_by"].value_counts().to_dict()
        lines.append(
            f"{how}: truly best teacher first on {right} of {pairs} (base, seed) pairs; "
            f"share of instructions scored {scored.mean():.2f} [{scored.min():.2f}, "
            f"{scored.max():.2f}]; stopped by {stops}"
        )
    for metric in ("car", "reward"):
        right = int(table[f"{metric}_leader_right"].sum())
        parts = [f"{metric} over every instruction: truly best first on {right} of {pairs}"]
        for key in ("leader_stable_from", "top3_stable_from", "spearman_truth"):
            v = table[f"{metric}_{key}"]
            parts.append(f"{key} {v.mean():.3g} [{v.min():.3g}, {v.max():.3g}]")
        lines.append("; ".join(parts))
    for how in MIXES:
        diff = table[f"mix_{how}_accuracy"] - table["best_accuracy"]
        lines.append(
            f"mix ({how} screen) minus best single teacher, accuracy: mean {diff.mean():+.3f} "
            f"[{diff.min():+.3f}, {diff.max():+.3f}]; better on {int((diff > 0).sum())}, "
            f"equal on {int((diff == 0).sum())}, worse on {int((diff < 0).sum())} of {pairs}"
        )
    return lines


def main() -> int:
    args, root = seed_arguments(__doc__, "write every row to this file", "teachergrid-screen-")
    rows = []
    for seed in args.seeds:
        collect([seed], root, args.cores)
        rows += evaluate_seed(root / f"seed-{seed}", seed, args.cores)
    print(f"tiny world, seeds {args.seeds}: each base screened as new (mean [min, max])")
    for line in report(rows):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
