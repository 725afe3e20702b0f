"""Generation stops where the chat template ends a turn, not only at EOS. The tokenizer here is
ChatML with EOS <|endoftext|> and turns closed by <|im_end|>, as Qwen2.5's base models ship:
a student fine-tuned on that template ends its answers with <|im_end|>, which EOS alone would
never stop."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import model_entry, tiny_recipe

from teachergrid.core.chat import stops, turn_end
from teachergrid.screening.backends.base import Decoding
from teachergrid.screening.backends.hf import HFBackend
from teachergrid.screening.backends.vllm import sampling_kwargs


@pytest.fixture(scope="module")
def base_chatml(tmp_path_factory) -> Path:
    """A tiny Llama (a few training steps) with the EOS != end-of-turn tokenizer."""
    from teachergrid.tiny.build import build_model, build_tokenizer

    root = tmp_path_factory.mktemp("stops")
    build_tokenizer(root / "tok", 384, "chatml-base", seed=0)
    recipe = tiny_recipe(role="teacher", architecture="llama", tokenizer="x", hidden_size=32,
                         steps=2, dialect="llama", batch_size=4)  # fmt: skip
    build_model("stopper", recipe, root / "tok", root / "model", seed=0)
    return root / "model"


def test_stop_tokens_come_from_the_template(base_chatml):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base_chatml)
    assert tok.eos_token == "<|endoftext|>"
    assert turn_end(tok) == "<|im_end|>"
    ends = stops(tok)
    assert set(ends.token_ids) == {tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")}
    assert ends.strings == ()
    # configured stop strings of several tokens are kept as strings; one-token ones as ids
    ends = stops(tok, ["<|im_start|>", "Answer: done"])
    assert tok.convert_tokens_to_ids("<|im_start|>") in ends.token_ids
    assert ends.strings == ("Answer: done",)
    # vLLM is given the ids as stop_token_ids
    params = sampling_kwargs(Decoding(), {}, ends.token_ids)
    assert params["stop_token_ids"] == list(ends.token_ids)


def test_hf_generation_stops_at_the_end_of_turn_token(base_chatml):
    import torch

    teacher = model_entry("teachers", name="t", batch_size=4)
    backend = HFBackend(str(base_chatml), teacher, Decoding(max_new_tokens=32))
    # Make the model certain of token 0, <|im_end|>: with the final norm at zero every logit
    # is 0, and greedy decoding picks the first id.
    with torch.no_grad():
        backend.model.model.norm.weight.zero_()
    assert backend.tokenizer.convert_ids_to_tokens(0) == "<|im_end|>"
    lengths: list[int] = []
    generate = backend.model.generate

    def counted(**kwargs):
        out = generate(**kwargs)
        lengths.append(out.shape[1] - kwargs["input_ids"].shape[1])
        return out

    backend.model.generate = counted
    assert backend.generate(["What is 2 + 2?", "Name a river."]) == [[""], [""]]
    # one token (the turn's end) per answer, not the 32 an EOS-only stop would run to
    assert lengths == [1]
