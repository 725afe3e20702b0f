"""Per-response loss: hand-computed on a model with known probabilities, then batching checks
on a real tiny Llama."""

import math

import pytest
import torch
from helpers import model_entry, scoring_entry

from teachergrid.core.chat import EncodedPair
from teachergrid.core.logprobs import length_sorted_batches, response_losses


class CopyModel(torch.nn.Module):
    """Predicts the next token is the current one with probability p (the rest uniform).

    Losses are then known in closed form: -log p for a repeated token, -log((1-p)/(V-1))
    otherwise.
    """

    def __init__(self, vocab: int, p: float) -> None:
        super().__init__()
        self.vocab, self.p = vocab, p
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None):
        probs = torch.full((*input_ids.shape, self.vocab), (1 - self.p) / (self.vocab - 1))
        probs.scatter_(-1, input_ids.unsqueeze(-1), self.p)
        return type("Out", (), {"logits": probs.log()})()


def test_loss_counts_response_tokens_only_by_hand():
    vocab, p = 10, 0.5
    miss = -math.log((1 - p) / (vocab - 1))
    hit = -math.log(p)
    model = CopyModel(vocab, p)
    # prompt [1, 2, 3], response [3, 3, 4]: predictions 3|3 hit, 3|3 hit, 4|3 miss.
    # The prompt's own transitions (2|1, 3|2: misses) must not count.
    pair = EncodedPair([1, 2, 3], [3, 3, 4])
    [loss] = response_losses(model, [pair], pad_id=0)
    assert loss == pytest.approx((hit + hit + miss) / 3)
    # a second example of another length in the same batch changes nothing (padding masked)
    other = EncodedPair([5], [6])
    losses = response_losses(model, [pair, other], pad_id=0, batch_size=2)
    assert losses[0] == pytest.approx((2 * hit + miss) / 3)
    assert losses[1] == pytest.approx(miss)


def test_length_sorted_batches_cover_every_index_once():
    batches = length_sorted_batches([3, 9, 1, 9, 4], 2)
    assert batches == [[1, 3], [4, 0], [2]]


def test_batched_equals_one_at_a_time_on_a_real_model(tiny_llama):
    from teachergrid.core.chat import encode_pair, load_tokenizer
    from teachergrid.core.modeling import load_causal_lm

    tok = load_tokenizer(str(tiny_llama))
    model = load_causal_lm(str(tiny_llama), model_entry("bases", name="t", dtype="float32"))
    pairs = [
        encode_pair(tok, q, a)
        for q, a in [
            ("What is the capital of France?", "The capital of France is Paris."),
            ("Add 3 and 4.", "3 plus 4 is 7."),
            ("Write these words backwards: apple river stone cloud", "cloud stone river apple"),
        ]
    ]
    batched = response_losses(model, pairs, pad_id=tok.pad_token_id, batch_size=3)
    single = [response_losses(model, [p], pad_id=tok.pad_token_id)[0] for p in pairs]
    assert batched == pytest.approx(single, abs=1e-5)
    # and equal to transformers' own loss with the prompt masked out
    ids = torch.tensor([pairs[0].input_ids])
    labels = ids.clone()
    labels[0, : pairs[0].n_prompt] = -100
    with torch.no_grad():
        reference = model(input_ids=ids, labels=labels).loss.item()
    assert batched[0] == pytest.approx(reference, abs=1e-5)


def test_compatibility_options_change_what_is_scored(tiny_llama):
    """On a real tiny model: without the end-of-turn markup fewer tokens are scored; the
    header context of IFD changes only the unconditional loss; the summary follows the
    configured averages."""
    from teachergrid.screening.compatibility import per_response, summarize
    from teachergrid.screening.metrics import average_loss

    rows = [
        {"id": "a", "sample": 0, "instruction": "What is 2 + 3?", "response": "Answer: 5"},
        {"id": "b", "sample": 0, "instruction": "Name a river.", "response": "The Nile is long."},
    ]
    entry = {"name": "t", "batch_size": 2, "max_length": 128}
    default = per_response(str(tiny_llama), scoring_entry(**entry), rows)
    text_only = per_response(
        str(tiny_llama), scoring_entry(**entry, metrics={"score_turn_end": False}), rows
    )
    header = per_response(
        str(tiny_llama), scoring_entry(**entry, metrics={"ifd_context": "header"}), rows
    )
    assert all(t["n_tokens"] < d["n_tokens"] for t, d in zip(text_only, default, strict=True))
    assert [h["loss"] for h in header] == [d["loss"] for d in default]
    assert [h["loss_unconditional"] for h in header] != [d["loss_unconditional"] for d in default]
    token = summarize(default, scoring_entry(metrics={"loss_average": "token"})["metrics"])
    assert token["loss"] == pytest.approx(
        average_loss([d["loss"] for d in default], [d["n_tokens"] for d in default], "token")
    )
    assert summarize(default, scoring_entry()["metrics"])["loss"] == pytest.approx(
        (default[0]["loss"] + default[1]["loss"]) / 2
    )
