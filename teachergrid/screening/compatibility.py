"""Compatibility of a teacher's responses with a scoring model (a base, or the reference LM).

For every response: the loss given the instruction (the base's own chat template, the split of
`chat.encode_pair`), the loss of the same tokens with no instruction (for IFD), and the length
of the response text in the scoring model's tokens. The model is loaded once per job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tqdm import tqdm

from teachergrid.core.chat import encode_pair, encode_unconditional, load_tokenizer
from teachergrid.core.logprobs import response_losses
from teachergrid.core.modeling import load_causal_lm, set_threads
from teachergrid.screening.metrics import compatibility_summary


def per_response(
    model_path: str,
    entry: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    threads: int | None = None,
) -> list[dict[str, Any]]:
    set_threads(threads)
    tokenizer = load_tokenizer(
        model_path,
        entry["chat_template"],
        revision=entry["revision"],
        trust_remote_code=entry["trust_remote_code"],
    )
    model = load_causal_lm(model_path, entry)
    max_length = int(entry["max_length"])
    options = entry["metrics"]
    pairs = [
        encode_pair(
            tokenizer,
            r["instruction"],
            r["response"],
            max_length=max_length,
            turn_end=bool(options["score_turn_end"]),
        )
        for r in rows
    ]
    bare = [encode_unconditional(p, tokenizer, options["ifd_context"]) for p in pairs]
    # the conditional and unconditional passes in one length-sorted stream: short bare
    # responses fill the batches the long conditioned ones leave
    with tqdm(total=2 * len(rows), desc=f"loss {entry['name']}", unit="seq") as bar:
        both = response_losses(
            model,
            [*pairs, *bare],
            pad_id=tokenizer.pad_token_id,
            batch_size=int(entry["batch_size"]),
            tokens_per_batch=int(entry["tokens_per_batch"]),
            progress=bar.update,
        )
    cond, uncond = both[: len(pairs)], both[len(pairs) :]
    return [
        {
            "id": r["id"],
            "sample": r["sample"],
            "loss": c,
            "loss_unconditional": u,
            "length": len(tokenizer(r["response"], add_special_tokens=False)["input_ids"]),
            "n_tokens": len(p.response_ids),
        }
        for r, c, u, p in zip(rows, cond, uncond, pairs, strict=True)
    ]


def summarize(records: Sequence[dict[str, Any]], options: Mapping[str, Any]) -> dict[str, float]:
    """The cell's summary under the configured metric definitions (`compatibility.metrics`)."""
    return compatibility_summary(
        [r["loss"] for r in records],
        [r["loss_unconditional"] for r in records],
        [r["length"] for r in records],
        [r["n_tokens"] for r in records] if all("n_tokens" in r for r in records) else None,
        options,
    )
