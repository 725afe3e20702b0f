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


# Attention whose logits are soft-capped (Gemma-2): SDPA cannot run it, eager materialises it.
SOFT_CAPPED = frozenset({"gemma2"})


def attention_for(
    requested: str, model_type: str, *, cuda: bool, packed: bool, flash: bool
) -> str | None:
    """The attention implementation to load with (None: transformers' own default).

    On GPUs `auto` avoids the two slow cases: packed rows under SDPA or eager get a dense
    block-diagonal mask (every row pays full-length attention, no flash kernel), and Gemma-2's
    soft-capping forces eager. FlashAttention-2 (varlen, soft-capping) where installed, else
    PyTorch's flex attention (a document mask from the position ids, soft-capping as a score
    modifier). On CPU the defaults are right and flex would compile for every shape."""
    if requested != "auto":
        return requested
    if not cuda:
        return None
    if flash:
        return "flash_attention_2"
    if packed or model_type in SOFT_CAPPED:
        return "flex_attention"
    return "sdpa"


def _attention(path: str, entry: dict[str, Any], packed: bool) -> str | None:
    import importlib.util

    requested = entry["attention"]
    cuda = device() == "cuda"
    if requested != "auto" or not cuda:
        return attention_for(requested, "", cuda=cuda, packed=packed, flash=False)
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(
        path, revision=entry.get("revision"), trust_remote_code=bool(entry["trust_remote_code"])
    )
    model_type = config.get_text_config().model_type
    flash = importlib.util.find_spec("flash_attn") is not None
    return attention_for(requested, model_type, cuda=cuda, packed=packed, flash=flash)


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
    path: str,
    entry: dict[str, Any],
    *,
    for_training: bool = False,
    dtype: str | None = None,
    packed: bool = False,
) -> Any:
    """Load for inference (sharded over GPUs, eval mode) or for training (one replica per
    process, placed by the trainer). `dtype` overrides the entry's (training keeps fp32
    master weights); `packed`: the model will see packed rows (attention per `attention_for`)."""
    from transformers import AutoModelForCausalLM

    kwargs = _load_kwargs(entry, not for_training, dtype)
    attention = _attention(path, entry, packed)
    if attention:
        kwargs["attn_implementation"] = attention
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
