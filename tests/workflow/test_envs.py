"""Every environment of envs/ resolves from the package registry with pip's resolver in a fresh
virtual environment, and the package imports inside those that can be installed here.

`generation.yaml` is the GPU build of vLLM (a CUDA torch of several GB): it is resolved, not
installed. The CPU-only environments are installed and the modules their rules run are
imported, with the package reaching them as it reaches jobs (PYTHONPATH, not installed).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from environments import CACHE, ENVS, built_env, fresh_venv, imports_in, pip, requirements

pytestmark = pytest.mark.envs

# What the rules using each environment import.
IMPORTS = {
    "analysis.yaml": [
        "teachergrid.config",
        "teachergrid.screening.instructions",
        "teachergrid.analysis.report",
        "teachergrid.analysis.correlations",
        "teachergrid.evaluation.judging",
        "teachergrid.evaluation.lengthcontrol",
        "teachergrid.evaluation.judges",
        "teachergrid.support.jobs",
        "scipy.stats",
    ],
    "training.yaml": [
        "teachergrid.training.finetune",
        "teachergrid.tiny.build",
        "teachergrid.core.modeling",
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


def alpaca_eval_hub_cache(root: Path, difficulty: dict[str, float]) -> Path:
    """A Hugging Face cache holding the two files AlpacaEval's fit downloads from its hub data
    set, as `hf_hub_download` leaves them: the instruction difficulty, and the judgements of
    two verbosity-gamed copies of the reference (here a longer one preferred 62% of the time
    and a shorter one 40%: stand-ins, the published ones cannot be fetched here)."""
    commit = "0" * 40
    repo = root / "datasets--tatsu-lab--alpaca_eval"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    ordered = sorted((int(k), v) for k, v in difficulty.items())
    (snapshot / "instruction_difficulty.csv").write_text(
        "index,instruction_difficulty\n" + "".join(f"{i},{v}\n" for i, v in ordered)
    )
    gamed = [
        f"{name},{pref},{i},{sign},{v},False\n"
        for name, pref, sign in (("verbose", 0.62, -1.0), ("concise", 0.40, 1.0))
        for i, v in ordered
    ]
    (snapshot / "df_gamed.csv").write_text(
        "model,preference,index,std_delta_len,instruction_difficulty,not_gamed_baseline\n"
        + "".join(gamed)
    )
    return root


def test_paper_comparable_mode_runs_alpaca_evals_own_fit(tmp_path):
    """`teachergrid winrates --mode paper-comparable` in the report's environment hands the
    judgements to the alpaca-eval package's own GLM (offline, from a filled hub cache): the
    win rates are the leaderboard's, and the LC moves the way the official one does for
    models whose answers are shorter than the reference's (up), which it would not with the
    two answers' lengths swapped."""
    import pandas as pd

    from teachergrid.evaluation.winrates import joint_fit

    data = ENVS.parent / "tests" / "data" / "alpaca_eval"
    frame = pd.read_csv(data / "judgments.csv")
    fit = joint_fit(
        frame["model"].tolist(), frame["prompt_id"].tolist(), frame["preference"].to_numpy(),
        frame["len_model"].to_numpy(), frame["len_reference"].to_numpy(),
    )  # fmt: skip
    cache = alpaca_eval_hub_cache(tmp_path / "hub", fit.difficulty)
    models = ["claude-2", "gpt-3.5-turbo-0301", "alpaca-7b"]
    frame[frame["model"].isin(models)].to_csv(tmp_path / "j.csv", index=False)
    python = built_env(ENVS / "analysis.yaml")
    env = {**os.environ, "PYTHONPATH": str(ENVS.parent), "HF_HUB_OFFLINE": "1",
           "HF_HUB_CACHE": str(cache)}  # fmt: skip
    proc = subprocess.run(
        [str(python), "-m", "teachergrid.cli", "winrates", "--mode", "paper-comparable",
         "--judgments", str(tmp_path / "j.csv"), "--out", str(tmp_path / "out.csv")],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "(paper-comparable mode)" in proc.stdout
    out = pd.read_csv(tmp_path / "out.csv").set_index("model")
    board = pd.read_csv(data / "leaderboard.csv").set_index("model")
    assert sorted(out.index) == sorted(models) and (out["n"] == 805).all()
    assert (out["win_rate"] - board.loc[out.index, "win_rate"]).abs().max() < 0.01
    for model in ("claude-2", "gpt-3.5-turbo-0301"):  # official LC above WR: 28.2/17.2, 18.1/9.6
        assert board.loc[model, "lc_win_rate"] > board.loc[model, "win_rate"]
        assert out.loc[model, "lc_win_rate"] > out.loc[model, "win_rate"] + 1
