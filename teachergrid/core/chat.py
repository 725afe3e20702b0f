"""Chat templates and the one prompt/response split every stage shares.

The base model's loss on a teacher's responses (compatibility) and the fine-tuning loss must
score exactly the same tokens, or CAR would measure something other than what fine-tuning
optimises. `encode_pair` is that single definition: the prompt is the chat template rendered
with a generation prompt, the response segment is whatever the full conversation adds after
it (the response text and the template's end-of-turn markup). Prompt and response are tokenised
separately, so the split never depends on how a tokenizer merges across the boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Used for tokenizers that ship no chat template and carry no family's chat tokens (GPT-2-like
# reference models, bases of other families) and wherever a config says chat_template: default.
# It begins with the token IFD's unconditioned context begins with (`start_token_id`: BOS, or
# EOS for GPT-2-style tokenizers without one), so that both contexts of a response begin alike.
DEFAULT_CHAT_TEMPLATE = (
    "{% if bos_token %}{{ bos_token }}{% elif eos_token %}{{ eos_token }}{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'user' %}### Instruction:\n{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'assistant' %}### Response:\n{{ message['content'] }}"
    "{{ eos_token }}\n\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}### Response:\n{% endif %}"
)


# The families' own chat templates by name, for bases whose tokenizer ships none: the Magpie
# recipes fine-tune such bases with their family's template (axolotl's `chat_template: llama3`
# for Llama bases). Each begins with the tokenizer's BOS where the family uses one, as IFD's
# unconditioned context does (`start_token_id`).
NAMED_TEMPLATES = {
    "llama3": (
        "{% for message in messages %}{% set content = '<|start_header_id|>' + message['role']"
        " + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' %}"
        "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
        "{{ content }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
        "{% endif %}"
    ),
    "chatml": (
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
        "message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    "gemma": (
        "{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + ('model' if "
        "message['role'] == 'assistant' else message['role']) + '\n' + message['content'] | trim"
        " + '<end_of_turn>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
    ),
}


# The turn-opening token of each named template: a tokenizer that carries it as one token of
# its vocabulary was trained for that family's chat format (a Llama-3, Qwen or Gemma base ships
# these tokens without a template), so it gets that family's template rather than the default.
FAMILY_MARKERS = {
    "llama3": "<|start_header_id|>",
    "chatml": "<|im_start|>",
    "gemma": "<start_of_turn>",
}


def family_template(tokenizer: Any) -> str | None:
    """The named template whose turn-opening token `tokenizer` has in its vocabulary, if any
    (the first in `FAMILY_MARKERS` order)."""
    vocab = tokenizer.get_vocab()
    return next((name for name, marker in FAMILY_MARKERS.items() if marker in vocab), None)


def template_name(setting: str | None, has_own: bool, family: str | None = None) -> str:
    """What a model's chat template will be, in words (the preflight says it per base);
    `family`: what `family_template` finds in its vocabulary."""
    if setting in NAMED_TEMPLATES:
        return f"the {setting} template"
    if setting == "default":
        return "the project's default template"
    if setting:
        return f"the template in {setting}"
    if has_own:
        return "its tokenizer's own template"
    if family:
        return f"the {family} template (its tokenizer has {FAMILY_MARKERS[family]!r})"
    return "the project's default template"


class TemplateError(ValueError):
    """A chat template whose prompt is not a prefix of the full conversation."""


def resolve_chat_template(tokenizer: Any, setting: str | None) -> str:
    """Return the template a model uses: the one its setting names (`default`, a family's named
    template in `NAMED_TEMPLATES`, or a file's content); with no setting its own, else its
    family's by the chat tokens in its vocabulary (`family_template`), else the default."""
    if setting is None:
        if tokenizer.chat_template:
            return tokenizer.chat_template
        family = family_template(tokenizer)
        return NAMED_TEMPLATES[family] if family else DEFAULT_CHAT_TEMPLATE
    if setting == "default":
        return DEFAULT_CHAT_TEMPLATE
    if setting in NAMED_TEMPLATES:
        return NAMED_TEMPLATES[setting]
    return Path(setting).read_text(encoding="utf-8")


def load_tokenizer(
    path: str,
    chat_template: str | None = None,
    *,
    revision: str | None = None,
    trust_remote_code: bool = False,
    padding_side: str = "right",
) -> Any:
    """Load a tokenizer with its effective chat template and a pad token set."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        path, revision=revision, trust_remote_code=trust_remote_code
    )
    tokenizer.chat_template = resolve_chat_template(tokenizer, chat_template)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def messages(instruction: str, response: str | None = None, system: str | None = None) -> list:
    out: list[dict[str, str]] = []
    if system:
        out.append({"role": "system", "content": system})
    out.append({"role": "user", "content": instruction})
    if response is not None:
        out.append({"role": "assistant", "content": response})
    return out


def turn_end(tokenizer: Any) -> str | None:
    """The marker the chat template writes right after an assistant's answer (`<|im_end|>`,
    `<end_of_turn>`, `<|eot_id|>`, or the EOS text for templates that close a turn with it),
    or None when the template closes nothing."""
    probe = "TEACHERGRID-RESPONSE"
    full = tokenizer.apply_chat_template(
        messages("question", probe), tokenize=False, add_generation_prompt=False
    )
    after = full.split(probe, 1)[1].strip() if probe in full else ""
    return after.split()[0] if after else None


@dataclass(frozen=True)
class Stops:
    """Where the generation of one answer stops: token ids (EOS, the generation config's EOS
    ids, and the template's end-of-turn marker when it is one token) and strings (configured
    `stop` strings, and a marker that is several tokens)."""

    token_ids: tuple[int, ...]
    strings: tuple[str, ...]


def stops(
    tokenizer: Any, extra: Sequence[str] = (), generation_eos: int | list[int] | None = None
) -> Stops:
    """Stop tokens of a model from its own template and tokenizer. A base model's EOS
    (`<|endoftext|>`, `<eos>`, `<|end_of_text|>`) is not the marker its chat template teaches a
    fine-tuned student to end a turn with, so generation that stopped only at EOS would run to
    the token limit."""
    ids = {tokenizer.eos_token_id}
    ids.update(generation_eos if isinstance(generation_eos, list) else [generation_eos])
    strings = []
    for text in [turn_end(tokenizer), *extra]:
        if not text:
            continue
        encoded = tokenizer.encode(text, add_special_tokens=False)
        if len(encoded) == 1:
            ids.add(encoded[0])
        else:
            strings.append(text)
    return Stops(tuple(sorted(i for i in ids if isinstance(i, int))), tuple(strings))


def render_prompt(tokenizer: Any, instruction: str, system: str | None = None) -> str:
    return tokenizer.apply_chat_template(
        messages(instruction, system=system), tokenize=False, add_generation_prompt=True
    )


@dataclass(frozen=True)
class EncodedPair:
    """Token ids of one (instruction, response) pair, split where the response starts."""

    prompt_ids: list[int]
    response_ids: list[int]

    @property
    def input_ids(self) -> list[int]:
        return self.prompt_ids + self.response_ids

    @property
    def n_prompt(self) -> int:
        return len(self.prompt_ids)


def split_text(
    tokenizer: Any, instruction: str, response: str, system: str | None = None
) -> tuple[str, str]:
    """Render (prompt, response segment) as text with the tokenizer's chat template."""
    prompt = render_prompt(tokenizer, instruction, system)
    full = tokenizer.apply_chat_template(
        messages(instruction, response, system), tokenize=False, add_generation_prompt=False
    )
    if not full.startswith(prompt):
        raise TemplateError(
            "chat template renders a prompt that is not a prefix of the full conversation; "
            "set chat_template to a template without that quirk"
        )
    return prompt, full[len(prompt) :]


def encode_pair(
    tokenizer: Any,
    instruction: str,
    response: str,
    *,
    system: str | None = None,
    max_length: int | None = None,
    turn_end: bool = True,
) -> EncodedPair:
    """Tokenise one pair for loss scoring and fine-tuning.

    The response segment is what the template adds after the prompt: the response and, with
    `turn_end` (the default, what fine-tuning trains on), the template's end-of-turn markup.
    Without it only the response text's tokens are scored (where the segment starts with the
    response text; the markup is then cut off).

    When prompt + response exceed `max_length`, the response keeps up to half the budget (or
    all it needs) and the prompt loses tokens from its start: the instruction's end, next to
    the response, is the context that matters most for the response's loss.
    """
    prompt, segment = split_text(tokenizer, instruction, response, system)
    if not turn_end:
        text = response.strip()
        at = segment.find(text) if text else -1
        segment = segment[: at + len(text)] if at >= 0 else segment
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    r = tokenizer(segment, add_special_tokens=False)["input_ids"]
    if max_length is not None and len(p) + len(r) > max_length:
        keep_r = max(max_length - len(p), min(len(r), max_length // 2))
        r = r[:keep_r]
        p = p[len(p) - (max_length - keep_r) :] if max_length - keep_r > 0 else []
    return EncodedPair(p, r)


def start_token_id(tokenizer: Any) -> int:
    """The token that opens a bare text: BOS where the tokenizer has one, else EOS (GPT-2 style)."""
    token_id = tokenizer.bos_token_id
    if token_id is None:
        token_id = tokenizer.eos_token_id
    if token_id is None:
        raise ValueError("tokenizer has neither a BOS nor an EOS token to start a text with")
    return int(token_id)


# The unconditioned context of the IFD reference implementation (Cherry_LLM): the response is
# scored after this header, with no instruction.
IFD_HEADER = "### Response:"


def encode_unconditional(pair: EncodedPair, tokenizer: Any, context: str = "start") -> EncodedPair:
    """The same response tokens with no instruction (for IFD): after only a start token
    (`start`), or after the reference implementation's `### Response:` header (`header`)."""
    prefix = [start_token_id(tokenizer)]
    if context == "header":
        prefix += tokenizer(IFD_HEADER, add_special_tokens=False)["input_ids"]
    elif context != "start":
        raise ValueError(f"unknown IFD context {context!r} (start or header)")
    return EncodedPair(prefix, list(pair.response_ids))
