"""How well does a tiny reward model tell a right answer from a wrong one? For every held-out
task, a correct answer and a wrong one (`teachergrid.tiny.tasks.wrong_answer`) are written in
each family's dialect and scored; the share of pairs where the correct one scores higher is
printed per dialect and per kind of task.

    python benchmarks/tiny_judge.py results/tiny/models/judge-rm [--tasks FILE.jsonl]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from teachergrid.chat import encode_pair
    from teachergrid.scoring import pad_batch
    from teachergrid.tiny import tasks

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", help="a reward model's folder")
    parser.add_argument("--tasks", default=str(REPO / "data/instructions/tiny_eval.jsonl"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSequenceClassification.from_pretrained(args.model).eval()
    rows = [json.loads(line) for line in Path(args.tasks).read_text().splitlines()]
    rng = random.Random(args.seed)
    by_dialect: dict[str, list[bool]] = {}
    by_kind: dict[str, list[bool]] = {}
    with torch.no_grad():
        for row in rows:
            for dialect in sorted(tasks.DIALECTS):
                wrong = tasks.wrong_answer(rng, row["kind"], row["answer"], row["key"])
                texts = [
                    tasks.render(row["kind"], row["answer"], dialect),
                    tasks.render(row["kind"], wrong, dialect),
                ]
                encoded = [
                    encode_pair(tokenizer, row["instruction"], t, max_length=128).input_ids
                    for t in texts
                ]
                ids, mask = pad_batch(encoded, tokenizer.pad_token_id)
                good, bad = model(input_ids=ids, attention_mask=mask).logits[:, 0].tolist()
                by_dialect.setdefault(dialect, []).append(good > bad)
                by_kind.setdefault(row["kind"], []).append(good > bad)
    print(f"{args.model}: right answer scored above a wrong one, {len(rows)} tasks")
    for label, groups in (("dialect", by_dialect), ("kind", by_kind)):
        cells = ", ".join(f"{k} {100 * sum(v) / len(v):.0f}%" for k, v in sorted(groups.items()))
        print(f"  by {label}: {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
