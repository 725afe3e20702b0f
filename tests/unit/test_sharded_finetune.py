"""Sharded full fine-tuning (FSDP2) on two CPU processes (gloo), started the way a multi-GPU
job starts: `accelerate launch` with the project's own config. Sharded and replicated (DDP)
training follow the same loss curve to the same weights; a sharded job killed mid-training
resumes from its sharded checkpoint."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import model_entry
from unit.test_finetune import gold_responses

from teachergrid.config import section
from teachergrid.training.finetune import last_checkpoint, launch_command

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def write_spec(tiny_llama, root: Path, sharding: str, max_steps: int, **extra) -> Path:
    root.mkdir(parents=True)
    spec = {
        # served in bf16: the gathered fp32 master weights are saved in the base's dtype
        "base": model_entry("bases", name="tiny-base", dtype="bfloat16"),
        "teacher": "gold",
        "model": str(tiny_llama),
        "responses": str(gold_responses(root / "responses.jsonl")),
        "output": str(root / "model"),
        "checkpoints": str(root / "ckpt"),
        "threads": 1,
        "finetune": section(
            "finetune",
            {
                "sharding": sharding,
                "learning_rate": 1e-3,
                "max_steps": max_steps,
                "per_device_batch_size": 4,
                "effective_batch_size": 8,  # 2 processes x 4: no accumulation
                "warmup_steps": 0,
                "lr_scheduler": "constant",
                "max_length": 128,
                "gradient_checkpointing": False,
                "seed": 0,
                **extra,
            },
        ),
    }
    (root / "spec.json").write_text(json.dumps(spec))
    return root / "spec.json"


def launch(spec: Path, **popen) -> subprocess.Popen:
    """The job's own launch: two processes; a new session, so the test can kill all of it as a
    scheduler kills a job."""
    return subprocess.Popen(launch_command(spec, 2), env=ENV, start_new_session=True, **popen)


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL to the launcher and every process under it at once, as a scheduler ends a job
    (torch's launcher starts the ranks in sessions of their own: a process group is not enough)."""
    import psutil

    procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    assert len(procs) >= 3  # the launcher and two ranks
    for p in procs:
        p.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=30)
    proc.wait()


def finished(spec: Path) -> dict:
    log = (spec.parent / "run.log").open("w")
    proc = launch(spec, stdout=log, stderr=subprocess.STDOUT)
    assert proc.wait(timeout=600) == 0, (spec.parent / "run.log").read_text()[-4000:]
    model = spec.parent / "model"
    info = json.loads((model / "finetune_config.json").read_text())
    info["losses"] = [
        e["loss"] for e in json.loads((model / "train_log.json").read_text()) if "loss" in e
    ]
    return info


def test_sharded_and_replicated_training_follow_the_same_curve(tiny_llama, tmp_path):
    from safetensors.torch import load_file

    sharded = finished(
        write_spec(tiny_llama, tmp_path / "fsdp", "fsdp", 10, save_steps=5, keep_checkpoints=True)
    )
    replicated = finished(write_spec(tiny_llama, tmp_path / "ddp", "ddp", 10, save_steps=100))
    assert (sharded["sharded"], replicated["sharded"]) == (True, False)
    assert sharded["world_size"] == replicated["world_size"] == 2
    assert sharded["sft_config"]["fsdp_config"]["version"] == 2
    assert len(sharded["losses"]) == 10
    assert sharded["losses"] == pytest.approx(replicated["losses"], abs=1e-4)
    assert sharded["losses"][-1] < sharded["losses"][0] - 0.1  # it trained
    # the checkpoint is sharded: one file per rank, no whole copy of the model
    shards = sorted(p.name for p in (tmp_path / "fsdp/ckpt/checkpoint-10").rglob("*.distcp"))
    assert len([s for s in shards if s.startswith("__0_")]) >= 1
    assert len([s for s in shards if s.startswith("__1_")]) >= 1
    assert not list((tmp_path / "fsdp/ckpt/checkpoint-10").glob("model*.safetensors"))
    # the final model is whole, in the base's dtype, and the same weights
    a = load_file(tmp_path / "fsdp/model/model.safetensors")
    b = load_file(tmp_path / "ddp/model/model.safetensors")
    base = load_file(tiny_llama / "model.safetensors")
    assert set(a) == set(b) == set(base)
    import torch

    assert {v.dtype for v in a.values()} == {torch.bfloat16}
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-2, rtol=1e-2), key
    moved = [k for k in a if not torch.equal(a[k], base[k].to(torch.bfloat16))]
    assert len(moved) > len(a) // 2


def test_a_killed_sharded_job_resumes_from_its_sharded_checkpoint(tiny_llama, tmp_path):
    spec = write_spec(tiny_llama, tmp_path / "job", "fsdp", 300, save_steps=10)
    ckpt = tmp_path / "job/ckpt"
    log = (tmp_path / "first.log").open("w")
    proc = launch(spec, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        found = last_checkpoint(ckpt)
        if found is not None and int(found.name.split("-")[1]) >= 20:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed"
    kill_tree(proc)
    killed_at = int(last_checkpoint(ckpt).name.split("-")[1])
    assert 20 <= killed_at < 300
    assert not (tmp_path / "job/model").exists()

    info = finished(spec)
    assert info["sharded"] is True
    assert info["resumed_from"].endswith(f"checkpoint-{killed_at}")
    assert info["global_step"] == 300
    steps = [
        e["step"]
        for e in json.loads((tmp_path / "job/model/train_log.json").read_text())
        if "loss" in e
    ]
    assert steps == list(range(1, 301))  # the checkpoint's history, then the resumed steps
    assert not ckpt.exists()
