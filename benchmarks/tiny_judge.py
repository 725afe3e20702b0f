"""How well does a tiny reward model tell a right answer from a wrong one, and does it prefer a
dialect? For every held-out task a right answer and a wrong one are written in each family's
dialect and scored (`teachergrid.tiny.judging`); printed: the share of pairs where the right one
scores higher, per dialect and per kind of task, and each dialect's mean score of right and of
wrong answers.

    python benchmarks/tiny_judge.py results/tiny-offline-grid/tiny/models/judge-rm \
        [--tasks FILE.jsonl]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from teachergrid.tiny.judging import JudgeCheck, check_judge  # noqa: E402

TASKS = REPO / "data/instructions/tiny_eval.jsonl"


def describe(check: JudgeCheck) -> list[str]:
    """The check as the lines this script prints."""
    shares = check.accuracy

    def group(prefix: str) -> str:
        return ", ".join(
            f"{k.removeprefix(prefix)} {v:.0f}%" for k, v in shares.items() if k.startswith(prefix)
        )

    means = ", ".join(
        f"{d} {check.right_mean[d]:.2f} / {check.wrong_mean[d]:.2f}" for d in check.right_mean
    )
    return [
        f"overall: {shares['all']:.0f}%",
        f"by dialect: {group('dialect:')}",
        f"by kind: {group('kind:')}",
        f"mean score of right / wrong answers: {means} "
        f"(largest difference between dialects {check.dialect_spread:.2f}, "
        f"{check.relative_spread:.2f} of right less wrong, {check.separation:.2f})",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", help="a reward model's folder")
    parser.add_argument("--tasks", default=str(TASKS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{args.model}: right answer scored above a wrong one, tasks of {args.tasks}")
    for line in describe(check_judge(args.model, args.tasks, args.seed)):
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
