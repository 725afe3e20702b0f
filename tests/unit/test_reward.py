"""Reward scores are read at each response's last token, whatever the reward model's padding
convention: a reward model whose pad token is its EOS (as Llama-3 reward models have it) reads
a response that ends in EOS one token early under transformers' own rule."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_recipe

from teachergrid.core.logprobs import pad_batch
from teachergrid.screening.reward import read_scores, unused_id


@pytest.fixture(scope="module")
def pad_is_eos(tmp_path_factory, tokenizer_dirs):
    """A tiny Llama reward model (a few steps) whose config says its pad token is its EOS."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from teachergrid.tiny.build import build_model

    out = tmp_path_factory.mktemp("rm") / "rm"
    recipe = tiny_recipe(role="reward", architecture="llama", tokenizer="chatml",
                         hidden_size=32, steps=2, batch_size=4)  # fmt: skip
    build_model("rm", recipe, tokenizer_dirs["chatml"], out, seed=0)
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    eos = AutoTokenizer.from_pretrained(out).eos_token_id
    model.config.pad_token_id = eos
    return model, eos


def at_last_token(model, ids: list[int]) -> float:
    """The score head on the final position's hidden state: the reward of the whole text."""
    with torch.inference_mode():
        hidden = model.model(input_ids=torch.tensor([ids])).last_hidden_state
        return float(model.score(hidden)[0, -1, 0])


def test_a_response_ending_in_eos_is_scored_at_its_eos(pad_is_eos):
    model, eos = pad_is_eos
    rows = [[5, 9, 14, 22, eos], [7, 8, 30], [11, 12, 13, 40, 41, 42, eos]]
    truth = [at_last_token(model, r) for r in rows]
    with torch.inference_mode():
        scores = read_scores(model, rows)
    assert scores == pytest.approx(truth, abs=1e-5)
    # the trap it avoids: padded with the EOS, transformers' rule (the last token that is not
    # the pad id) reads the rows that end in EOS at the token before it
    model.config.pad_token_id = eos
    ids, mask = pad_batch(rows, eos)
    with torch.inference_mode():
        naive = [float(s) for s in model(input_ids=ids, attention_mask=mask).logits[:, 0]]
    assert naive[1] == pytest.approx(truth[1], abs=1e-5)  # no EOS: read right
    before_eos = [at_last_token(model, rows[0][:-1]), at_last_token(model, rows[2][:-1])]
    assert [naive[0], naive[2]] == pytest.approx(before_eos, abs=1e-5)
    assert abs(naive[0] - truth[0]) > 1e-4


def test_the_padding_id_is_one_no_row_contains():
    assert unused_id([[0, 1, 3], [2]], 10) == 4
    assert unused_id([[5]], 10) == 0
