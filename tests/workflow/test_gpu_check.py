"""The GPU check's paper-shapes mode, run on CPU at a tiny shape: the script a GPU session
runs with its 15 minutes must not fail on its first real call."""

import json
import os
import subprocess
import sys

from conftest import REPO


def test_paper_mode_runs_every_section_on_cpu(tmp_path):
    cmd = [sys.executable, str(REPO / "benchmarks/gpu_check.py"), "--out", str(tmp_path),
           "--paper", "--paper-shapes", "tiny", "--rows", "24", "--steps", "3"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads((tmp_path / "gpu_check.json").read_text())
    assert set(figures) == {"environment", "tiny_build", "tiny_scoring", "tiny_finetune_packed"}
    assert not [k for k, v in figures.items() if "error" in v or "skipped" in v]
    scoring, training = figures["tiny_scoring"], figures["tiny_finetune_packed"]
    assert scoring["finite"] and scoring["tokens_read"] > 2 * scoring["tokens_scored"] > 0
    assert training["steps"] == 3 and len(training["step_s"]) == 2
    # packed 4096-token rows, 2 per step: every step but the last is full
    assert training["tokens_trained"] > 2 * 2 * 3000
    assert training["tokens_per_s"] > 0
