"""Per-response loss: hand-computed on a model with known probabilities, then batching checks
on a real tiny Llama."""

import math

import pytest
import torch
from helpers import model_entry, scoring_entry

from teachergrid.core.chat import EncodedPair
from teachergrid.core.logprobs import length_sorted_batches, response_losses, token_budget_batches


class CopyModel(torch.nn.Module):
    """Predicts the next token is the current one with probability p (the rest uniform).

    Losses are then known in closed form: -log p for a repeated token, -log((1-p)/(V-1))
    otherwise.
    """

    def __init__(self, vocab: int, p: float) -> None:
        super().__init__()
        self.vocab, self.p = vocab, p
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None, use_cache=None):
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


def random_lm(architecture: str, vocab: int = 512, **extra):
    """A randomly initialised tiny causal LM (fp32) of a transformers architecture."""
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    cfg = AutoConfig.for_model(
        architecture,
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=1024,
        pad_token_id=0,
        **extra,
    )
    return AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).eval()


def random_pairs(n: int, vocab: int, seed: int = 0) -> list[EncodedPair]:
    import random

    rng = random.Random(seed)
    return [
        EncodedPair(
            [rng.randrange(1, vocab) for _ in range(rng.randint(1, 40))],
            [rng.randrange(1, vocab) for _ in range(rng.randint(1, 120))],
        )
        for _ in range(n)
    ]


def test_token_budget_batches_hold_the_budget_and_every_index_once():
    lengths = [5, 50, 20, 20, 7, 90, 3]
    batches = token_budget_batches(lengths, max_rows=3, tokens=60)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert batches[0] == [5]  # longer than the budget: a batch of its own, first
    for b in batches:
        assert len(b) <= 3
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 60
    assert batches == [[5], [1], [2, 3, 4], [0, 6]]  # 3 x 20 = 60 fits exactly


@pytest.mark.parametrize(
    ("architecture", "extra"),
    [("llama", {}), ("gemma2", {"final_logit_softcapping": 2.0, "attn_logit_softcapping": 5.0})],
)
def test_budgeted_scoring_equals_the_full_logits(architecture, extra, monkeypatch, caplog):
    """The decoder + chunked-head path gives the losses of the model's whole logits, under a
    budget that forces many batches and many logit chunks; Gemma-2's logit soft-capping (set
    strong here so that it matters) is applied, not bypassed by a silent fallback; no logits
    tensor has more than a chunk of positions and no batch more than the budget's tokens."""
    import teachergrid.core.logprobs as logprobs

    vocab = 512
    model = random_lm(architecture, vocab, **extra)
    pairs = random_pairs(24, vocab)
    reference = response_losses(model, pairs, pad_id=0, batch_size=1, full_logits=True)
    monkeypatch.setattr(logprobs, "LOGIT_CHUNK", 50)
    seen_heads, seen_batches = [], []
    model.get_output_embeddings().register_forward_hook(
        lambda _m, args, _o: seen_heads.append(args[0].shape[0])
    )
    model.get_decoder().register_forward_hook(
        lambda _m, _a, kwargs, _o: seen_batches.append(tuple(kwargs["input_ids"].shape)),
        with_kwargs=True,
    )
    with caplog.at_level("WARNING"):
        budgeted = response_losses(model, pairs, pad_id=0, batch_size=16, tokens_per_batch=400)
    assert "full logits" not in caplog.text
    assert budgeted == pytest.approx(reference, abs=1e-5)
    assert max(seen_heads) <= 50
    assert len(seen_batches) > 3 and all(r * w <= 400 for r, w in seen_batches[1:])


def test_a_head_the_split_does_not_know_falls_back_to_full_logits(caplog):
    """A scale the model's forward does not apply (here: Llama does not read `logit_scale`)
    makes the split path disagree on its check: it warns and scores through full logits."""
    model = random_lm("llama")
    model.config.logit_scale = 30.0  # random logits are small: a large scale to matter
    pairs = random_pairs(6, 512)
    reference = response_losses(model, pairs, pad_id=0, full_logits=True)
    with caplog.at_level("WARNING"):
        losses = response_losses(model, pairs, pad_id=0)
    assert "scoring through full logits" in caplog.text
    assert losses == pytest.approx(reference, abs=1e-6)


PEAK_SCRIPT = """
import resource, sys, torch
sys.path.insert(0, {tests!r})
from unit.test_scoring import random_lm, random_pairs
from teachergrid.core.logprobs import response_losses
model = random_lm("llama", {vocab})
pairs = random_pairs(64, {vocab}, seed=1)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
losses = response_losses(model, pairs, pad_id=0, batch_size=64, tokens_per_batch={budget},
                         full_logits={full})
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base, sum(losses))
"""


def test_peak_memory_follows_the_budget_not_the_vocabulary():
    """In fresh processes: scoring 64 sequences with a 100K vocabulary in one batch of full
    logits raises the peak resident memory by about their size (64 x 160 x 100K x 4 bytes,
    4 GB at most); the budgeted path's rise stays far below it, with the same losses."""
    import subprocess
    import sys
    from pathlib import Path

    vocab = 100_000
    tests = str(Path(__file__).resolve().parents[1])

    def peak(full: bool, budget: int) -> tuple[float, float]:
        code = PEAK_SCRIPT.format(tests=tests, vocab=vocab, budget=budget, full=full)
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
        return int(out[0]) / 2**20, float(out[1])  # ru_maxrss is in KiB: GiB

    full_gib, full_sum = peak(True, 10**9)
    budget_gib, budget_sum = peak(False, 1024)
    assert budget_sum == pytest.approx(full_sum, rel=1e-5)
    positions = sum(len(p.input_ids) for p in random_pairs(64, vocab, seed=1))
    logits_gib = positions * vocab * 4 / 2**30
    assert full_gib > 0.5 * logits_gib
    assert budget_gib < 0.25 * full_gib
