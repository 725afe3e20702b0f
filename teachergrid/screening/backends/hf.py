"""transformers backend: batched, left-padded, length-sorted generation (the tiny default)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from teachergrid.core.chat import load_tokenizer, render_prompt, stops
from teachergrid.core.logprobs import length_sorted_batches, pad_batch
from teachergrid.core.modeling import input_device, load_causal_lm, set_threads
from teachergrid.screening.backends.base import Decoding, truncate_at_stop


class HFBackend:
    def __init__(
        self,
        model_path: str,
        teacher: dict[str, Any],
        decoding: Decoding,
        threads: int | None = None,
    ) -> None:
        set_threads(threads)
        self.teacher = teacher
        self.decoding = decoding
        self.tokenizer = load_tokenizer(
            model_path,
            teacher.get("chat_template"),
            revision=teacher.get("revision"),
            trust_remote_code=teacher["trust_remote_code"],
            padding_side="left",
        )
        self.model = load_causal_lm(model_path, teacher)
        self.batch_size = int(teacher["batch_size"])
        # the answer ends where the chat template ends a turn, not only at EOS
        self.stops = stops(
            self.tokenizer,
            teacher["stop"],
            getattr(self.model.generation_config, "eos_token_id", None),
        )
        self.stop_ids = list(self.stops.token_ids)

    def generate(
        self, instructions: Sequence[str], max_new_tokens: int | None = None
    ) -> list[list[str]]:
        import torch

        tok = self.tokenizer
        prompts = [
            render_prompt(tok, text, self.teacher.get("system_prompt")) for text in instructions
        ]
        encoded = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
        out: list[list[str]] = [[] for _ in prompts]
        finish: list[list[str]] = [[] for _ in prompts]
        dev = input_device(self.model)
        d = self.decoding.limited(max_new_tokens)
        kwargs: dict[str, Any] = {
            "max_new_tokens": d.max_new_tokens,
            "num_return_sequences": d.n,
            "eos_token_id": self.stop_ids,
            "pad_token_id": tok.pad_token_id,
        }
        if self.stops.strings:
            kwargs.update(stop_strings=list(self.stops.strings), tokenizer=tok)
        if d.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=d.temperature, top_p=d.top_p, top_k=None)
            torch.manual_seed(d.seed)
        for batch in length_sorted_batches([len(e) for e in encoded], self.batch_size):
            ids, mask = pad_batch([encoded[i] for i in batch], tok.pad_token_id, left=True)
            width = ids.shape[1]
            with torch.inference_mode():
                generated = self.model.generate(
                    input_ids=ids.to(dev), attention_mask=mask.to(dev), **kwargs
                )
            new_ids = generated[:, width:]
            texts = tok.batch_decode(new_ids, skip_special_tokens=True)
            stop_ids = set(self.stop_ids)
            for row, i in enumerate(batch):
                for j in range(d.n):
                    raw = texts[row * d.n + j]
                    text = truncate_at_stop(raw, self.stops.strings)
                    out[i].append(text.strip())
                    # cut: every new token spent, none of them an end and no stop string
                    ids = new_ids[row * d.n + j].tolist()
                    ended = stop_ids.intersection(ids) or len(text) < len(raw)
                    finish[i].append(
                        "length" if len(ids) >= d.max_new_tokens and not ended else "stop"
                    )
        self.last_finish = finish
        return out

    def close(self) -> None:
        del self.model
