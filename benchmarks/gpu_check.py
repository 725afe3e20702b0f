"""GPU check: the CUDA path of the stages that run on GPUs, at real model shapes.

The tiny grid proves the stages on CPU; this proves that the same code
(`compatibility.per_response`, `finetune.run` through TRL in bf16 with gradient checkpointing,
LoRA, the `hf` generation backend) runs on a GPU, and measures what it costs, on randomly
initialised models with the shapes of Llama-3.2-1B and Llama-3-8B (no hub access is needed:
the weights are random, the throughput is not).

    python benchmarks/gpu_check.py --out DIR [--shape 1b] [--big-shape 8b] [--budget 420]
    python benchmarks/gpu_check.py --out DIR --paper [--paper-shapes minitron-4b,gemma-2-2b]

`--paper` measures the paper's five bases at their published shapes instead
(`paper_shapes.py`): loss scoring and full fine-tuning on packed 4096-token rows, as a fraction
of the GPU's bf16 peak, with peak memory and what FSDP would leave per GPU.

Every section writes its figures to DIR/gpu_check.json as soon as it finishes, so a run cut short
keeps what it measured. `--shape tiny --big-shape none` (and `--paper --paper-shapes tiny`) runs
the whole script on CPU in a minute, which is how it is checked before spending GPU time
(tests/workflow/test_gpu_check.py).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from paper_shapes import PAPER_SHAPES  # noqa: E402

SHAPES: dict[str, dict[str, Any]] = {
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 4096,
             "tie_word_embeddings": True},
    "1b": {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
           "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
           "tie_word_embeddings": True},
    "8b": {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
           "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
           "tie_word_embeddings": False},
}  # fmt: skip

WORDS = [
    *("the", "model", "answer", "question", "data", "list", "number", "first", "second"),
    *("because", "which", "result", "value", "function", "return", "step", "each", "then"),
    *("write", "example", "table", "sum", "order", "name", "word", "city", "river", "time"),
    *("explain", "short", "long", "simple", "reason", "true", "false", "count", "sort"),
    *("reverse", "letter", "vowel", "python", "code"),
]


class Recorder:
    def __init__(self, out: Path, budget: float) -> None:
        self.out, self.start, self.budget = out, time.time(), budget
        self.figures: dict[str, Any] = {}

    def left(self) -> float:
        return self.budget - (time.time() - self.start)

    def section(self, name: str, fn: Callable[[], dict[str, Any]], need: float) -> None:
        if self.left() < need:
            self.figures[name] = {"skipped": f"{self.left():.0f} s left, needs {need:.0f}"}
        else:
            t0 = time.time()
            try:
                self.figures[name] = {**fn(), "section_s": round(time.time() - t0, 1)}
            except Exception as exc:  # a broken section must not hide the others' figures
                traceback.print_exc()
                self.figures[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"== {name}: {json.dumps(self.figures[name])}", flush=True)
        (self.out / "gpu_check.json").write_text(json.dumps(self.figures, indent=2) + "\n")


def text(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def make_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Magpie-like lengths: instructions of 20-120 words, responses of 80-600."""
    rng = random.Random(seed)
    return [
        {
            "id": f"r{i}",
            "sample": 0,
            "instruction": text(rng, 20, 120),
            "response": text(rng, 80, 600),
        }
        for i in range(n)
    ]


def peak_gib() -> float:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else 0.0


def reset_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def random_model(shape: str, tokenizer: Any) -> Any:
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    cfg = LlamaConfig(
        **SHAPES[shape],
        max_position_embeddings=8192,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if dev == "cuda" else torch.float32
    with torch.device(dev):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    return model.eval()


def old_response_losses(model: Any, pairs: list[Any], pad_id: int, batch_size: int) -> None:
    """The scoring loop before it upcast only response positions: the whole batch's logits in
    fp32. Kept here only to measure what the change saves."""
    import torch
    import torch.nn.functional as F

    from teachergrid.core.logprobs import length_sorted_batches, pad_batch

    dev = next(model.parameters()).device
    with torch.inference_mode():
        for batch in length_sorted_batches([len(p.input_ids) for p in pairs], batch_size):
            ids, attention = pad_batch([pairs[i].input_ids for i in batch], pad_id)
            labels = torch.full(ids.shape, -100, dtype=torch.long)
            for row, i in enumerate(batch):
                labels[row, pairs[i].n_prompt : len(pairs[i].input_ids)] = torch.tensor(
                    pairs[i].response_ids
                )
            logits = model(input_ids=ids.to(dev), attention_mask=attention.to(dev)).logits
            logits = logits[:, :-1].float()
            target = labels[:, 1:].to(logits.device)
            F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1),
                            ignore_index=-100, reduction="none")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--shape", default="1b", choices=sorted(SHAPES))
    ap.add_argument("--big-shape", default="8b", choices=[*sorted(SHAPES), "none"])
    ap.add_argument("--rows", type=int, default=512)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--budget", type=float, default=420.0, help="seconds; later sections skip")
    ap.add_argument(
        "--paper",
        action="store_true",
        help="the paper's bases at their shapes instead (scoring, packed fine-tuning, MFU)",
    )
    ap.add_argument(
        "--paper-shapes",
        default="minitron-4b,gemma-2-2b,qwen2-1.5b,llama-3.2-3b,qwen2.5-3b",
        help=f"comma-separated, in the order run (a section past --budget is skipped); of "
        f"{', '.join(PAPER_SHAPES)}",
    )
    ap.add_argument(
        "--finetune-variants",
        action="store_true",
        help="after the scoring sections, compare fine-tuning settings instead of the rest",
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rec = Recorder(args.out, args.budget)
    work = Path(tempfile.mkdtemp(prefix="tg-gpu-"))

    import torch
    import transformers

    from teachergrid.config import fill_defaults, section
    from teachergrid.core.chat import encode_pair, load_tokenizer
    from teachergrid.core.jsonl import write_jsonl
    from teachergrid.tiny.build import build_tokenizer

    def environment() -> dict[str, Any]:
        import trl

        info: dict[str, Any] = {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "trl": trl.__version__,
            "cuda": torch.cuda.is_available(),
        }
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_mem_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30)
        return info

    rec.section("environment", environment, 0)

    tok_dir = work / "tokenizer"
    build_tokenizer(tok_dir, 4096, "llama3", seed=0)
    tokenizer = load_tokenizer(str(tok_dir))
    rows = make_rows(args.rows)
    responses = work / "responses.jsonl"
    write_jsonl(responses, rows)
    if args.paper:
        return paper(args, rec, rows, responses, tokenizer, work)
    model_dir = work / f"model-{args.shape}"

    def build() -> dict[str, Any]:
        t0 = time.time()
        model = random_model(args.shape, tokenizer)
        params = sum(p.numel() for p in model.parameters())
        model.save_pretrained(model_dir, safe_serialization=True)
        tokenizer.save_pretrained(model_dir)
        del model
        return {"params_m": round(params / 1e6), "build_and_save_s": round(time.time() - t0, 1)}

    rec.section("build_model", build, 0)
    # a base as the validated config gives it to the jobs (the schema's defaults), which also
    # serves as a teacher (stop strings) for the generation section
    base = {"name": args.shape, "local": True, "dtype": "auto", "max_length": 2048}
    entry = {
        **fill_defaults({"bases": [base]})["bases"][0],
        "metrics": section("compatibility")["metrics"],
        "stop": [],
    }

    def tokens_of(batch_rows: list[dict[str, Any]]) -> int:
        pairs = [encode_pair(tokenizer, r["instruction"], r["response"], max_length=2048)
                 for r in batch_rows]  # fmt: skip
        return sum(len(p.input_ids) + len(p.response_ids) for p in pairs)  # cond + uncond

    n_tokens = tokens_of(rows)

    def scoring(batch_size: int) -> Callable[[], dict[str, Any]]:
        def go() -> dict[str, Any]:
            from teachergrid.screening.compatibility import per_response

            reset_peak()
            t0 = time.time()
            out = per_response(str(model_dir), {**entry, "batch_size": batch_size}, rows)
            sync()
            dt = time.time() - t0
            losses = [r["loss"] for r in out]
            scoring.results[batch_size] = losses  # type: ignore[attr-defined]
            return {
                "rows": len(rows),
                "tokens_scored": n_tokens,
                "seconds_incl_load": round(dt, 1),
                "tokens_per_s": round(n_tokens / dt),
                "peak_gib": peak_gib(),
                "mean_loss": round(sum(losses) / len(losses), 4),
                "all_finite": all(x == x and abs(x) < 1e4 for x in losses),
            }

        return go

    def agreement() -> dict[str, Any]:
        a, b = scoring.results[8], scoring.results[32]  # type: ignore[attr-defined]
        diff = max(abs(x - y) for x, y in zip(a, b, strict=True))
        return {"max_abs_loss_diff_bs8_vs_bs32": round(diff, 5)}

    def memory_old_vs_new() -> dict[str, Any]:
        from teachergrid.core.logprobs import response_losses
        from teachergrid.core.modeling import load_causal_lm

        model = load_causal_lm(str(model_dir), entry)
        pairs = [encode_pair(tokenizer, r["instruction"], r["response"], max_length=2048)
                 for r in rows[:64]]  # fmt: skip
        pad = tokenizer.pad_token_id
        figures: dict[str, Any] = {}
        for name in ("old_fp32_batch", "new_per_row"):
            reset_peak()
            t0 = time.time()
            if name == "old_fp32_batch":
                old_response_losses(model, pairs, pad, 32)
            else:
                response_losses(model, pairs, pad_id=pad, batch_size=32)
            sync()
            figures[name] = {"peak_gib": peak_gib(), "seconds": round(time.time() - t0, 2)}
        del model
        return figures

    scoring.results = {}  # type: ignore[attr-defined]
    if not args.finetune_variants:
        for bs in (8, 32):
            rec.section(f"scoring_bs{bs}", scoring(bs), 30)
        rec.section("scoring_batch_agreement", agreement, 0)
        rec.section("scoring_memory_bs32", memory_old_vs_new, 30)

    def finetune(method: str, **variant: Any) -> Callable[[], dict[str, Any]]:
        def go() -> dict[str, Any]:
            from teachergrid.training.finetune import run

            reset_peak()
            out = work / f"ft-{method}"
            shutil.rmtree(work / f"ckpt-{method}", ignore_errors=True)
            spec = {
                "base": {**entry, "name": args.shape},
                "teacher": "synthetic",
                "model": str(model_dir),
                "responses": str(responses),
                "output": str(out),
                "checkpoints": str(work / f"ckpt-{method}"),
                "finetune": section(
                    "finetune",
                    {
                        "method": method,
                        "learning_rate": 2e-5 if method == "full" else 2e-4,
                        "max_steps": args.steps,
                        "per_device_batch_size": 4,
                        "effective_batch_size": 16,
                        "warmup_steps": 2,
                        "max_length": 2048,
                        "save_steps": 10_000,
                        "bf16": True,
                        "gradient_checkpointing": True,
                        **variant,
                    },
                ),
            }
            t0 = time.time()
            info = run(spec)
            sync()
            dt = time.time() - t0
            log = json.loads((out / "train_log.json").read_text())
            final = log[-1]
            seen = max(float(e["num_tokens"]) for e in log if "num_tokens" in e)  # TRL's count
            saved = json.loads((out / "config.json").read_text())
            shutil.rmtree(out, ignore_errors=True)
            return {
                "steps": info["global_step"],
                "train_loss": round(info["train_loss"], 4),
                "losses": [round(e["loss"], 3) for e in log if "loss" in e],
                "train_runtime_s": final.get("train_runtime"),
                "s_per_step": round(final["train_runtime"] / info["global_step"], 2),
                "tokens_trained": round(seen),
                "tokens_per_s": round(seen / final["train_runtime"]),
                "job_seconds_incl_load_save": round(dt, 1),
                "peak_gib": peak_gib(),
                "bf16": info["sft_config"].get("bf16"),
                "saved_dtype": saved.get("dtype", saved.get("torch_dtype")),
            }

        return go

    if args.finetune_variants:
        # the first training run in a process pays CUDA/cuBLAS start-up: keep it out of the figures
        rec.section("finetune_warmup", finetune("full", max_steps=3), 60)
    rec.section("finetune_full", finetune("full"), 60)
    if args.finetune_variants:
        # what the batch size, activation checkpointing and a fused optimizer buy
        rec.section("finetune_full_no_ckpt", finetune("full", gradient_checkpointing=False), 60)
        rec.section("finetune_full_bs16", finetune("full", per_device_batch_size=16), 60)
        rec.section("finetune_full_fused", finetune("full", optimizer="adamw_torch_fused"), 60)
        rec.section(
            "finetune_full_bs16_no_ckpt_fused",
            finetune("full", per_device_batch_size=16, gradient_checkpointing=False,
                     optimizer="adamw_torch_fused"),
            60,
        )  # fmt: skip
        args.big_shape = "none"
        shutil.rmtree(work, ignore_errors=True)
        print(f"figures in {args.out / 'gpu_check.json'}; {time.time() - rec.start:.0f} s")
        return 0
    rec.section("finetune_lora", finetune("lora"), 60)

    def generation() -> dict[str, Any]:
        from teachergrid.screening.backends.base import Decoding
        from teachergrid.screening.backends.hf import HFBackend

        reset_peak()
        backend = HFBackend(
            str(model_dir), {**entry, "batch_size": 32}, Decoding(max_new_tokens=256)
        )
        # A random model's ids past the tokenizer's vocabulary decode to nothing, so count the
        # generated positions that are not padding rather than re-tokenising the answers.
        counts: list[int] = []
        generate = backend.model.generate

        def counted(**kwargs: Any) -> Any:
            out = generate(**kwargs)
            new = out[:, kwargs["input_ids"].shape[1] :]
            counts.append(int((new != tokenizer.pad_token_id).sum()))
            return out

        backend.model.generate = counted
        t0 = time.time()
        backend.generate([r["instruction"] for r in rows[:64]])
        sync()
        dt = time.time() - t0
        new_tokens = sum(counts)
        backend.close()
        return {"prompts": 64, "seconds": round(dt, 1), "new_tokens_per_s": round(new_tokens / dt),
                "peak_gib": peak_gib()}  # fmt: skip

    rec.section("generate_hf_bs32", generation, 40)

    def big_scoring() -> dict[str, Any]:
        from teachergrid.core.logprobs import response_losses

        reset_peak()
        t0 = time.time()
        model = random_model(args.big_shape, tokenizer)
        built = time.time() - t0
        subset = rows[:128]
        pairs = [encode_pair(tokenizer, r["instruction"], r["response"], max_length=2048)
                 for r in subset]  # fmt: skip
        figures: dict[str, Any] = {"build_s": round(built, 1)}
        for bs in (8, 16):
            reset_peak()
            t0 = time.time()
            response_losses(model, pairs, pad_id=tokenizer.pad_token_id, batch_size=bs)
            sync()
            dt = time.time() - t0
            figures[f"bs{bs}"] = {
                "tokens_per_s": round(sum(len(p.input_ids) for p in pairs) / dt),
                "peak_gib": peak_gib(),
            }
        del model
        return figures

    if args.big_shape != "none":
        rec.section(f"scoring_{args.big_shape}", big_scoring, 60)
    shutil.rmtree(work, ignore_errors=True)
    print(f"figures in {args.out / 'gpu_check.json'}; {time.time() - rec.start:.0f} s")
    return 0


def paper(
    args: argparse.Namespace,
    rec: Recorder,
    rows: list[dict[str, Any]],
    responses: Path,
    tokenizer: Any,
    work: Path,
) -> int:
    """`--paper`: per paper base, build, score and fine-tune (paper_shapes.py)."""
    import paper_shapes

    from teachergrid.config import fill_defaults, section
    from teachergrid.config.models import scoring_settings

    def base_entry(shape: str) -> dict[str, Any]:
        base = {"name": shape, "local": True, "dtype": "auto", "max_length": 4096}
        entry = fill_defaults({"bases": [base]})["bases"][0]
        return {**scoring_settings(entry, section("compatibility")), "stop": []}

    device = rec.figures["environment"].get("gpu", "cpu")
    shapes = [s for s in args.paper_shapes.split(",") if s]
    for name, fn, need in paper_shapes.sections(
        shapes, rows, responses, tokenizer, work, base_entry, device, args.steps
    ):
        rec.section(name, fn, need)
    shutil.rmtree(work, ignore_errors=True)
    print(f"figures in {args.out / 'gpu_check.json'}; {time.time() - rec.start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
