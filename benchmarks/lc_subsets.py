"""How the joint length-controlled fit does when the set of models changes: fit random subsets
of the published AlpacaEval 2 annotations (tests/data/alpaca_eval/) and compare each model's LC
with the official leaderboard's. A grid's models are never the leaderboard's, so this, not the
full-set figure alone, is the estimator's expected error.

    python benchmarks/lc_subsets.py [--draws 8] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from teachergrid.lengthcontrol import joint_table  # noqa: E402

DATA = REPO / "tests" / "data" / "alpaca_eval"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=8, help="subsets per size")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    judgments = pd.read_csv(DATA / "judgments.csv")
    official = pd.read_csv(DATA / "leaderboard.csv").set_index("model")["lc_win_rate"]
    models = sorted(judgments["model"].unique())
    rng = random.Random(args.seed)
    rows = []
    for size in (1, 2, 3, 5, 7, len(models)):
        errors = []
        for _ in range(args.draws if size < len(models) else 1):
            subset = rng.sample(models, size)
            table = joint_table(judgments[judgments["model"].isin(subset)])
            errors += (table.set_index("model")["lc_win_rate"] - official[subset]).abs().tolist()
        err = pd.Series(errors)
        rows.append(
            {
                "models_fitted_together": size,
                "lc_errors": len(err),
                "mean_abs_error": round(err.mean(), 2),
                "max_abs_error": round(err.max(), 2),
            }
        )
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
