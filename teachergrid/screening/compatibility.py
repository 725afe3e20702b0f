"""Compatibility of a teacher's responses with a scoring model (a base, or the reference LM).

For every response: the loss given the instruction (the base's own chat template, the split of
`chat.encode_pair`), the loss of the same tokens with no instruction (for IFD), and the length
of the response text in the scoring model's tokens. The model is loaded once per job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tqdm import tqdm

from teachergrid.core.chat import encode_pair, encode_unconditional, load_tokenizer
from teachergrid.core.logprobs import response_losses
from teachergrid.core.modeling import load_causal_lm, set_threads
from teachergrid.screening.metrics import compatibility_summary

Scorer = Callable[..., list[dict[str, Any]]]


def scorer(model_path: str, entry: Mapping[str, Any], threads: int | None = None) -> Scorer:
    """Load the scoring model once; the returned function gives, per response row, `loss`,
    `loss_unconditional`, `length` (response text in this model's tokens), `n_tokens` (the
    scored tokens) and `tokens_read` (both passes' sequences). Shared by the compatibility
    jobs and the screening of a new base."""
    set_threads(threads)
    tokenizer = load_tokenizer(
        model_path,
        entry["chat_template"],
        revision=entry["revision"],
        trust_remote_code=entry["trust_remote_code"],
    )
    model = load_causal_lm(model_path, dict(entry))
    options = entry["metrics"]

    def score(
        rows: Sequence[dict[str, Any]], progress: Callable[[int], None] | None = None
    ) -> list[dict[str, Any]]:
        pairs = [
            encode_pair(
                tokenizer,
                r["instruction"],
                r["response"],
                max_length=int(entry["max_length"]),
                turn_end=bool(options["score_turn_end"]),
            )
            for r in rows
        ]
        bare = [encode_unconditional(p, tokenizer, options["ifd_context"]) for p in pairs]
        # the conditional and unconditional passes in one length-sorted stream: short bare
        # responses fill the batches the long conditioned ones leave
        both = response_losses(
            model,
            [*pairs, *bare],
            pad_id=tokenizer.pad_token_id,
            batch_size=int(entry["batch_size"]),
            tokens_per_batch=int(entry["tokens_per_batch"]),
            progress=progress,
        )
        lengths = tokenizer([r["response"] for r in rows], add_special_tokens=False)["input_ids"]
        return [
            {
                "loss": c,
                "loss_unconditional": u,
                "length": len(ids),
                "n_tokens": len(p.response_ids),
                "tokens_read": len(p.input_ids) + len(b.input_ids),
            }
            for c, u, p, b, ids in zip(
                both[: len(rows)], both[len(rows) :], pairs, bare, lengths, strict=True
            )
        ]

    return score


def per_response(
    model_path: str,
    entry: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    threads: int | None = None,
) -> list[dict[str, Any]]:
    """The compatibility job's records: `scorer`'s numbers with each response's id."""
    score = scorer(model_path, entry, threads)
    with tqdm(total=2 * len(rows), desc=f"loss {entry['name']}", unit="seq") as bar:
        scored = score(rows, bar.update)
    return [
        {"id": r["id"], "sample": r["sample"],
         **{k: v for k, v in found.items() if k != "tokens_read"}}
        for r, found in zip(rows, scored, strict=True)
    ]  # fmt: skip


def summarize(records: Sequence[dict[str, Any]], options: Mapping[str, Any]) -> dict[str, float]:
    """The cell's summary under the configured metric definitions (`compatibility.metrics`)."""
    return compatibility_summary(
        [r["loss"] for r in records],
        [r["loss_unconditional"] for r in records],
        [r["length"] for r in records],
        [r["n_tokens"] for r in records] if all("n_tokens" in r for r in records) else None,
        options,
    )
