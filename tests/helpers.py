"""Helpers shared by the tests that run Snakemake."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny.yaml"


def with_absolute_sources(raw: dict[str, Any]) -> dict[str, Any]:
    """A copy of a tiny config whose instruction files resolve from anywhere (tests write
    derived configs to temporary folders, and relative paths are relative to the config)."""
    raw = copy.deepcopy(raw)
    for section in (raw["instructions"], raw["instructions"]["eval"]):
        section["source"] = str((TINY.parent / section["source"]).resolve())
    return raw


def tiny_config() -> dict[str, Any]:
    """configs/tiny.yaml, parsed, with absolute instruction paths."""
    return with_absolute_sources(yaml.safe_load(TINY.read_text()))


def snakemake_cmd(
    workdir: Path, configfile: Path | None, *args: str, cores: int | None = 2
) -> list[str]:
    """A snakemake command line running this repository's workflow in `workdir` (on `cores`
    local cores; None leaves them to a profile)."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
    ]
    if cores is not None:
        cmd += ["--cores", str(cores)]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    return cmd + list(args)
