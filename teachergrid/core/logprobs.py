"""Batched per-response loss of a causal language model.

Examples are sorted by length before batching so padding stays small (on CPU, unsorted padded
batches are slower than scoring one at a time), then returned in their original order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from teachergrid.core.chat import EncodedPair


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first (fail fast on memory)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int, left: bool = False) -> tuple[Any, Any]:
    """Token ids and attention mask of a padded batch: right padding for scoring and
    classification, left padding for generation (new tokens follow the prompts directly)."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        cols = slice(width - len(seq), width) if left else slice(0, len(seq))
        ids[row, cols] = torch.tensor(seq, dtype=torch.long)
        mask[row, cols] = 1
    return ids, mask


def response_losses(
    model: Any,
    pairs: Sequence[EncodedPair],
    *,
    pad_id: int,
    batch_size: int = 8,
    progress: Callable[[int], None] | None = None,
) -> list[float]:
    """Mean NLL over each pair's response tokens, given its prompt tokens as context."""
    import torch
    import torch.nn.functional as F

    from teachergrid.core.modeling import input_device

    for i, pair in enumerate(pairs):
        if not pair.response_ids:
            raise ValueError(f"example {i} has no response tokens to score")
        if not pair.prompt_ids:
            raise ValueError(f"example {i} has no context token before its response")
    out: list[float] = [0.0] * len(pairs)
    dev = input_device(model)
    batches = length_sorted_batches([len(p.input_ids) for p in pairs], batch_size)
    with torch.inference_mode():
        for batch in batches:
            ids, attention = pad_batch([pairs[i].input_ids for i in batch], pad_id)
            logits = model(input_ids=ids.to(dev), attention_mask=attention.to(dev)).logits
            # Position t predicts token t + 1. Only the response's positions are upcast to
            # fp32, one row at a time: a full fp32 copy of a (batch, length, 128k-vocabulary)
            # tensor would cost more GPU memory than the model's forward pass.
            losses = []
            for row, i in enumerate(batch):
                pair = pairs[i]
                start, end = pair.n_prompt - 1, len(pair.input_ids) - 1
                target = torch.tensor(pair.response_ids, device=logits.device)
                losses.append(F.cross_entropy(logits[row, start:end].float(), target))
            for i, value in zip(batch, torch.stack(losses).tolist(), strict=True):
                out[i] = value
            if progress:
                progress(len(batch))
    return out
