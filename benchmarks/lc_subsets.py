"""How the joint length-controlled fit does when the set of models changes: fit random subsets
of the published AlpacaEval 2 annotations (tests/data/alpaca_eval/) and compare each model's LC
with the official leaderboard's. A grid's models are never the leaderboard's, so this, not the
full-set figure alone, is the estimator's expected error.

Each subset is fitted twice: from nothing, and from an instruction difficulty estimated on the
models left out (the joint fit of the rest), which stands in for the difficulty AlpacaEval
publishes from its whole leaderboard (`length_control.instruction_difficulty`).

    python benchmarks/lc_subsets.py [--draws 8] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from teachergrid.evaluation.lengthcontrol import joint_table  # noqa: E402
from teachergrid.evaluation.winrates import joint_fit  # noqa: E402

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
    scratch = Path(tempfile.mkdtemp())
    for size in (1, 2, 3, 5, 7, len(models)):
        errors: list[float] = []
        helped: list[float] = []
        for _ in range(args.draws if size < len(models) else 1):
            subset = rng.sample(models, size)
            mine = judgments[judgments["model"].isin(subset)]
            table = joint_table(mine)
            errors += (table.set_index("model")["lc_win_rate"] - official[subset]).abs().tolist()
            rest = judgments[~judgments["model"].isin(subset)]
            if rest.empty:
                continue
            difficulty = joint_fit(
                rest["model"].tolist(), rest["prompt_id"].tolist(), rest["preference"].to_numpy(),
                rest["len_model"].to_numpy(), rest["len_reference"].to_numpy(),
            ).difficulty  # fmt: skip
            path = scratch / "difficulty.csv"
            pd.DataFrame({"instruction_difficulty": difficulty}).to_csv(path)
            table = joint_table(mine, difficulty_file=path)
            helped += (table.set_index("model")["lc_win_rate"] - official[subset]).abs().tolist()
        err, err_d = pd.Series(errors), pd.Series(helped, dtype=float)
        rows.append(
            {
                "models_fitted_together": size,
                "lc_errors": len(err),
                "mean_abs_error": round(err.mean(), 2),
                "max_abs_error": round(err.max(), 2),
                "mean_abs_error_given_difficulty": round(err_d.mean(), 2),
                "max_abs_error_given_difficulty": round(err_d.max(), 2),
            }
        )
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
