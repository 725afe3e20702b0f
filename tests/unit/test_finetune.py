"""Fine-tuning with TRL: the loss mask is the compatibility split, and a job killed with
SIGKILL mid-training resumes from its last checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import model_entry

from teachergrid.config import accumulation_steps, section
from teachergrid.core.chat import encode_pair, load_tokenizer
from teachergrid.tiny.tasks import render, unique_tasks
from teachergrid.training.finetune import (
    build_dataset,
    last_checkpoint,
    sft_config_kwargs,
)


def answered(task):
    """A tiny task's correct response, as a Llama-family teacher writes it."""
    return render(task["kind"], task["answer"], "llama")


def test_completion_mask_is_the_compatibility_split(tiny_llama):
    tok = load_tokenizer(str(tiny_llama))
    rows = [{"instruction": t["instruction"], "response": answered(t)} for t in unique_tasks(3, 5)]
    data = build_dataset(tok, rows, max_length=64)
    for row, example in zip(rows, data, strict=True):
        pair = encode_pair(tok, row["instruction"], row["response"], max_length=64)
        assert example["input_ids"] == pair.input_ids
        assert example["completion_mask"] == [0] * pair.n_prompt + [1] * len(pair.response_ids)


def test_accumulation_keeps_the_effective_batch():
    cfg = section("finetune", {"per_device_batch_size": 1, "effective_batch_size": 32})
    assert accumulation_steps(cfg, world_size=4) == 8  # the paper: 4 GPUs x 1 x 8
    assert accumulation_steps(cfg, world_size=1) == 32
    with pytest.raises(ValueError, match="not a multiple"):
        accumulation_steps(
            section("finetune", {"per_device_batch_size": 3, "effective_batch_size": 32}), 1
        )


def test_trainer_arguments_follow_the_device(tmp_path):
    cfg = section("finetune", {"effective_batch_size": 8, "per_device_batch_size": 2})
    gpu = sft_config_kwargs(cfg, tmp_path, world_size=2, cuda=True)
    cpu = sft_config_kwargs(cfg, tmp_path, world_size=1, cuda=False)
    # the default optimizer is AdamW, fused on GPUs; bf16 only where a GPU has it
    assert (gpu["optim"], gpu["bf16"], gpu["use_cpu"]) == ("adamw_torch_fused", True, False)
    assert (cpu["optim"], cpu["bf16"], cpu["use_cpu"]) == ("adamw_torch", False, True)
    assert (gpu["gradient_accumulation_steps"], cpu["gradient_accumulation_steps"]) == (2, 4)
    # full fine-tuning on 2 GPUs is sharded, with FSDP's activation checkpointing (not both)
    assert gpu["fsdp"] is True and gpu["fsdp_config"]["version"] == 2
    assert gpu["fsdp_config"]["activation_checkpointing"] is True
    assert gpu["activation_checkpointing"] is False
    assert "fsdp" not in cpu and cpu["activation_checkpointing"] is True  # one process
    lora = section("finetune", {"method": "lora"})
    assert "fsdp" not in sft_config_kwargs(lora, tmp_path, world_size=4, cuda=True)  # DDP
    asked = section("finetune", {"sharding": "ddp"})
    assert "fsdp" not in sft_config_kwargs(asked, tmp_path, world_size=4, cuda=True)
    named = section("finetune", {"optimizer": "adafactor"})
    assert sft_config_kwargs(named, tmp_path, world_size=1, cuda=True)["optim"] == "adafactor"


def gold_responses(path):
    """64 tiny tasks answered correctly, as a teacher's responses file."""
    path.write_text(
        "".join(
            json.dumps({"id": t["id"], "instruction": t["instruction"], "response": answered(t)})
            + "\n"
            for t in unique_tasks(5, 64)
        )
    )
    return path


def test_killed_job_resumes_from_its_checkpoint(tiny_llama, tmp_path):
    responses = gold_responses(tmp_path / "responses.jsonl")
    spec = {
        "base": model_entry("bases", name="tiny-base", dtype="float32"),
        "teacher": "gold",
        "model": str(tiny_llama),
        "responses": str(responses),
        "output": str(tmp_path / "model"),
        "checkpoints": str(tmp_path / "ckpt"),
        "threads": 1,
        "finetune": section(
            "finetune",
            {
                "learning_rate": 1e-3,
                "max_steps": 400,
                "per_device_batch_size": 8,
                "effective_batch_size": 8,
                "warmup_steps": 2,
                "max_length": 128,
                "bf16": False,
                "gradient_checkpointing": False,
                "save_steps": 10,
                "seed": 0,
            },
        ),
    }
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, "-m", "teachergrid.training.finetune", str(spec_path)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    log = (tmp_path / "first.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        ckpt = last_checkpoint(tmp_path / "ckpt")
        if ckpt is not None and int(ckpt.name.split("-")[1]) >= 20:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = int(last_checkpoint(tmp_path / "ckpt").name.split("-")[1])
    assert 20 <= killed_at < 400
    assert not (tmp_path / "model").exists()  # no final model from a killed job

    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    info = json.loads((tmp_path / "model" / "finetune_config.json").read_text())
    assert info["resumed_from"].endswith(f"checkpoint-{killed_at}")
    assert info["global_step"] == 400
    steps = [
        e["step"]
        for e in json.loads((tmp_path / "model" / "train_log.json").read_text())
        if "loss" in e
    ]
    # the checkpoint's log history, then the resumed steps: every step once
    assert steps == list(range(1, 401))
    assert (tmp_path / "model" / "model.safetensors").exists()
    assert not (tmp_path / "ckpt").exists()  # checkpoints removed once the model is saved


def train_ten_steps(tiny_llama, tmp_path, method: str, lr: float) -> dict:
    """Ten constant-rate steps on a bf16-served base, through `finetune.run`."""
    from teachergrid.training.finetune import run

    responses = gold_responses(tmp_path / "responses.jsonl")
    return run(
        {
            "base": model_entry("bases", name="tiny-base", dtype="bfloat16"),
            "teacher": "gold",
            "model": str(tiny_llama),
            "responses": str(responses),
            "output": str(tmp_path / method),
            "checkpoints": str(tmp_path / f"ckpt-{method}"),
            "threads": 1,
            "finetune": section(
                "finetune",
                {
                    "method": method,
                    "learning_rate": lr,
                    "max_steps": 10,
                    "per_device_batch_size": 8,
                    "effective_batch_size": 8,
                    "warmup_steps": 0,
                    "lr_scheduler": "constant",
                    "max_length": 128,
                    "bf16": False,
                    "gradient_checkpointing": False,
                    "save_steps": 100,
                    "seed": 0,
                    "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"},
                },
            ),
        }
    )


def changed(tiny_llama, out) -> dict[str, float]:
    """Per tensor, the fraction of elements the saved model changed (in the served dtype)."""
    import torch
    from safetensors.torch import load_file

    before = load_file(tiny_llama / "model.safetensors")
    after = load_file(out / "model.safetensors")
    assert set(before) == set(after)  # no adapter tensors left in a merged model
    return {
        k: (before[k].to(after[k].dtype) != after[k]).float().mean().item()
        for k in before
        if after[k].dtype == torch.bfloat16
    }


def test_full_fine_tuning_keeps_fp32_master_weights(tiny_llama, tmp_path):
    # At lr 1e-5 one AdamW step moves a weight by about 1e-5: below half a bf16 step for most
    # weights, so bf16 master weights round most updates away (measured: ~10% of the matrix
    # entries change in 10 steps) while fp32 master weights accumulate them (~50%).
    info = train_ten_steps(tiny_llama, tmp_path, "full", 1e-5)
    assert info["global_step"] == 10
    fractions = changed(tiny_llama, tmp_path / "full")
    matrices = [v for k, v in fractions.items() if k.endswith("proj.weight")]
    assert len(matrices) >= 7 and min(matrices) > 0.35, fractions


def test_lora_trains_adapters_and_saves_them_merged(tiny_llama, tmp_path):
    info = train_ten_steps(tiny_llama, tmp_path, "lora", 1e-3)
    assert info["config"]["method"] == "lora" and info["global_step"] == 10
    fractions = changed(tiny_llama, tmp_path / "lora")
    # the adapted linear layers carry the merged update; what LoRA does not touch is unchanged
    assert min(v for k, v in fractions.items() if k.endswith("proj.weight")) > 0.5
    assert fractions["model.embed_tokens.weight"] == 0.0
    assert all(v == 0.0 for k, v in fractions.items() if "norm" in k)
    log = json.loads((tmp_path / "lora" / "train_log.json").read_text())
    losses = [e["loss"] for e in log if "loss" in e]
    assert losses[-1] < losses[0]


def first_step_loss(model_dir, rows, tmp_path, attention=None, **config):
    """TRL's loss of one step over `rows` in one batch, before any update (lr 0)."""
    import torch
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    tok = load_tokenizer(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation=attention
    )
    strategy = config.pop("packing_strategy", None)
    n = len(rows)
    cfg = section("finetune", {"learning_rate": 0.0, "max_steps": 1, "per_device_batch_size": n,
                    "effective_batch_size": n, "warmup_steps": 0, "max_length": 512,
                    "save_steps": 100, "bf16": False, "gradient_checkpointing": False,
                    **config})  # fmt: skip
    kwargs = sft_config_kwargs(cfg, tmp_path / "out", world_size=1, cuda=False)
    kwargs.update(disable_tqdm=True, save_strategy="no")
    if strategy:
        kwargs["packing_strategy"] = strategy
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(**kwargs),
        train_dataset=build_dataset(tok, rows, 512),
        processing_class=tok,
    )
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.train()
    loss = next(e["loss"] for e in trainer.state.log_history if "loss" in e)
    return loss, tuple(batch["input_ids"].shape)


def test_a_packed_batch_has_the_loss_of_the_same_samples_unpacked(tiny_llama, tmp_path):
    rows = [{"instruction": t["instruction"], "response": answered(t)} for t in unique_tasks(8, 11)]
    unpacked, shape = first_step_loss(tiny_llama, rows, tmp_path / "u")
    packed, packed_shape = first_step_loss(tiny_llama, rows, tmp_path / "p", packing=True)
    assert shape[0] == len(rows) and packed_shape[0] == 1  # a padded row each; one packed row
    assert packed == pytest.approx(unpacked, abs=1e-5)
    # the same samples packed without boundaries (attention across samples) score differently:
    # the equality above is the boundaries, not an insensitive loss
    leaking, _ = first_step_loss(
        tiny_llama, rows, tmp_path / "w", packing=True, packing_strategy="wrapped"
    )
    assert abs(leaking - unpacked) > 1e-4  # 3.5e-4 here, 35 times the tolerance above


@pytest.fixture(scope="module")
def tiny_gemma2(tiny_llama, tmp_path_factory):
    """A random tiny Gemma-2 with strong attention and logit soft-capping (so that it
    matters), on the tiny Llama's tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    tok = load_tokenizer(str(tiny_llama))
    torch.manual_seed(0)
    cfg = AutoConfig.for_model(
        "gemma2", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
        max_position_embeddings=1024, attn_logit_softcapping=5.0, final_logit_softcapping=2.0,
        pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )  # fmt: skip
    out = tmp_path_factory.mktemp("gemma2")
    AutoModelForCausalLM.from_config(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def batch_loss(model_dir, rows, tmp_path, attention, **config):
    """The model's loss on the first batch TRL's collator builds from `rows` (all in one
    batch), forward only: flex attention has no backward on CPU (it has on GPUs)."""
    import torch
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    tok = load_tokenizer(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation=attention
    )
    n = len(rows)
    strategy = config.pop("packing_strategy", "bfd")
    cfg = section("finetune", {"per_device_batch_size": n, "effective_batch_size": n,
                    "max_length": 512, "bf16": False, **config})  # fmt: skip
    kwargs = sft_config_kwargs(cfg, tmp_path / "out", world_size=1, cuda=False)
    kwargs["packing_strategy"] = strategy
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(**{**kwargs, "disable_tqdm": True}),
        train_dataset=build_dataset(tok, rows, 512),
        processing_class=tok,
    )
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        return model(**batch, use_cache=False).loss.item(), tuple(batch["input_ids"].shape)


@pytest.mark.parametrize("model", ["tiny_llama", "tiny_gemma2"])
def test_padding_free_rows_under_flex_attention_have_the_unpacked_loss(model, request, tmp_path):
    """Packed rows under flex attention (the GPU default without flash-attn: a document mask
    from the position ids, no dense block matrix) have the loss of the same samples unpacked,
    for Gemma-2 too, whose soft-capping SDPA cannot run (eager is the reference)."""
    model_dir = request.getfixturevalue(model)
    rows = [{"instruction": t["instruction"], "response": answered(t)} for t in unique_tasks(8, 6)]
    unpacked, shape = batch_loss(model_dir, rows, tmp_path / "u", "eager")
    packed, packed_shape = batch_loss(
        model_dir, rows, tmp_path / "p", "flex_attention", packing=True
    )
    assert shape[0] == 6 and packed_shape[0] == 1
    assert packed == pytest.approx(unpacked, abs=1e-5)
    # the document mask is what makes them equal: the same rows wrapped without it differ
    leaking, _ = batch_loss(
        model_dir, rows, tmp_path / "w", "flex_attention", packing=True, packing_strategy="wrapped"
    )
    assert abs(leaking - unpacked) > 1e-4


def test_auto_attention_avoids_dense_masks_on_gpus():
    from teachergrid.core.modeling import attention_for

    def auto(model_type, cuda=True, packed=False, flash=False):
        return attention_for("auto", model_type, cuda=cuda, packed=packed, flash=flash)

    assert auto("llama", cuda=False, packed=True) is None  # CPU: transformers' own choice
    assert auto("llama") == "sdpa"
    assert auto("llama", packed=True) == "flex_attention"
    assert auto("gemma2") == "flex_attention"  # soft-capping: never eager on a GPU
    assert auto("gemma2", flash=True) == "flash_attention_2"
    assert attention_for("eager", "gemma2", cuda=True, packed=True, flash=True) == "eager"
