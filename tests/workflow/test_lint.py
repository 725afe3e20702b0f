"""The workflow stays lint-clean: snakemake --lint on both configs, snakefmt, ruff."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("configfile", [None, "configs/tiny.yaml"])
def test_snakemake_lint_is_clean(configfile):
    cmd = [sys.executable, "-m", "snakemake", "--lint"]
    if configfile:
        cmd += ["--configfile", configfile]
    proc = subprocess.run(
        cmd,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Lints for" not in out, out
    assert "Congratulations, your workflow is in a good condition!" in out


def test_snakefmt_and_ruff_are_clean():
    for cmd in (
        [str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules"],
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "ruff"), "format", "--check", "."],
    ):
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{' '.join(cmd[1:])}:\n{proc.stdout}{proc.stderr}"
