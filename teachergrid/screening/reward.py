"""Reward-model scoring of every response, batched and length-sorted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from teachergrid.core.chat import encode_pair, load_tokenizer
from teachergrid.core.logprobs import length_sorted_batches, pad_batch
from teachergrid.core.modeling import input_device, load_reward_model, set_threads


def _score_of(output: Any) -> Any:
    # Most reward models are sequence classifiers with one logit; some (ArmoRM) expose a
    # preference score of their own next to the per-objective logits.
    score = getattr(output, "score", None)
    return score if score is not None else output.logits[:, 0]


def score(
    model_path: str,
    entry: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    threads: int | None = None,
) -> list[float]:
    """One scalar reward per (instruction, response) row, in input order."""
    import torch

    set_threads(threads)
    tokenizer = load_tokenizer(
        model_path,
        entry.get("chat_template"),
        revision=entry.get("revision"),
        trust_remote_code=entry["trust_remote_code"],
    )
    model = load_reward_model(model_path, entry)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    encoded = [
        encode_pair(
            tokenizer,
            r["instruction"],
            r["response"],
            max_length=int(entry["max_length"]),
        ).input_ids
        for r in rows
    ]
    out = [0.0] * len(rows)
    dev = input_device(model)
    batches = length_sorted_batches([len(e) for e in encoded], int(entry["batch_size"]))
    with torch.inference_mode(), tqdm(total=len(rows), desc=f"reward {entry['name']}") as bar:
        for batch in batches:
            # Right padding: sequence classifiers read the last non-pad token.
            ids, mask = pad_batch([encoded[i] for i in batch], tokenizer.pad_token_id)
            scores = _score_of(model(input_ids=ids.to(dev), attention_mask=mask.to(dev)))
            for row, i in enumerate(batch):
                out[i] = float(scores[row])
            bar.update(len(batch))
    return out
