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
    def __init__(self, model_path: str, teacher: dict[str, Any], decoding: Decoding) -> None:
        import vllm
        from transformers import AutoTokenizer
        from vllm import LLM, SamplingParams

        log.info("vLLM %s serves %s", vllm.__version__, model_path)
        self.teacher = teacher
        self.decoding = decoding
        self.llm = LLM(**engine_kwargs(model_path, teacher))
        tokenizer = AutoTokenizer.from_pretrained(
            model_path,
            revision=teacher.get("revision"),
            trust_remote_code=bool(teacher["trust_remote_code"]),
        )
        self.chat_template = resolve_chat_template(tokenizer, teacher.get("chat_template"))
        tokenizer.chat_template = self.chat_template
        ends = stops(tokenizer, teacher["stop"])
        log.info("generation stops at token ids %s and strings %s", ends.token_ids, ends.strings)
        self.stop_strings = list(dict.fromkeys([*teacher["stop"], *ends.strings]))
        params = sampling_kwargs(decoding, {**teacher, "stop": self.stop_strings}, ends.token_ids)
        self.params = SamplingParams(**params)

    def generate(self, instructions: Sequence[str]) -> list[list[str]]:
        outputs = self.llm.chat(
            conversations(instructions, self.teacher.get("system_prompt")),
            sampling_params=self.params,
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
