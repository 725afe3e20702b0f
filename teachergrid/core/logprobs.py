"""Per-response loss of a causal language model, in memory bounded by a token budget.

Two things decide a scoring job's peak memory: the activations of one batch, which grow with
the batch's padded token count, and the logits, which grow with tokens x vocabulary (16 rows
of 4096 tokens with a 256K vocabulary are 34 GB of bf16 logits). So batches are cut by a
token budget (rows x their longest sequence), longest first so a job that cannot fit fails at
once, and logits are computed only at the positions that predict a response token, a bounded
chunk at a time, from the decoder's last hidden states. Results come back in input order.

The split into decoder and head is checked once per call against the model's own forward on
the shortest sequence; a model whose head does more than the known transforms (Gemma's
soft-capping, Cohere's and Granite's scales) is scored through its full logits instead.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from teachergrid.core.chat import EncodedPair

log = logging.getLogger(__name__)

# Positions whose logits exist at one time: 1024 x 256K vocabulary x (2 + 4) bytes is 1.5 GB.
LOGIT_CHUNK = 1024
# How far the split head's loss may sit from the model's own forward before it is distrusted
# (bf16 GEMMs of other shapes round differently; a missed scale moves a loss by far more).
SPLIT_TOLERANCE = 0.02


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first (fail fast on memory)."""
    return token_budget_batches(lengths, batch_size, None)


def token_budget_batches(
    lengths: Sequence[int], max_rows: int, tokens: int | None
) -> list[list[int]]:
    """Indices in batches of similar length, longest first, each with at most `max_rows` rows
    and, when `tokens` is set, at most `tokens` padded tokens (rows x the batch's longest). A
    sequence longer than the budget is a batch of its own."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    for i in order:
        if batches:
            last = batches[-1]
            width = lengths[last[0]]  # the first index of a batch is its longest
            if len(last) < max_rows and (tokens is None or (len(last) + 1) * width <= tokens):
                last.append(i)
                continue
        batches.append([i])
    return batches


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


@dataclass(frozen=True)
class SplitHead:
    """A causal LM as decoder (ids -> last hidden states) and head (hidden -> logits)."""

    decoder: Any
    head: Any
    softcap: float | None
    scale: float

    def logits(self, hidden: Any) -> Any:
        import torch

        out = self.head(hidden.to(self.head.weight.device)).float() * self.scale
        if self.softcap:
            out = torch.tanh(out / self.softcap) * self.softcap
        return out


def split_head(model: Any) -> SplitHead | None:
    """The decoder and head of a transformers causal LM, or None for anything else."""
    get_head = getattr(model, "get_output_embeddings", None)
    get_decoder = getattr(model, "get_decoder", None)
    if get_head is None or get_decoder is None:
        return None
    try:
        head, decoder = get_head(), get_decoder()
    except (AttributeError, NotImplementedError, ValueError):
        return None
    if head is None or decoder is None or decoder is model:
        return None
    cfg = model.config.get_text_config()
    scale = float(getattr(cfg, "logit_scale", None) or 1.0)  # Cohere multiplies
    if getattr(cfg, "logits_scaling", None):  # Granite divides
        scale /= float(cfg.logits_scaling)
    return SplitHead(decoder, head, getattr(cfg, "final_logit_softcapping", None), scale)


def _check(pairs: Sequence[EncodedPair]) -> None:
    for i, pair in enumerate(pairs):
        if not pair.response_ids:
            raise ValueError(f"example {i} has no response tokens to score")
        if not pair.prompt_ids:
            raise ValueError(f"example {i} has no context token before its response")


def _targets(pairs: Sequence[EncodedPair], dev: Any) -> tuple[Any, Any, Any]:
    """For a right-padded batch: (rows, columns) of the positions that predict a response
    token (position t predicts token t + 1), and those tokens."""
    import torch

    rows, cols, targets = [], [], []
    for row, pair in enumerate(pairs):
        start, end = pair.n_prompt - 1, len(pair.input_ids) - 1
        rows.extend([row] * (end - start))
        cols.extend(range(start, end))
        targets.extend(pair.response_ids)
    as_tensor = lambda v: torch.tensor(v, dtype=torch.long, device=dev)  # noqa: E731
    return as_tensor(rows), as_tensor(cols), as_tensor(targets)


def _split_losses(split: SplitHead, pairs: Sequence[EncodedPair], pad_id: int, dev: Any) -> Any:
    """Mean response NLL per row of one batch, from `LOGIT_CHUNK` positions of logits at a time."""
    import torch
    import torch.nn.functional as F

    ids, attention = pad_batch([p.input_ids for p in pairs], pad_id)
    # no KV cache: nothing is generated, and a cache would hold every layer's keys and values
    hidden = split.decoder(
        input_ids=ids.to(dev), attention_mask=attention.to(dev), use_cache=False
    )[0]
    rows, cols, targets = _targets(pairs, hidden.device)
    picked = hidden[rows, cols]
    del hidden
    nll = torch.cat(
        [
            F.cross_entropy(
                split.logits(picked[i : i + LOGIT_CHUNK]),
                targets[i : i + LOGIT_CHUNK].to(split.head.weight.device),
                reduction="none",
            ).to(rows.device)
            for i in range(0, len(targets), LOGIT_CHUNK)
        ]
    )
    sums = torch.zeros(len(pairs), dtype=torch.float64, device=rows.device)
    sums.index_add_(0, rows, nll.double())
    counts = torch.tensor([len(p.response_ids) for p in pairs], device=rows.device)
    return sums / counts


def _full_losses(model: Any, pairs: Sequence[EncodedPair], pad_id: int, dev: Any) -> Any:
    """The same from the model's whole logits (any model with a `.logits` output); only the
    response's positions are upcast, one row at a time."""
    import torch
    import torch.nn.functional as F

    ids, attention = pad_batch([p.input_ids for p in pairs], pad_id)
    logits = model(input_ids=ids.to(dev), attention_mask=attention.to(dev), use_cache=False).logits
    losses = []
    for row, pair in enumerate(pairs):
        start, end = pair.n_prompt - 1, len(pair.input_ids) - 1
        target = torch.tensor(pair.response_ids, device=logits.device)
        losses.append(F.cross_entropy(logits[row, start:end].float(), target))
    return torch.stack(losses)


def _trusted(model: Any, split: SplitHead, pair: EncodedPair, pad_id: int, dev: Any) -> bool:
    ours = float(_split_losses(split, [pair], pad_id, dev)[0])
    theirs = float(_full_losses(model, [pair], pad_id, dev)[0])
    if math.isclose(ours, theirs, rel_tol=SPLIT_TOLERANCE, abs_tol=SPLIT_TOLERANCE):
        return True
    log.warning(
        "%s: decoder + head gives loss %.4f where the model's forward gives %.4f; scoring "
        "through full logits (memory grows with batch x length x vocabulary)",
        type(model).__name__,
        ours,
        theirs,
    )
    return False


def response_losses(
    model: Any,
    pairs: Sequence[EncodedPair],
    *,
    pad_id: int,
    batch_size: int = 8,
    tokens_per_batch: int | None = None,
    full_logits: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[float]:
    """Mean NLL over each pair's response tokens, given its prompt tokens as context.

    `batch_size` caps a batch's rows and `tokens_per_batch` its padded tokens; `full_logits`
    forces the model's whole logits (the reference the split path is tested against)."""
    import torch

    from teachergrid.core.modeling import input_device

    _check(pairs)
    out: list[float] = [0.0] * len(pairs)
    if not pairs:
        return out
    dev = input_device(model)
    lengths = [len(p.input_ids) for p in pairs]
    batches = token_budget_batches(lengths, batch_size, tokens_per_batch)
    with torch.inference_mode():
        split = None if full_logits else split_head(model)
        if split is not None:
            shortest = pairs[min(range(len(pairs)), key=lambda i: lengths[i])]
            split = split if _trusted(model, split, shortest, pad_id, dev) else None
        for batch in batches:
            chosen = [pairs[i] for i in batch]
            if split is not None:
                losses = _split_losses(split, chosen, pad_id, dev)
            else:
                losses = _full_losses(model, chosen, pad_id, dev)
            for i, value in zip(batch, losses.tolist(), strict=True):
                out[i] = float(value)
            if progress:
                progress(len(batch))
    return out
