"""Loading models the same way in every stage (device, dtype, remote code, revision)."""

from __future__ import annotations

import os
from typing import Any

DTYPES = ("auto", "bfloat16", "float16", "float32")


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


def _load_kwargs(entry: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "revision": entry.get("revision"),
        "trust_remote_code": bool(entry.get("trust_remote_code", False)),
        "dtype": torch_dtype(entry.get("dtype", "auto")),
    }
    token = os.environ.get("HF_TOKEN")
    if token and not entry.get("local"):
        kwargs["token"] = token
    if device() == "cuda":
        kwargs["device_map"] = "auto"
    return kwargs


def load_causal_lm(path: str, entry: dict[str, Any]) -> Any:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, **_load_kwargs(entry))
    if device() == "cpu":
        model.to("cpu")
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
