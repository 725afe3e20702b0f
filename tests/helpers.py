"""Helpers shared by the tests that run Snakemake."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def snakemake_cmd(workdir: Path, configfile: Path | None, *args: str) -> list[str]:
    """A snakemake command line running this repository's workflow in `workdir`."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
    ]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    return cmd + list(args)
