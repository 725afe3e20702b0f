"""Reward-model scoring of every response, batched and length-sorted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from teachergrid.core.chat import encode_pair, load_tokenizer
from teachergrid.core.logprobs import length_sorted_batches, pad_batch
from teachergrid.core.modeling import input_device, load_reward_model, set_threads


def unused_id(batch: Sequence[Sequence[int]], vocabulary: int) -> int:
    """The smallest token id that no row of a batch contains.

    A sequence classifier reads its score at the row's last real token, and finds it through
    its pad id: the last token that is not the pad id (transformers' classifiers) or the one
    before the first pad id (ArmoRM's code). Where the pad id is the EOS (Llama-3 reward
    models) and a response ends in EOS, either rule reads the wrong token. Padding with an id
    that no row contains, and telling the model so, makes both rules read the last real token;
    the padded positions are masked, so which id fills them changes nothing else."""
    used = {token for row in batch for token in row}
    return next(i for i in range(vocabulary) if i not in used)


def read_scores(model: Any, batch: Sequence[Sequence[int]]) -> list[float]:
    """One score per row of token ids (right-padded here), read at each row's last token."""
    pad = unused_id(batch, model.get_input_embeddings().num_embeddings)
    model.config.pad_token_id = pad
    ids, mask = pad_batch(batch, pad)
    dev = input_device(model)
    scores = _score_of(model(input_ids=ids.to(dev), attention_mask=mask.to(dev)))
    return [float(s) for s in scores]


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
    batches = length_sorted_batches([len(e) for e in encoded], int(entry["batch_size"]))
    with torch.inference_mode(), tqdm(total=len(rows), desc=f"reward {entry['name']}") as bar:
        for batch in batches:
            scores = read_scores(model, [encoded[i] for i in batch])
            for i, value in zip(batch, scores, strict=True):
                out[i] = value
            bar.update(len(batch))
    return out
