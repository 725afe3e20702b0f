"""The tiny grid on a real one-node SLURM cluster (slurmctld, slurmd, slurmdbd + MariaDB),
through `--profile profiles/slurm`: a sweep, rerunning one cell, killing the driver and
resuming, adding a teacher. Job records are read back from SLURM's accounting (sacct).

Runs in CI (CI=true) or with TEACHERGRID_SLURM_TESTS=1, as root with apt-get or SLURM present;
otherwise every test here is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import REPO

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
PROFILE = REPO / "profiles" / "slurm"
TINY = REPO / "configs" / "tiny.yaml"


def _why_not() -> str | None:
    if os.environ.get("CI") != "true" and not os.environ.get("TEACHERGRID_SLURM_TESTS"):
        return "SLURM tests run in CI (CI=true) or with TEACHERGRID_SLURM_TESTS=1"
    if os.geteuid() != 0:
        return "starting SLURM daemons needs root"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "no SLURM installed and no apt-get to install it"
    return None


pytestmark = [pytest.mark.slurm, pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))]


@pytest.fixture(scope="module")
def cluster():
    # Not under pytest's private temporary folder: the daemons' users (munge, mysql) must be
    # able to reach their state.
    state = Path(tempfile.mkdtemp(prefix="teachergrid-slurm-"))
    subprocess.run(["bash", str(CLUSTER), "install"], check=True, timeout=600)
    try:
        subprocess.run(["bash", str(CLUSTER), "start", str(state)], check=True, timeout=300)
        yield state
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop", str(state)], timeout=120)
        shutil.rmtree(state, ignore_errors=True)


def records(after: int = 0) -> pd.DataFrame:
    """SLURM's accounting records of the jobs with an id above `after`: rule, wildcards, state."""
    out = subprocess.run(
        ["sacct", "-a", "-X", "-n", "-P", "--starttime=now-1day", "--format=JobID,State,Comment"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        job_id, state, comment = line.split("|", 2)
        if job_id.isdigit() and int(job_id) > after and comment.startswith("rule_"):
            rule, _, wildcards = comment.removeprefix("rule_").partition("_wildcards_")
            rows.append({"id": int(job_id), "state": state, "rule": rule, "wildcards": wildcards})
    return pd.DataFrame(rows, columns=["id", "state", "rule", "wildcards"])


def last_id() -> int:
    frame = records()
    return int(frame["id"].max()) if len(frame) else 0


def command(workdir: Path, configfile: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "screening",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--profile",
        str(PROFILE),
        # a test cluster answers at once: poll it more often than a shared one
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--max-status-checks-per-second",
        "2",
        *args,
    ]


def run(workdir: Path, configfile: Path = TINY, *args: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    proc = subprocess.run(
        command(workdir, configfile, *args), capture_output=True, text=True, env=env, timeout=1800
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    return proc.stdout + proc.stderr


def counts(frame: pd.DataFrame) -> dict[str, int]:
    return frame.groupby("rule").size().to_dict()


@pytest.fixture(scope="module")
def sweep(cluster, tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("slurm-sweep")
    before = last_id()
    run(workdir)
    jobs = records(before)
    (workdir / "first.csv").write_bytes((workdir / "results/report/screening.csv").read_bytes())
    return workdir, jobs


def test_sweep_runs_every_job_through_slurm(sweep):
    workdir, jobs = sweep
    assert (jobs["state"] == "COMPLETED").all(), jobs
    # 6 teachers, 3 bases, the reference LM, the reward model (the judge is not needed yet)
    assert counts(jobs) == {
        "tiny_tokenizers": 1,
        "tiny_model": 11,
        "instructions": 1,
        "generate": 6,
        "reward": 6,
        "compatibility": 18,
        "reference": 6,
    }
    # fan-in reports run on the submitting host, not as cluster jobs
    assert "screening_report" not in set(jobs["rule"])
    table = pd.read_csv(workdir / "results/report/screening.csv")
    assert len(table) == 18 and table["car"].notna().all()


def test_forcing_one_cell_reruns_only_that_cell(sweep):
    workdir, _ = sweep
    before = last_id()
    run(workdir, TINY, "--forcerun", "results/compatibility/base-qwen/qwen-s.json")
    jobs = records(before)
    assert list(jobs["rule"]) == ["compatibility"]
    assert list(jobs["wildcards"]) == ["base-qwen_qwen-s"]


def test_killed_driver_resumes_without_rerunning_finished_jobs(sweep):
    workdir, _ = sweep
    shutil.rmtree(workdir / "results/compatibility")
    (workdir / "results/report/screening.csv").unlink()
    before = last_id()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    log = (workdir / "killed-driver.log").open("w")
    driver = subprocess.Popen(
        command(workdir, TINY),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    deadline = time.time() + 600
    while time.time() < deadline:
        done = records(before)
        if (done["state"] == "COMPLETED").sum() >= 4:
            break
        time.sleep(1)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    finished_before_kill = set(records(before).query("state == 'COMPLETED'")["wildcards"])
    assert 4 <= len(finished_before_kill) < 18
    middle = last_id()
    # a killed driver leaves its lock: release it, then the same command finishes the sweep
    run(workdir, TINY, "--unlock")
    run(workdir)
    resumed = records(middle)
    assert set(resumed["rule"]) <= {"compatibility"}
    # nothing that had finished before the kill ran again
    assert not finished_before_kill & set(resumed["wildcards"])
    assert len(list((workdir / "results/compatibility").rglob("*.json"))) == 18
    # and the result is the uninterrupted run's
    pd.testing.assert_frame_equal(
        pd.read_csv(workdir / "results/report/screening.csv"), pd.read_csv(workdir / "first.csv")
    )


def test_adding_a_teacher_computes_only_its_jobs(sweep, tmp_path):
    workdir, _ = sweep
    cfg = yaml.safe_load(TINY.read_text())
    for section in (cfg["instructions"], cfg["instructions"]["eval"]):
        section["source"] = str((TINY.parent / section["source"]).resolve())
    cfg["teachers"].append(
        {
            "name": "llama-m",
            "model": "tiny:llama-m",
            "family": "Llama",
            "params_b": 0.00017,
            "batch_size": 64,
        }
    )
    cfg["tiny_world"]["models"]["llama-m"] = {
        "role": "teacher",
        "architecture": "llama",
        "tokenizer": "tok-llama",
        "hidden_size": 80,
        "steps": 120,
        "style": "plain",
    }
    bigger = tmp_path / "tiny-plus-one.yaml"
    # safe_dump sorts every key: a reordered config must not look like a changed one
    bigger.write_text(yaml.safe_dump(cfg))
    before = last_id()
    run(workdir, bigger)
    jobs = records(before)
    assert counts(jobs) == {
        "tiny_model": 1,
        "generate": 1,
        "reward": 1,
        "compatibility": 3,
        "reference": 1,
    }
    assert set(jobs["wildcards"]) == {
        "llama-m",
        "base-llama_llama-m",
        "base-qwen_llama-m",
        "base-gemma_llama-m",
        "llama-m_rm-llama",
    }
    table = pd.read_csv(workdir / "results/report/screening.csv")
    assert len(table) == 21 and "llama-m" in set(table["teacher"])
