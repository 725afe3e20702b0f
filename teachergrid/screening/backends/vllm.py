"""vLLM offline engine backend (the cluster default for open teachers).

vLLM is imported only when this backend is built: the package, its tests and the tiny grid run
without it. Request construction and output parsing are plain functions so they are tested
without an engine.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from teachergrid.core.chat import messages, resolve_chat_template, stops
from teachergrid.screening.backends.base import Decoding, truncate_at_stop

log = logging.getLogger(__name__)


def engine_kwargs(model_path: str, teacher: dict[str, Any]) -> dict[str, Any]:
    """Arguments for `vllm.LLM(...)` from a teacher's config entry."""
    kwargs: dict[str, Any] = {
        "model": model_path,
        "tensor_parallel_size": int(teacher["tensor_parallel_size"]),
        "trust_remote_code": bool(teacher["trust_remote_code"]),
        "gpu_memory_utilization": float(teacher["gpu_memory_utilization"]),
        "dtype": teacher["dtype"],
    }
    if teacher.get("revision"):
        kwargs["revision"] = teacher["revision"]
    if teacher.get("max_model_len"):
        kwargs["max_model_len"] = int(teacher["max_model_len"])
    if teacher.get("enforce_eager"):
        kwargs["enforce_eager"] = True
    return kwargs


# vLLM's cache is allocated in blocks; a context rounded up to a block wastes nothing
CONTEXT_BLOCK = 256


def context_length(
    prompt_lengths: Sequence[int], max_new_tokens: int, model_max: int | None
) -> int:
    """The engine's `max_model_len` for this job's work: its longest prompt plus the answer's
    token limit, rounded up to a block, and never past the model's own context. Left at the
    model's context (128K for Llama-3.1 or Phi-3-128k), vLLM sizes its profiling and its
    per-sequence limits for sequences this study never makes."""
    need = max(prompt_lengths, default=0) + int(max_new_tokens)
    need = -(-need // CONTEXT_BLOCK) * CONTEXT_BLOCK
    return min(need, int(model_max)) if model_max else need


def prompt_lengths(
    tokenizer: Any, chat_template: str, instructions: Sequence[str], system: str | None
) -> list[int]:
    """Each instruction's prompt in tokens, as the engine will be given it (chat template and
    generation prompt)."""
    texts = [
        tokenizer.apply_chat_template(
            messages(text, system=system),
            chat_template=chat_template,
            add_generation_prompt=True,
            tokenize=False,
        )
        for text in instructions
    ]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def sampling_kwargs(
    decoding: Decoding, teacher: dict[str, Any], stop_token_ids: Sequence[int] = ()
) -> dict[str, Any]:
    """Arguments for `vllm.SamplingParams(...)`; greedy is temperature 0 with top_p 1. vLLM
    stops at the model's EOS by itself; `stop_token_ids` adds the chat template's end of a
    turn (`chat.stops`)."""
    kwargs: dict[str, Any] = {
        "n": decoding.n,
        "max_tokens": decoding.max_new_tokens,
        "temperature": decoding.temperature,
        "top_p": 1.0 if decoding.greedy else decoding.top_p,
        "seed": decoding.seed,
    }
    if teacher.get("stop"):
        kwargs["stop"] = list(teacher["stop"])
    if stop_token_ids:
        kwargs["stop_token_ids"] = list(stop_token_ids)
    return kwargs


def conversations(instructions: Sequence[str], system: str | None) -> list[list[dict[str, str]]]:
    return [messages(text, system=system) for text in instructions]


def parse_outputs(outputs: Sequence[Any], n: int, stops: Sequence[str]) -> list[list[str]]:
    """`RequestOutput`s (one per prompt, `.outputs[j].text`) to response lists, in order."""
    parsed = []
    for i, request in enumerate(outputs):
        texts = [truncate_at_stop(o.text, stops).strip() for o in request.outputs]
        if len(texts) != n:
            raise RuntimeError(f"prompt {i}: engine returned {len(texts)} samples, expected {n}")
        parsed.append(texts)
    return parsed


class VLLMBackend:
    """One engine for one job. `prompts`: the instructions the job will give it, from which
    the engine's context is sized where the config sets no `max_model_len`."""

    def __init__(
        self,
        model_path: str,
        teacher: dict[str, Any],
        decoding: Decoding,
        prompts: Sequence[str] | None = None,
    ) -> None:
        import vllm
        from transformers import AutoConfig, AutoTokenizer
        from vllm import LLM

        log.info("vLLM %s serves %s", vllm.__version__, model_path)
        self.teacher = teacher
        self.decoding = decoding
        tokenizer = AutoTokenizer.from_pretrained(
            model_path,
            revision=teacher.get("revision"),
            trust_remote_code=bool(teacher["trust_remote_code"]),
        )
        self.chat_template = resolve_chat_template(tokenizer, teacher.get("chat_template"))
        tokenizer.chat_template = self.chat_template
        if not teacher.get("max_model_len") and prompts:
            config = AutoConfig.from_pretrained(
                model_path,
                revision=teacher.get("revision"),
                trust_remote_code=bool(teacher["trust_remote_code"]),
            )
            lengths = prompt_lengths(
                tokenizer, self.chat_template, prompts, teacher.get("system_prompt")
            )
            context = context_length(
                lengths, decoding.max_new_tokens, getattr(config, "max_position_embeddings", None)
            )
            log.info(
                "engine context %d tokens: longest of %d prompts %d + at most %d new",
                context, len(lengths), max(lengths), decoding.max_new_tokens,
            )  # fmt: skip
            teacher = {**teacher, "max_model_len": context}
        self.llm = LLM(**engine_kwargs(model_path, teacher))
        ends = stops(tokenizer, teacher["stop"])
        log.info("generation stops at token ids %s and strings %s", ends.token_ids, ends.strings)
        self.stop_strings = list(dict.fromkeys([*teacher["stop"], *ends.strings]))
        self.stop_ids = ends.token_ids

    def params(self, max_new_tokens: int | None) -> Any:
        from vllm import SamplingParams

        teacher = {**self.teacher, "stop": self.stop_strings}
        decoding = self.decoding.limited(max_new_tokens)
        return SamplingParams(**sampling_kwargs(decoding, teacher, self.stop_ids))

    def generate(
        self, instructions: Sequence[str], max_new_tokens: int | None = None
    ) -> list[list[str]]:
        outputs = self.llm.chat(
            conversations(instructions, self.teacher.get("system_prompt")),
            sampling_params=self.params(max_new_tokens),
            chat_template=self.chat_template,
            add_generation_prompt=True,
            use_tqdm=True,
        )
        self.last_finish = [
            [str(o.finish_reason or "unknown") for o in request.outputs] for request in outputs
        ]
        return parse_outputs(outputs, self.decoding.n, self.stop_strings)

    def close(self) -> None:
        del self.llm
