"""Supervised fine-tuning of one (base, teacher) cell with TRL's SFTTrainer.

The training examples are tokenised by `chat.encode_pair`, the same split the compatibility
stage scores, and handed to TRL pre-tokenised (`input_ids` + `completion_mask`, with
`completion_only_loss`), so the fine-tuning loss is exactly the loss CAR predicts from.

Checkpoints go to a directory Snakemake does not own; a job killed by pre-emption or a time
limit resumes from the newest one when it is rerun. The final model appears atomically.

Run as `python -m teachergrid.training.finetune SPEC.json`, or with one process per GPU through
`launch_command` (accelerate with the project's own config, never a user's default one).
Full fine-tuning on several GPUs is sharded with FSDP2: fp32 weights, gradients and AdamW
state split over the GPUs, bf16 compute, sharded checkpoints; the final model is gathered and
saved whole in the base's dtype.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from teachergrid.config import accumulation_steps

log = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port no process on this host listens on now, for one multi-GPU job's rendezvous."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def last_checkpoint(directory: Path) -> Path | None:
    """The newest complete `checkpoint-N` (one whose trainer state was written)."""
    if not directory.is_dir():
        return None
    found = [
        p
        for p in directory.glob("checkpoint-*")
        if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").exists()
    ]
    return max(found, key=lambda p: int(p.name.split("-")[-1])) if found else None


def build_dataset(tokenizer: Any, rows: list[dict[str, Any]], max_length: int) -> Any:
    from datasets import Dataset

    from teachergrid.core.chat import encode_pair

    ids, masks = [], []
    for row in rows:
        pair = encode_pair(tokenizer, row["instruction"], row["response"], max_length=max_length)
        ids.append(pair.input_ids)
        masks.append([0] * pair.n_prompt + [1] * len(pair.response_ids))
    return Dataset.from_dict({"input_ids": ids, "completion_mask": masks})


def optimizer(name: str, cuda: bool) -> str:
    """`auto` is AdamW with PyTorch's fused CUDA kernel on GPUs (the same update, measured 20%
    faster per step for a 1.2B model on an H100: benchmarks/results/) and plain AdamW on CPU."""
    if name != "auto":
        return name
    return "adamw_torch_fused" if cuda else "adamw_torch"


def checkpointing_option() -> str:
    """The name of the activation-checkpointing switch in the installed transformers: 5.2x
    renamed `gradient_checkpointing` to `activation_checkpointing` (and warns on the old name),
    5.17 (a GPU image's) knows only the old one. The config keeps the name TRL's docs use."""
    from transformers import TrainingArguments

    fields = TrainingArguments.__dataclass_fields__
    return (
        "activation_checkpointing"
        if "activation_checkpointing" in fields
        else "gradient_checkpointing"
    )


def sharded(cfg: dict[str, Any], world_size: int) -> bool:
    """FSDP for this job: asked for (or `auto` and full fine-tuning) and more than one process."""
    mode = cfg["sharding"]
    wanted = mode == "fsdp" or (mode == "auto" and cfg["method"] == "full")
    return wanted and world_size > 1


def fsdp_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """FSDP2 over the decoder layers (the model's own `_no_split_modules`), resharded after
    each forward (the least memory), with FSDP's activation checkpointing instead of
    transformers' (which does not compose with FSDP2's wrapping), checkpoints sharded (no
    gather of the whole model to one rank at every save)."""
    return {
        "version": 2,
        "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "reshard_after_forward": True,
        "state_dict_type": "SHARDED_STATE_DICT",
        "activation_checkpointing": bool(cfg["gradient_checkpointing"]),
    }


def accelerate_config(processes: int, port: int) -> dict[str, Any]:
    """The launcher's whole configuration, written per job: `accelerate launch` otherwise reads
    the user's default config file, whose settings would silently apply. It only starts the
    processes; what they do (FSDP or DDP, bf16) is the trainer's arguments, kept with the model."""
    return {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": "MULTI_GPU",
        "num_machines": 1,
        "machine_rank": 0,
        "num_processes": processes,
        "main_process_port": port,
        "mixed_precision": "no",
        "use_cpu": False,
        "rdzv_backend": "static",
        "same_network": True,
        "gpu_ids": "all",
        "downcast_bf16": "no",
    }


def launch_command(spec_path: Path, processes: int) -> list[str]:
    """`accelerate launch` of this module on `processes` processes, with an explicit config
    written next to the spec (its own free port: two jobs on one node must not collide)."""
    import yaml

    config = spec_path.with_name("accelerate.yaml")
    config.write_text(yaml.safe_dump(accelerate_config(processes, free_port()), sort_keys=False))
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config),
        "-m",
        "teachergrid.training.finetune",
        str(spec_path),
    ]


def trainer_class() -> type:
    """TRL's SFTTrainer, able to shard on CPU processes too.

    accelerate turns FSDP on only for accelerator devices; on CPU processes (gloo) it would
    silently fall back to DDP. FSDP2 itself runs on CPU, so the trainer's state is switched to
    it there: the sharded path the GPUs take is then the one the CPU tests train."""
    from trl import SFTTrainer

    class Trainer(SFTTrainer):
        def create_accelerator_and_postprocess(self) -> None:
            super().create_accelerator_and_postprocess()
            if self.args.fsdp_plugin_args is None or self.is_fsdp_enabled:
                return
            from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

            state = self.accelerator.state
            state.fsdp_plugin = FullyShardedDataParallelPlugin(**self.args.fsdp_plugin_args)
            state.distributed_type = DistributedType.FSDP
            self.is_fsdp_enabled = True

    return Trainer


def step_clock() -> Any:
    """A callback that adds `step_seconds` to every log entry: the wall time since the previous
    one (or the start of training), so `train_log.json` says what the steps cost apart from
    loading, compilation and saving."""
    import time

    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        last = 0.0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.last = time.perf_counter()

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            # the trainer has already copied `logs` into the history: add it there
            now = time.perf_counter()
            if logs is not None and "loss" in logs and state.log_history:
                state.log_history[-1]["step_seconds"] = round(now - self.last, 4)
            self.last = now

    return StepClock()


def sft_config_kwargs(
    cfg: dict[str, Any], out_dir: Path, world_size: int, cuda: bool
) -> dict[str, Any]:
    shard = sharded(cfg, world_size)
    kwargs: dict[str, Any] = {
        "output_dir": str(out_dir),
        "learning_rate": float(cfg["learning_rate"]),
        "num_train_epochs": float(cfg["epochs"]),
        "per_device_train_batch_size": int(cfg["per_device_batch_size"]),
        "gradient_accumulation_steps": accumulation_steps(cfg, world_size),
        "lr_scheduler_type": cfg["lr_scheduler"],
        "warmup_steps": int(cfg["warmup_steps"]),
        "weight_decay": float(cfg["weight_decay"]),
        "optim": optimizer(cfg["optimizer"], cuda),
        "max_length": int(cfg["max_length"]),
        "completion_only_loss": True,
        # Packing as the Magpie recipe trains: samples are laid end to end into rows of up to
        # max_length tokens by best-fit decreasing, each keeping its own position ids, so
        # attention never crosses a sample (transformers turns the position ids into a
        # block-diagonal mask for SDPA and eager attention, varlen kernels for FlashAttention;
        # tests/unit/test_finetune.py checks the loss equals the unpacked one). No padding is left.
        "packing": bool(cfg["packing"]),
        "packing_strategy": "bfd",
        # TRL defaults to bf16 even on CPU; only use it where the GPU supports it.
        "bf16": bool(cfg["bf16"]) and cuda,
        checkpointing_option(): bool(cfg["gradient_checkpointing"]) and not shard,
        "save_strategy": "steps",
        "save_steps": int(cfg["save_steps"]),
        "save_total_limit": 2,
        "logging_steps": 1,
        "report_to": "none",
        "seed": int(cfg["seed"]),
        "data_seed": int(cfg["seed"]),
        "use_cpu": not cuda,
        "disable_tqdm": False,
    }
    if cfg.get("max_steps"):
        kwargs["max_steps"] = int(cfg["max_steps"])
    if shard:
        kwargs["fsdp"] = True
        kwargs["fsdp_config"] = fsdp_config(cfg)
    return kwargs


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Fine-tune one cell. `spec`: base (config entry), model (path or hub id), responses
    (JSONL), output (final model dir), checkpoints (dir), finetune (config section)."""
    import torch
    from trl import SFTConfig

    from teachergrid.core.chat import load_tokenizer
    from teachergrid.core.jsonl import as_umask_allows, read_jsonl, write_json
    from teachergrid.core.modeling import load_causal_lm, set_threads, torch_dtype

    set_threads(spec.get("threads"))
    cfg = spec["finetune"]  # the validated section: every key set
    base = spec["base"]
    out = Path(spec["output"])
    ckpt_dir = Path(spec["checkpoints"])
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()

    tokenizer = load_tokenizer(
        spec["model"],
        base.get("chat_template"),
        revision=base.get("revision"),
        trust_remote_code=base["trust_remote_code"],
    )
    rows = read_jsonl(spec["responses"])
    dataset = build_dataset(tokenizer, rows, int(cfg["max_length"]))
    # Under accelerate each process holds its own replica: no device_map. Full fine-tuning
    # keeps fp32 master weights (bf16 is the autocast compute type): in bf16 storage most of
    # AdamW's updates at lr 2e-5 would round away. LoRA trains fp32 adapters (PEFT's default)
    # on a frozen base kept in the base's own dtype.
    weights = "float32" if cfg["method"] == "full" else None
    model = load_causal_lm(
        spec["model"], base, for_training=True, dtype=weights, packed=bool(cfg["packing"])
    )
    log.info("attention: %s", model.config._attn_implementation)
    if cfg["method"] == "lora":
        from peft import LoraConfig, get_peft_model

        lora = cfg["lora"]
        model = get_peft_model(
            model,
            LoraConfig(
                r=int(lora["r"]),
                lora_alpha=float(lora["alpha"]),
                lora_dropout=float(lora["dropout"]),
                target_modules=lora["target_modules"],
                task_type="CAUSAL_LM",
            ),
        )
    args = SFTConfig(**sft_config_kwargs(cfg, ckpt_dir, world_size, cuda))
    trainer = trainer_class()(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[step_clock()],
    )
    resume = last_checkpoint(ckpt_dir)
    if resume:
        log.info("resuming from %s", resume)
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)

    # every rank takes part in gathering a sharded model; rank 0 alone writes it
    whole = gathered(trainer.model) if trainer.is_fsdp_enabled else None
    if trainer.is_world_process_zero():
        final = trainer.accelerator.unwrap_model(trainer.model)
        if cfg["method"] == "lora":
            final = final.merge_and_unload()
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        # saved in the dtype the base is served in (bf16 on GPUs that have it)
        dtype = torch_dtype(base["dtype"])
        if whole is not None:
            final = unsharded(final.config, whole)
        final.to(dtype).save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        info = {
            "base": base["name"],
            "teacher": spec.get("teacher"),
            "examples": len(rows),
            "world_size": world_size,
            "sharded": bool(trainer.is_fsdp_enabled),
            "attention": final.config._attn_implementation,
            "resumed_from": str(resume) if resume else None,
            "global_step": trainer.state.global_step,
            "train_loss": result.training_loss,
            "config": cfg,
            "sft_config": {k: v for k, v in args.to_dict().items() if _jsonable(v)},
        }
        write_json(tmp / "finetune_config.json", info)
        write_json(tmp / "train_log.json", trainer.state.log_history)
        as_umask_allows(tmp)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
        if not cfg["keep_checkpoints"]:
            shutil.rmtree(ckpt_dir, ignore_errors=True)
        return info
    return {}


def gathered(model: Any) -> dict[str, Any]:
    """The whole state dict of an FSDP2-sharded model, in CPU memory on rank 0 (empty on the
    other ranks); every rank must call it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=options)


def unsharded(config: Any, state: dict[str, Any]) -> Any:
    """A plain model holding a gathered state dict: the FSDP-wrapped one keeps distributed
    tensors that `save_pretrained` cannot write. Built on the meta device (no second copy of
    random weights), then the gathered tensors are put in place and the tied ones re-tied."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(state, assign=True, strict=False)
    model.tie_weights()
    missing = [k for k, v in model.state_dict().items() if v.is_meta]
    if missing:
        raise RuntimeError(f"gathered state dict lacks {missing[:5]}")
    return model


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m teachergrid.training.finetune SPEC.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    spec = json.loads(Path(argv[0]).read_text())
    info = run(spec)
    if info:
        log.info(
            "%s on %s: %d steps, train loss %.4f",
            info["base"],
            info["teacher"],
            info["global_step"],
            info["train_loss"],
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
