"""Print every figure of the README and docs/tiny-world.md, regenerated from this checkout.

    python benchmarks/readme_figures.py [--seeds 0 1 2] [--keep DIR] [--cores 2]

1. The tiny world over `tiny_world.seed` values (`benchmarks/tiny_seeds.py`: each seed a whole
   study from nothing, about 10 minutes on 2 cores): wall time and peak memory, students'
   accuracy, what each metric recovers, AP against accuracy, the correlations, CAR's beta; and
   the judge's pairwise accuracy on each seed's judge (`benchmarks/tiny_judge.py`).
2. The length-controlled win rate on the published AlpacaEval 2 annotations of
   tests/data/alpaca_eval/ (the `teachergrid winrates` table) and on subsets of them
   (`benchmarks/lc_subsets.py`).
3. The GPU figures, read from the files `benchmarks/gpu_check.py` wrote on the device machines
   (benchmarks/results/; they cannot be rerun without one, and each names its GPU).

With --keep the seed runs stay in DIR (and a later call reads them instead of running again).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from tiny_judge import TASKS, describe  # noqa: E402
from tiny_seeds import STUDY, collect, summary_lines  # noqa: E402

from teachergrid.evaluation.lengthcontrol import joint_table  # noqa: E402
from teachergrid.tiny.judging import check_judge  # noqa: E402

ALPACA_EVAL = REPO / "tests" / "data" / "alpaca_eval"


def tiny_world(seeds: list[int], root: Path, cores: int) -> None:
    per_seed = collect(seeds, root, cores)
    print(f"== tiny world, seeds {seeds}: mean [min, max] over seeds (each seed) ==")
    for line in summary_lines(per_seed):
        print(f"  {line}")
    print("== the judge and CAR's reward model (benchmarks/tiny_judge.py) ==")
    for seed in seeds:
        for model in ("judge-rm", "rm-llama"):
            models = root / f"seed-{seed}" / STUDY / "tiny" / "models"
            check = check_judge(models / model, TASKS)
            print(f"  seed {seed}, {model}:")
            for line in describe(check):
                print(f"    {line}")


def length_control() -> None:
    judgments = pd.read_csv(ALPACA_EVAL / "judgments.csv")
    official = pd.read_csv(ALPACA_EVAL / "leaderboard.csv").set_index("model")
    table = joint_table(judgments).set_index("model")
    table["official_win_rate"] = official["win_rate"]
    table["official_lc"] = official["lc_win_rate"]
    table["lc_minus_official"] = table["lc_win_rate"] - table["official_lc"]
    print("== AlpacaEval 2 annotations of 10 models (teachergrid winrates) ==")
    print(table.round(2).to_string())
    error = table["lc_minus_official"].abs()
    print(f"  LC error: mean {error.mean():.2f}, max {error.max():.2f} points")
    print("== LC on subsets of those models (benchmarks/lc_subsets.py) ==")
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "lc_subsets.py")], check=True)


def gpu() -> None:
    print("== GPU figures recorded on device machines (benchmarks/results/) ==")
    for path in sorted((REPO / "benchmarks" / "results").glob("gpu_*.json")):
        found = json.loads(path.read_text())
        env = found.get("environment", {})
        print(f"  {path.name} ({env.get('gpu', '?')}, torch {env.get('torch', '?')}):")
        for section, values in found.items():
            if section == "environment" or not isinstance(values, dict):
                continue
            shown = {
                k: v
                for k, v in values.items()
                if k in ("tokens_per_s", "s_per_step", "peak_gib", "params_m", "new_tokens_per_s")
            }
            if shown:
                print(f"    {section}: {shown}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", default=None, help="run the seeds in DIR/seed-N, keep them")
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="teachergrid-seeds-"))
    try:
        tiny_world(args.seeds, root, args.cores)
        length_control()
        gpu()
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
