"""How a tiny reward model (CAR's reward model or the judge) tells right answers from wrong ones,
and whether it prefers a dialect: the check behind the README's figures on the judge, shared by
`benchmarks/tiny_judge.py`, `benchmarks/readme_figures.py` and the workflow test.

For every task of a file, a right answer and a wrong one (`tasks.wrong_answer`) are written in
each family's dialect and scored. A judge that scored one dialect's answers higher (or its wrong
answers less low) would rank that family's students above equally accurate others, so beside the
pairwise accuracy this reports each dialect's mean score of right and of wrong answers.
"""

from __future__ import annotations

import json
import random
import statistics
from dataclasses import dataclass
from pathlib import Path

from teachergrid.tiny import tasks


@dataclass
class JudgeCheck:
    """Percent of pairs with the right answer above the wrong one (`accuracy`: by `dialect:X`,
    `kind:Y` and `all`) and mean scores per dialect of right and of wrong answers."""

    accuracy: dict[str, float]
    right_mean: dict[str, float]
    wrong_mean: dict[str, float]

    @property
    def dialect_spread(self) -> float:
        """The largest difference between two dialects' mean scores, right or wrong answers."""
        return max(
            max(means.values()) - min(means.values())
            for means in (self.right_mean, self.wrong_mean)
        )

    @property
    def separation(self) -> float:
        """Mean score of right answers less that of wrong ones, over the dialects."""
        return statistics.fmean(self.right_mean.values()) - statistics.fmean(
            self.wrong_mean.values()
        )

    @property
    def relative_spread(self) -> float:
        """`dialect_spread` on the scale of `separation`: how far a dialect moves a score,
        against how far correctness moves it (scores have no unit of their own)."""
        return self.dialect_spread / self.separation


def check_judge(model_dir: str | Path, tasks_file: str | Path, seed: int = 0) -> JudgeCheck:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from teachergrid.core.chat import encode_pair
    from teachergrid.core.logprobs import pad_batch

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
    rows = [json.loads(line) for line in Path(tasks_file).read_text().splitlines()]
    rng = random.Random(seed)
    wins: dict[str, list[bool]] = {}
    right: dict[str, list[float]] = {}
    wrong: dict[str, list[float]] = {}
    with torch.no_grad():
        for row in rows:
            bad = tasks.wrong_answer(rng, row["kind"], row["answer"], row["key"])
            for dialect in sorted(tasks.DIALECTS):
                encoded = [
                    encode_pair(
                        tokenizer,
                        row["instruction"],
                        tasks.render(row["kind"], value, dialect),
                        max_length=128,
                    ).input_ids
                    for value in (row["answer"], bad)
                ]
                ids, mask = pad_batch(encoded, tokenizer.pad_token_id)
                good_score, bad_score = model(input_ids=ids, attention_mask=mask).logits[:, 0]
                right.setdefault(dialect, []).append(float(good_score))
                wrong.setdefault(dialect, []).append(float(bad_score))
                for key in (f"dialect:{dialect}", f"kind:{row['kind']}", "all"):
                    wins.setdefault(key, []).append(bool(good_score > bad_score))
    return JudgeCheck(
        accuracy={k: 100 * sum(v) / len(v) for k, v in sorted(wins.items())},
        right_mean={k: statistics.fmean(v) for k, v in right.items()},
        wrong_mean={k: statistics.fmean(v) for k, v in wrong.items()},
    )
