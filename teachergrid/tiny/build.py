"""Build the tiny world from nothing: tokenizers, then teachers, bases, a reward model and a
reference LM, each a real transformers model trained for real (seeded, CPU, seconds each).

Nothing here is a stand-in for the real study's models: the rest of the workflow loads these
directories exactly as it loads hub checkpoints.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from teachergrid.core.chat import encode_pair
from teachergrid.core.jsonl import as_umask_allows
from teachergrid.core.logprobs import pad_batch
from teachergrid.tiny import tasks

log = logging.getLogger(__name__)

TEMPLATES: dict[str, dict[str, Any]] = {
    "llama3": {
        "template": (
            "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}"
            "<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>{% endfor %}"
            "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n"
            "{% endif %}"
        ),
        "special": [
            "<|begin_of_text|>",
            "<|eot_id|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|finetune_pad|>",
        ],
        "bos": "<|begin_of_text|>",
        "eos": "<|eot_id|>",
        "pad": "<|finetune_pad|>",
    },
    "chatml": {
        "template": (
            "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
            "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
        ),
        "special": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        "bos": None,
        "eos": "<|im_end|>",
        "pad": "<|endoftext|>",
    },
    "gemma": {
        "template": (
            "{{ bos_token }}{% for m in messages %}<start_of_turn>"
            "{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n{{ m['content'] }}"
            "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n"
            "{% endif %}"
        ),
        "special": ["<pad>", "<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"],
        "bos": "<bos>",
        "eos": "<end_of_turn>",
        "pad": "<pad>",
    },
    # ChatML whose EOS is not the end-of-turn token, as in Qwen2.5's base models (EOS
    # <|endoftext|>, turns closed by <|im_end|>); <|im_end|> is token 0 here, which a test uses.
    "chatml-base": {
        "template": (
            "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
            "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
        ),
        "special": ["<|im_end|>", "<|endoftext|>", "<|im_start|>"],
        "bos": None,
        "eos": "<|endoftext|>",
        "pad": "<|endoftext|>",
    },
    "phi3": {
        "template": (
            "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
        ),
        "special": ["<|endoftext|>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"],
        "bos": None,
        "eos": "<|end|>",
        "pad": "<|endoftext|>",
    },
    "none": {
        "template": None,
        "special": ["<|endoftext|>"],
        "bos": None,
        "eos": "<|endoftext|>",
        "pad": "<|endoftext|>",
    },
}


def _dialect_of(rng: random.Random, own: str | None, own_share: float) -> str:
    """The dialect of one document: the family's own with probability `own_share`, else any
    (a corpus without an own dialect mixes all of them evenly)."""
    if own is not None and rng.random() < own_share:
        return own
    return rng.choice(sorted(tasks.DIALECTS))


def _corpus_lines(
    seed: int, dialect: str | None = None, own_share: float = 0.85, n: int = 3000
) -> Iterator[str]:
    """A tokenizer's training text: questions and answers, mostly in its family's dialect."""
    gen = tasks.stream(seed)
    rng = random.Random(seed)
    for _ in range(n):
        kind, question, answer, _ = next(gen)
        yield question
        yield tasks.render(kind, answer, _dialect_of(rng, dialect, own_share))


def build_tokenizer(
    out_dir: Path,
    vocab_size: int,
    template: str,
    seed: int,
    dialect: str | None = None,
    own_share: float = 0.85,
) -> None:
    """Train a byte-level BPE tokenizer on text mostly in `dialect` (so its own family's
    answers take the fewest tokens) and save it with its family's chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    spec = TEMPLATES[template]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=spec["special"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus_lines(seed, dialect, own_share), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=spec["bos"],
        eos_token=spec["eos"],
        pad_token=spec["pad"],
        chat_template=spec["template"],
    )
    fast.save_pretrained(out_dir)


def _arch_config(recipe: dict[str, Any], tokenizer: Any, num_labels: int | None) -> Any:
    import transformers as tf

    hidden = recipe["hidden_size"]
    heads = recipe["heads"]
    common = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden,
        "intermediate_size": hidden * 2,
        "num_hidden_layers": recipe["layers"],
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "max_position_embeddings": 256,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id
        if tokenizer.bos_token_id is not None
        else tokenizer.eos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "tie_word_embeddings": True,
    }
    arch = recipe["architecture"]
    if arch == "llama":
        cfg = tf.LlamaConfig(**common)
    elif arch == "qwen2":
        cfg = tf.Qwen2Config(**common)
    elif arch == "gemma2":
        cfg = tf.Gemma2Config(**common, head_dim=hidden // heads, sliding_window=128)
    elif arch == "phi3":
        cfg = tf.Phi3Config(**common)
    else:
        raise ValueError(f"unknown architecture {arch!r}")
    if num_labels is not None:
        cfg.num_labels = num_labels
    return cfg


def _make_model(recipe: dict[str, Any], tokenizer: Any) -> Any:
    import transformers as tf

    if recipe["role"] == "reward":
        cfg = _arch_config(recipe, tokenizer, num_labels=1)
        return tf.AutoModelForSequenceClassification.from_config(cfg)
    return tf.AutoModelForCausalLM.from_config(_arch_config(recipe, tokenizer, None))


# ---- training data per role ---------------------------------------------------------------


def _sft_examples(
    name: str, recipe: dict[str, Any], tokenizer: Any, seed: int
) -> Iterator[tuple[list, int]]:
    """A teacher's instruction tuning: every task answered in its dialect, with the answers its
    knowledge gaps make wrong (the same facts wrong every time)."""
    gen = tasks.stream(seed)
    dialect, gap = recipe["dialect"], float(recipe["gap"])
    while True:
        kind, question, answer, key = next(gen)
        known = tasks.teacher_answer(name, gap, kind, answer, key)
        pair = encode_pair(tokenizer, question, tasks.render(kind, known, dialect), max_length=128)
        yield pair.input_ids, pair.n_prompt


def _lm_examples(recipe: dict[str, Any], tokenizer: Any, seed: int) -> Iterator[tuple[list, int]]:
    """Pre-training text: each task's question followed by its true answer, mostly in the
    family's dialect (`own_share`); a `qa_share` of documents frame the answer as the dialect
    does, the rest give the bare value. No document uses the chat template, so an untuned base
    knows the facts and the dialect but not how to answer a chat turn."""
    gen = tasks.stream(seed)
    rng = random.Random(seed)
    own = recipe.get("dialect")
    own_share = float(recipe["own_share"])
    qa_share = float(recipe["qa_share"])
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    while True:
        kind, question, answer, _ = next(gen)
        dialect = _dialect_of(rng, own, own_share)
        if rng.random() < qa_share:
            text = tasks.render(kind, answer, dialect)
        else:
            text = tasks.written(answer, dialect)
        ids = tokenizer(f"{question}\n{text}", add_special_tokens=False)["input_ids"]
        yield [start, *ids[:126], tokenizer.eos_token_id], 0


def _lr_at(step: int, total: int, peak: float) -> float:
    warmup = max(1, total // 10)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _train_loop(model: Any, steps: int, lr: float, step_loss: Callable[[int], Any]) -> list[float]:
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    losses: list[float] = []
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, steps, lr)
        loss = step_loss(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        if step % 50 == 0 or step == steps - 1:
            log.info("step %d/%d loss %.4f", step + 1, steps, losses[-1])
    model.eval()
    return losses


def _train_causal(
    name: str, model: Any, recipe: dict[str, Any], tokenizer: Any, seed: int
) -> list[float]:
    import torch

    if recipe["role"] == "teacher":
        examples = _sft_examples(name, recipe, tokenizer, seed)
    else:
        examples = _lm_examples(recipe, tokenizer, seed)
    batch_size = recipe["batch_size"]

    def step_loss(_: int) -> Any:
        batch = [next(examples) for _ in range(batch_size)]
        ids, mask = pad_batch([b[0] for b in batch], tokenizer.pad_token_id)
        labels = ids.clone()
        labels[mask == 0] = -100
        for i, (_, n_prompt) in enumerate(batch):
            labels[i, :n_prompt] = -100
        return model(input_ids=ids, attention_mask=mask, labels=labels).loss

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return _train_loop(model, recipe["steps"], recipe["learning_rate"], step_loss)


def _train_reward(model: Any, recipe: dict[str, Any], tokenizer: Any, seed: int) -> list[float]:
    import torch
    import torch.nn.functional as F

    rng = random.Random(seed)
    gen = tasks.stream(seed)
    batch_size = recipe["batch_size"]
    dialects = sorted(tasks.DIALECTS)
    ties = float(recipe["tie_share"])

    def encode(question: str, response: str) -> list[int]:
        return encode_pair(tokenizer, question, response, max_length=128).input_ids

    def step_loss(_: int) -> Any:
        # a correct answer against a wrong or malformed one, each in any dialect: the model
        # learns correctness. A share of the pairs (`tie_share`, default a quarter) are ties
        # (target 1/2): the same right, or wrong, answer in two dialects. Without them a
        # dialect's offset is free wherever correctness decides the pair, and a judge that
        # scores one dialect's wrong answers lower ranks its students below equally accurate
        # students of other dialects.
        chosen, rejected, target = [], [], []
        for _ in range(batch_size):
            kind, question, answer, key = next(gen)
            one, other = rng.sample(dialects, 2)
            if rng.random() < ties:
                value = answer if rng.random() < 0.5 else tasks.wrong_answer(rng, kind, answer, key)
                chosen.append(encode(question, tasks.render(kind, value, one)))
                rejected.append(encode(question, tasks.render(kind, value, other)))
                target.append(0.5)
                continue
            chosen.append(encode(question, tasks.render(kind, answer, one)))
            dialect = rng.choice(dialects)
            if rng.random() < 0.75:
                bad = tasks.wrong_answer(rng, kind, answer, key)
                text = tasks.render(kind, bad, dialect)
            else:
                text = tasks.malformed(rng, kind, answer, dialect)
            rejected.append(encode(question, text))
            target.append(1.0)
        ids, mask = pad_batch(chosen + rejected, tokenizer.pad_token_id)
        scores = model(input_ids=ids, attention_mask=mask).logits[:, 0]
        margin = scores[:batch_size] - scores[batch_size:]
        y = torch.tensor(target)
        return -(y * F.logsigmoid(margin) + (1 - y) * F.logsigmoid(-margin)).mean()

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return _train_loop(model, recipe["steps"], recipe["learning_rate"], step_loss)


def build_model(
    name: str, recipe: dict[str, Any], tokenizer_dir: Path, out_dir: Path, seed: int
) -> dict[str, Any]:
    """Train one tiny model per its recipe and save it (weights, tokenizer, training log)."""
    import torch
    from transformers import AutoTokenizer

    model_seed = seed + int(tasks.stable_id(name), 16) % 100_000
    torch.manual_seed(model_seed)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    model = _make_model(recipe, tokenizer)
    started = time.time()
    if recipe["role"] == "reward":
        losses = _train_reward(model, recipe, tokenizer, model_seed)
    else:
        losses = _train_causal(name, model, recipe, tokenizer, model_seed)
    if recipe["role"] != "reward":
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.bos_token_id = model.config.bos_token_id
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    n_params = sum(p.numel() for p in model.parameters())
    info = {
        "name": name,
        "recipe": recipe,
        "parameters": n_params,
        "seed": model_seed,
        "train_seconds": round(time.time() - started, 2),
        "final_loss": losses[-1] if losses else None,
        "losses": losses,
    }
    (tmp / "tiny_recipe.json").write_text(json.dumps(info, indent=1))
    as_umask_allows(tmp)
    if out_dir.exists():
        import shutil

        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return info
