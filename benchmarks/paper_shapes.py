"""The paper's five bases at their real shapes, on a GPU: throughput as a fraction of the GPU's
bf16 peak, and peak memory, for loss scoring and for full fine-tuning on packed 4096-token rows.

Imported by `gpu_check.py --paper`. Weights are random (no hub is reachable from the GPU
machines); shapes are the models' published configs. Model FLOPs per token: 2 x parameters for
a forward pass (scoring), 6 x parameters for a training step; activation recomputation is not
counted (as the usual MFU definition does not), attention's quadratic term is left out.
Targets (issue 22): fine-tuning >= 35% of peak, scoring >= 40%, every base within 80 GB per GPU.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# the published configs (config.json of each hub model), without their weights
PAPER_SHAPES: dict[str, dict[str, Any]] = {
    "qwen2-1.5b": {"model_type": "qwen2", "hidden_size": 1536, "intermediate_size": 8960,
                   "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
                   "vocab_size": 151936, "tie_word_embeddings": True},
    "gemma-2-2b": {"model_type": "gemma2", "hidden_size": 2304, "intermediate_size": 9216,
                   "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
                   "head_dim": 256, "vocab_size": 256000, "tie_word_embeddings": True,
                   "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
                   "sliding_window": 4096},
    "qwen2.5-3b": {"model_type": "qwen2", "hidden_size": 2048, "intermediate_size": 11008,
                   "num_hidden_layers": 36, "num_attention_heads": 16, "num_key_value_heads": 2,
                   "vocab_size": 151936, "tie_word_embeddings": True},
    "llama-3.2-3b": {"model_type": "llama", "hidden_size": 3072, "intermediate_size": 8192,
                     "num_hidden_layers": 28, "num_attention_heads": 24,
                     "num_key_value_heads": 8, "vocab_size": 128256,
                     "tie_word_embeddings": True},
    "minitron-4b": {"model_type": "llama", "hidden_size": 3072, "intermediate_size": 9216,
                    "num_hidden_layers": 32, "num_attention_heads": 32,
                    "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128256,
                    "tie_word_embeddings": False},
    # the whole path on CPU in a minute, before any GPU time is spent
    "tiny": {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "vocab_size": 4096, "tie_word_embeddings": True},
}  # fmt: skip

# dense bf16 tensor-core peaks (no sparsity), TFLOP/s, by a substring of the device name
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}
GIB = 2**30


def bf16_peak(device_name: str) -> float | None:
    return next((v for k, v in BF16_PEAK_TFLOPS.items() if k in device_name), None)


def build(shape: str, out: Path, tokenizer: Any) -> dict[str, Any]:
    """A random model of `shape` saved to `out` in bf16 (fp32 on CPU) with the tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    spec = dict(PAPER_SHAPES[shape])
    cfg = AutoConfig.for_model(
        spec.pop("model_type"),
        **spec,
        max_position_embeddings=8192,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    cuda = torch.cuda.is_available()
    with torch.device("cuda" if cuda else "cpu"):
        model = AutoModelForCausalLM.from_config(
            cfg, dtype=torch.bfloat16 if cuda else torch.float32
        )
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    del model
    return {"params_b": round(params / 1e9, 3), "params": params}


def read_tokens(tokenizer: Any, rows: list[dict[str, Any]], entry: dict[str, Any]) -> int:
    """Every token a scoring job reads for `rows`: both passes' whole sequences."""
    from teachergrid.core.chat import encode_pair, encode_unconditional

    total = 0
    for r in rows:
        length = entry["max_length"]
        pair = encode_pair(tokenizer, r["instruction"], r["response"], max_length=length)
        bare = encode_unconditional(pair, tokenizer, entry["metrics"]["ifd_context"])
        total += len(pair.input_ids) + len(bare.input_ids)
    return total


def scoring(
    model_dir: Path,
    entry: dict[str, Any],
    rows: list[dict[str, Any]],
    read: int,
    params: int,
    peak: float | None,
) -> dict[str, Any]:
    """`per_response` (both passes, the job's path) at the default token budget; `read`: the
    tokens it reads (`read_tokens`)."""
    import torch

    from teachergrid.screening.compatibility import per_response

    reset()
    per_response(str(model_dir), entry, rows[:8])  # load, compile, warm the kernels
    reset()
    t0 = time.time()
    out = per_response(str(model_dir), entry, rows)
    sync()
    dt = time.time() - t0
    tokens = sum(r["n_tokens"] for r in out)  # scored response tokens, conditional pass
    per_s = read / dt
    return {
        "rows": len(rows),
        "tokens_read": read,
        "tokens_scored": tokens,
        "seconds_incl_load": round(dt, 1),
        "tokens_per_s": round(per_s),
        "mfu": round(2 * params * per_s / (peak * 1e12), 3) if peak else None,
        "peak_gib": round(torch.cuda.max_memory_allocated() / GIB, 1) if cuda() else None,
        "finite": all(abs(r["loss"]) < 1e4 for r in out),
    }


def finetune(
    model_dir: Path,
    entry: dict[str, Any],
    responses: Path,
    work: Path,
    params: int,
    peak: float | None,
    steps: int,
    attention: str,
) -> dict[str, Any]:
    """`finetune.run` (the job's path): full, fp32 master weights, bf16, packed 4096-token rows,
    2 rows per step, activation checkpointing, `attention` (auto: flex or flash)."""
    import torch

    from teachergrid.config import section
    from teachergrid.training.finetune import run

    out, ckpt = work / "ft", work / "ckpt"
    shutil.rmtree(ckpt, ignore_errors=True)
    reset()
    settings = {"method": "full", "learning_rate": 2e-5, "max_steps": steps, "packing": True,
                "per_device_batch_size": 2, "effective_batch_size": 2, "warmup_steps": 0,
                "max_length": 4096, "save_steps": 10_000, "bf16": True,
                "gradient_checkpointing": True}  # fmt: skip
    spec = {
        "base": {**entry, "attention": attention},
        "teacher": "synthetic",
        "model": str(model_dir),
        "responses": str(responses),
        "output": str(out),
        "checkpoints": str(ckpt),
        "finetune": section("finetune", settings),
    }
    info = run(spec)
    sync()
    log = json.loads((out / "train_log.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    stamps = [e for e in log if "loss" in e]
    seen = [float(e["num_tokens"]) for e in stamps]
    # the first step pays compilation (flex attention) and CUDA start-up: the steady rate is
    # the tokens of the later steps over their wall time (`step_seconds`, finetune.step_clock)
    per_s = (seen[-1] - seen[0]) / sum(e["step_seconds"] for e in stamps[1:])
    used = torch.cuda.max_memory_allocated() / GIB if cuda() else None
    weights_gib = 16 * params / GIB  # fp32 weights + grads + AdamW's two moments
    return {
        "attention": info["attention"],
        "steps": info["global_step"],
        "losses": [round(e["loss"], 3) for e in stamps],
        "tokens_trained": round(seen[-1]),
        "train_runtime_s": log[-1]["train_runtime"],
        "first_step_s": stamps[0]["step_seconds"],
        "step_s": [e["step_seconds"] for e in stamps[1:]],
        "tokens_per_s": round(per_s),
        "mfu": round(6 * params * per_s / (peak * 1e12), 3) if peak else None,
        "peak_gib": round(used, 1) if used is not None else None,
        # what FSDP over N GPUs would leave per GPU: the 16 bytes/param state split N ways
        "est_peak_gib_fsdp": {
            n: round(used - weights_gib * (1 - 1 / n), 1) for n in (2, 4, 8)
        } if used is not None else None,
    }  # fmt: skip


def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def reset() -> None:
    import torch

    if cuda():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def sync() -> None:
    import torch

    if cuda():
        torch.cuda.synchronize()


def sections(
    shapes: list[str],
    rows: list[dict[str, Any]],
    responses: Path,
    tokenizer: Any,
    work: Path,
    base_entry: Callable[[str], dict[str, Any]],
    device_name: str,
    steps: int,
) -> list[tuple[str, Callable[[], dict[str, Any]], float]]:
    """(name, section, seconds it needs) for every shape: build, score, fine-tune."""
    peak = bf16_peak(device_name)
    out: list[tuple[str, Callable[[], dict[str, Any]], float]] = []
    for shape in shapes:
        model_dir = work / shape
        built: dict[str, Any] = {}

        def make(shape: str = shape, model_dir: Path = model_dir, built: dict = built) -> dict:
            built.update(build(shape, model_dir, tokenizer))
            return {"params_b": built["params_b"], "bf16_peak_tflops": peak}

        def score(shape: str = shape, model_dir: Path = model_dir, built: dict = built) -> dict:
            entry = base_entry(shape)
            read = read_tokens(tokenizer, rows, entry)
            return scoring(model_dir, entry, rows, read, built["params"], peak)

        def train(shape: str = shape, model_dir: Path = model_dir, built: dict = built) -> dict:
            figures = finetune(model_dir, base_entry(shape), responses, work, built["params"],
                               peak, steps, "auto")  # fmt: skip
            shutil.rmtree(model_dir, ignore_errors=True)  # the disk holds one shape at a time
            return figures

        out += [(f"{shape}_build", make, 30), (f"{shape}_scoring", score, 30),
                (f"{shape}_finetune_packed", train, 90)]  # fmt: skip
    return out
