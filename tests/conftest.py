"""Shared fixtures: real tiny tokenizers and models built on the spot (seconds, offline)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import tiny_recipe

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tokenizer_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two trained tokenizers: one with a ChatML template, one with none (default template)."""
    from teachergrid.tiny.build import build_tokenizer

    root = tmp_path_factory.mktemp("tokenizers")
    out = {}
    for name, template in (("chatml", "chatml"), ("plain", "none"), ("llama3", "llama3")):
        build_tokenizer(root / name, 384, template, seed=0)
        out[name] = root / name
    return out


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory, tokenizer_dirs: dict[str, Path]) -> Path:
    """A tiny Llama briefly trained as a teacher (20 steps), for generation/scoring tests."""
    from teachergrid.tiny.build import build_model

    out = tmp_path_factory.mktemp("models") / "teacher"
    recipe = tiny_recipe(
        role="teacher",
        architecture="llama",
        tokenizer="chatml",
        hidden_size=32,
        steps=20,
        dialect="llama",
        batch_size=8,
    )
    build_model("teacher", recipe, tokenizer_dirs["chatml"], out, seed=0)
    return out
