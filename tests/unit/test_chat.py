"""The prompt/response split shared by the loss and fine-tuning code, on real tokenizers."""

import pytest

from teachergrid.core.chat import (
    DEFAULT_CHAT_TEMPLATE,
    TemplateError,
    encode_pair,
    encode_unconditional,
    load_tokenizer,
    render_prompt,
)


def test_prompt_tokens_are_the_rendered_prompt_and_response_follows(tokenizer_dirs):
    tok = load_tokenizer(str(tokenizer_dirs["chatml"]))
    pair = encode_pair(tok, "What is the capital of Peru?", "The capital of Peru is Lima.")
    prompt = render_prompt(tok, "What is the capital of Peru?")
    assert (
        prompt
        == "<|im_start|>user\nWhat is the capital of Peru?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert pair.prompt_ids == tok(prompt, add_special_tokens=False)["input_ids"]
    # the response segment is the answer plus the template's end-of-turn markup, nothing else
    assert tok.decode(pair.response_ids) == "The capital of Peru is Lima.<|im_end|>\n"
    assert pair.input_ids == pair.prompt_ids + pair.response_ids
    assert pair.n_prompt == len(pair.prompt_ids)


def test_tokenizer_without_template_gets_the_documented_default(tokenizer_dirs):
    """No template and no family's chat tokens: the default, opened by the start token that
    also opens IFD's unconditioned context (EOS here: the tokenizer has no BOS)."""
    tok = load_tokenizer(str(tokenizer_dirs["plain"]))
    assert tok.chat_template == DEFAULT_CHAT_TEMPLATE
    pair = encode_pair(tok, "Add 2 and 3.", "2 plus 3 is 5.")
    assert tok.decode(pair.prompt_ids) == (
        "<|endoftext|>### Instruction:\nAdd 2 and 3.\n\n### Response:\n"
    )
    assert tok.decode(pair.response_ids) == "2 plus 3 is 5.<|endoftext|>\n\n"
    bare = encode_unconditional(pair, tok)
    assert pair.input_ids[0] == bare.input_ids[0] == tok.eos_token_id


def test_truncation_keeps_the_response_and_the_end_of_the_prompt(tokenizer_dirs):
    tok = load_tokenizer(str(tokenizer_dirs["chatml"]))
    question, answer = "Count the words: " + "apple " * 30, "There are 30 words."
    full = encode_pair(tok, question, answer)
    budget = 2 * len(full.response_ids) + 2  # the response fits in half the budget
    assert budget < len(full.input_ids)
    cut = encode_pair(tok, question, answer, max_length=budget)
    assert len(cut.input_ids) == budget
    assert cut.response_ids == full.response_ids
    assert cut.prompt_ids == full.prompt_ids[-(budget - len(full.response_ids)) :]


def test_unconditional_scores_the_same_response_tokens(tokenizer_dirs):
    tok = load_tokenizer(str(tokenizer_dirs["llama3"]))
    pair = encode_pair(tok, "What color is snow?", "Snow is white.")
    bare = encode_unconditional(pair, tok)
    assert bare.response_ids == pair.response_ids
    assert bare.prompt_ids == [tok.bos_token_id]
    plain = load_tokenizer(str(tokenizer_dirs["plain"]))
    assert encode_unconditional(encode_pair(plain, "a", "b"), plain).prompt_ids == [
        plain.eos_token_id  # no BOS: GPT-2 convention
    ]


def test_template_whose_prompt_is_not_a_prefix_is_rejected(tokenizer_dirs, tmp_path):
    odd = tmp_path / "odd.jinja"
    odd.write_text(
        "{% for m in messages %}{{ m['content'] }}|{% endfor %}"
        "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
    )
    tok = load_tokenizer(str(tokenizer_dirs["chatml"]), chat_template=str(odd))
    with pytest.raises(TemplateError):
        encode_pair(tok, "hi", "there")


def test_end_of_turn_markup_and_ifd_context_options(tokenizer_dirs):
    tok = load_tokenizer(str(tokenizer_dirs["chatml"]))
    answer = "The capital of Peru is Lima."
    with_markup = encode_pair(tok, "Capital of Peru?", answer)
    text_only = encode_pair(tok, "Capital of Peru?", answer, turn_end=False)
    assert tok.decode(text_only.response_ids) == answer
    assert text_only.prompt_ids == with_markup.prompt_ids
    assert len(text_only.response_ids) < len(with_markup.response_ids)
    bare = encode_unconditional(with_markup, tok)
    header = encode_unconditional(with_markup, tok, "header")
    assert len(bare.prompt_ids) == 1 and bare.response_ids == with_markup.response_ids
    assert tok.decode(header.prompt_ids[1:]) == "### Response:"
    assert header.response_ids == with_markup.response_ids
    with pytest.raises(ValueError, match="unknown IFD context"):
        encode_unconditional(with_markup, tok, "instruction")


def test_a_base_without_a_template_takes_its_familys_beginning_with_bos(tokenizer_dirs):
    """`chat_template: llama3` on a Llama-style tokenizer whose own template is replaced: the
    prompt is Llama 3's turn markup after the tokenizer's BOS, the response ends with the turn's
    end, and IFD's unconditioned context begins with the same BOS."""
    from teachergrid.core.chat import NAMED_TEMPLATES, start_token_id, template_name

    tok = load_tokenizer(str(tokenizer_dirs["llama3"]), "llama3")
    assert tok.chat_template == NAMED_TEMPLATES["llama3"]
    prompt = render_prompt(tok, "  Name a colour. ")
    assert prompt == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nName a colour.<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    pair = encode_pair(tok, "Name a colour.", "Red.")
    assert tok.decode(pair.response_ids) == "Red.<|eot_id|>"
    bare = encode_unconditional(pair, tok)
    assert pair.input_ids[0] == bare.input_ids[0] == start_token_id(tok) == tok.bos_token_id
    # every named template renders a prompt that is a prefix of its conversation
    for name in NAMED_TEMPLATES:
        other = load_tokenizer(str(tokenizer_dirs["llama3"]), name)
        assert encode_pair(other, "q", "a").response_ids
    assert template_name("llama3", True) == "the llama3 template"
    assert template_name(None, False) == "the project's default template"


def test_a_tokenizer_with_a_familys_chat_tokens_but_no_template_gets_that_family(
    tokenizer_dirs, tmp_path
):
    """A Llama-3 base ships the chat tokens without a template: with no setting it is scored
    and fine-tuned on the llama3 template (BOS first), not on the default."""
    from transformers import AutoTokenizer

    from teachergrid.core.chat import NAMED_TEMPLATES, family_template, template_name

    bare = AutoTokenizer.from_pretrained(str(tokenizer_dirs["llama3"]))
    bare.chat_template = None
    bare.save_pretrained(tmp_path / "llama3-base")
    assert not AutoTokenizer.from_pretrained(str(tmp_path / "llama3-base")).chat_template
    tok = load_tokenizer(str(tmp_path / "llama3-base"))
    assert tok.chat_template == NAMED_TEMPLATES["llama3"]
    assert render_prompt(tok, "Hi").startswith("<|begin_of_text|><|start_header_id|>user")
    assert family_template(tok) == "llama3"
    assert template_name(None, False, "llama3") == (
        "the llama3 template (its tokenizer has '<|start_header_id|>')"
    )
    # the setting still decides where there is one; a ChatML vocabulary is recognised too
    assert load_tokenizer(str(tmp_path / "llama3-base"), "default").chat_template == (
        DEFAULT_CHAT_TEMPLATE
    )
    assert family_template(load_tokenizer(str(tokenizer_dirs["chatml"]))) == "chatml"
    assert family_template(load_tokenizer(str(tokenizer_dirs["plain"]))) is None
