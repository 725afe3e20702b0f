"""Loading models the same way in every stage (device, dtype, remote code, revision)."""

from __future__ import annotations

import os
from typing import Any


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_dtype(name: str) -> Any:
    """bf16 where the GPU supports it, fp32 on CPU (half precision is slow and lossy there)."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, name)


def set_threads(threads: int | None) -> None:
    """Keep torch within the cores the scheduler gave this job."""
    import torch

    if threads:
        torch.set_num_threads(int(threads))


def _load_kwargs(
    entry: dict[str, Any], shard: bool = True, dtype: str | None = None
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "revision": entry.get("revision"),
        "trust_remote_code": bool(entry["trust_remote_code"]),
        "dtype": torch_dtype(dtype or entry["dtype"]),
    }
    token = os.environ.get("HF_TOKEN")
    if token and not entry.get("local"):
        kwargs["token"] = token
    if shard and device() == "cuda":
        kwargs["device_map"] = "auto"  # spread a large model over the job's GPUs
    return kwargs


def load_causal_lm(
    path: str, entry: dict[str, Any], *, for_training: bool = False, dtype: str | None = None
) -> Any:
    """Load for inference (sharded over GPUs, eval mode) or for training (one replica per
    process, placed by the trainer). `dtype` overrides the entry's (training keeps fp32
    master weights)."""
    from transformers import AutoModelForCausalLM

    kwargs = _load_kwargs(entry, not for_training, dtype)
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if not for_training:
        model.eval()
    return model


def load_reward_model(path: str, entry: dict[str, Any]) -> Any:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(path, **_load_kwargs(entry))
    model.eval()
    return model


def input_device(model: Any) -> Any:
    """Where a (possibly sharded) model takes its inputs."""
    return next(model.parameters()).device
