"""Every environment of envs/ resolves from the package registry with pip's resolver in a fresh
virtual environment, and the package imports inside those that can be installed here.

`generation.yaml` is the GPU build of vLLM (a CUDA torch of several GB): it is resolved, not
installed. The CPU-only environments are installed and the modules their rules run are
imported, with the package reaching them as it reaches jobs (PYTHONPATH, not installed).
"""

from __future__ import annotations

import json

import pytest
from environments import CACHE, ENVS, built_env, fresh_venv, imports_in, pip, requirements

pytestmark = pytest.mark.envs

# What the rules using each environment import.
IMPORTS = {
    "analysis.yaml": [
        "teachergrid.config",
        "teachergrid.instructions",
        "teachergrid.report",
        "teachergrid.analysis",
        "teachergrid.evaluate",
        "teachergrid.lengthcontrol",
        "teachergrid.judges",
        "teachergrid.jobs",
        "scipy.stats",
    ],
    "training.yaml": [
        "teachergrid.finetune",
        "teachergrid.tiny.build",
        "teachergrid.modeling",
        "trl",
        "peft",
        "accelerate",
    ],
}
RESOLVE_ONLY = {"generation.yaml"}


def test_every_environment_file_is_checked_here():
    files = {p.name for p in ENVS.glob("*.yaml")}
    assert files == set(IMPORTS) | RESOLVE_ONLY | {"vllm-cpu.yaml"}
    for name in files:
        text = (ENVS / name).read_text()
        # the package must never be installed from a path relative to the env file: Snakemake
        # builds environments from a copy of it elsewhere
        assert "-e .." not in text and "- .." not in text, name


def test_requirements_read_from_conda_and_pip_sections(tmp_path):
    env = tmp_path / "env.yaml"
    env.write_text(
        "dependencies:\n  - python=3.11\n  - numpy=2.4.6\n  - scipy>=1.11\n  - pip\n"
        "  - pip:\n      - trl==1.16.0\n"
    )
    assert requirements(env) == ["numpy==2.4.6", "scipy>=1.11", "trl==1.16.0"]


@pytest.mark.parametrize("name", sorted(RESOLVE_ONLY))
def test_gpu_environment_resolves(name, tmp_path):
    python = fresh_venv(tmp_path / "venv")
    report = tmp_path / "report.json"
    proc = pip(python, "install", "--dry-run", "--quiet", "--report", str(report),
               *requirements(ENVS / name))  # fmt: skip
    assert proc.returncode == 0, f"{name} does not resolve:\n{proc.stderr[-3000:]}"
    chosen = {
        item["metadata"]["name"].lower(): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    # the engine and the transformers it was checked against
    assert chosen["vllm"] == "0.33.0" and chosen["transformers"] == "5.20.2"


@pytest.mark.parametrize("name", sorted(IMPORTS))
def test_cpu_environment_installs_and_runs_the_package(name):
    python = built_env(ENVS / name)
    proc = imports_in(python, IMPORTS[name])
    assert proc.returncode == 0, f"{name}: {proc.stderr[-3000:]}"
    # the checkout's package, not a copy installed into the environment
    assert proc.stdout.strip().startswith(str(ENVS.parent / "teachergrid"))
    assert CACHE in python.parents
