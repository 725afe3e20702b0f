"""The whole tiny grid on a real one-node SLURM cluster (slurmctld, slurmd, slurmdbd + MariaDB,
two stand-in GPUs of type "tiny"), through the user's own command, `snakemake --profile slurm`
from the repository root, with a site profile in the user's configuration folder: a sweep from
nothing to the correlation report, rerunning one cell, killing the driver and resuming, adding a
teacher. Every check reads SLURM's own accounting records (sacct) and the files the sweep wrote.

Runs in CI (CI=true) or with TEACHERGRID_SLURM_TESTS=1, as root with apt-get or SLURM present;
otherwise every test here is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import (
    REPO,
    RESCORE_PLAN,
    SMALL_BASES,
    SMALL_TEACHERS,
    job_counts,
    report_files,
    small_config,
    snakemake_cmd,
)

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
# A site's own settings, as a user keeps them in ~/.config/snakemake/slurm/: the workflow's
# profile (./slurm) must not hide them. cluster.sh creates the account, partition and QOS.
SITE = {
    "default-resources": {"slurm_account": "teachergrid", "slurm_partition": "study"},
    "slurm-qos": "sweep",
}


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
def site_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An XDG configuration folder holding a site profile named `slurm`."""
    home = tmp_path_factory.mktemp("xdg-config")
    (home / "snakemake" / "slurm").mkdir(parents=True)
    (home / "snakemake" / "slurm" / "profile.yaml").write_text(yaml.safe_dump(SITE))
    return home


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


# On this cluster fine-tuning and evaluation ask for a GPU, as they would on a real one.
GPU_JOB = {"gpu": 1, "gpu_model": "tiny", "cpus_per_gpu": 1, "mem_mb": 3000, "runtime": 25}
COLUMNS = ["id", "state", "rule", "wildcards", "tres", "minutes", "account", "partition", "qos"]
CELLS = len(SMALL_TEACHERS) * len(SMALL_BASES)


def records(after: int = 0) -> pd.DataFrame:
    """SLURM's accounting records of the jobs with an id above `after`: rule, wildcards, state,
    the trackable resources requested, the time limit in minutes, account, partition and QOS."""
    out = subprocess.run(
        ["sacct", "-a", "-X", "-n", "-P", "--starttime=now-1day",
         "--format=JobID,State,TimelimitRaw,ReqTRES,Account,Partition,QOS,Comment"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout  # fmt: skip
    rows = []
    for line in out.splitlines():
        job_id, state, minutes, tres, account, partition, qos, comment = line.split("|", 7)
        if job_id.isdigit() and int(job_id) > after and comment.startswith("rule_"):
            rule, _, wildcards = comment.removeprefix("rule_").partition("_wildcards_")
            tres = dict(item.split("=", 1) for item in tres.split(",") if item)
            rows.append(
                [int(job_id), state, rule, wildcards, tres, int(minutes), account, partition, qos]
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def last_id() -> int:
    frame = records()
    return int(frame["id"].max()) if len(frame) else 0


def command(workdir: Path, configfile: Path, *args: str) -> list[str]:
    """`snakemake --profile slurm`, run from the repository root (see `env`)."""
    return snakemake_cmd(
        workdir,
        configfile,
        "--profile",
        "slurm",
        # a test cluster answers at once: poll it more often than a shared one
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--max-status-checks-per-second",
        "2",
        *args,
        cores=None,
    )


def slurm_config(directory: Path, extra_teacher: bool = False) -> Path:
    """The small grid (helpers.small_config: 4 teachers x 2 bases, every stage), with GPU
    jobs for fine-tuning and evaluation, and optionally one more teacher."""
    cfg = small_config()
    cfg["finetune"]["resources"] = dict(GPU_JOB)
    cfg["evaluation"]["resources"] = dict(GPU_JOB)
    if extra_teacher:
        cfg["teachers"].append(
            {"name": "llama-m", "model": "tiny:llama-m", "family": "Llama",
             "params_b": 0.00017, "batch_size": 64}
        )  # fmt: skip
        cfg["tiny_world"]["models"]["llama-m"] = {
            "role": "teacher",
            "architecture": "llama",
            "tokenizer": "tok-llama",
            "hidden_size": 80,
            "steps": 40,
            "dialect": "llama",
        }
    path = directory / ("tiny-plus-one.yaml" if extra_teacher else "tiny-slurm.yaml")
    # safe_dump sorts every key: a reordered config must not look like a changed one
    path.write_text(yaml.safe_dump(cfg))
    return path


def env(site_config: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "XDG_CONFIG_HOME": str(site_config),
    }


def run(
    workdir: Path, configfile: Path, site_config: Path, *args: str, expect_success: bool = True
) -> str:
    proc = subprocess.run(
        command(workdir, configfile, *args),
        capture_output=True,
        text=True,
        env=env(site_config),
        cwd=REPO,
        timeout=1800,
    )
    assert (proc.returncode == 0) == expect_success, (proc.stdout + proc.stderr)[-5000:]
    return proc.stdout + proc.stderr


def counts(frame: pd.DataFrame) -> dict[str, int]:
    return frame.groupby("rule").size().to_dict()


@pytest.fixture(scope="module")
def sweep(cluster, site_config: Path, tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("slurm-sweep")
    config = slurm_config(workdir)
    before = last_id()
    run(workdir, config, site_config)
    jobs = records(before)
    return workdir, config, site_config, jobs


def test_sweep_runs_every_job_through_slurm(sweep):
    workdir, _, _, jobs = sweep
    assert (jobs["state"] == "COMPLETED").all(), jobs
    # 4 teachers x 2 bases, the reference LM, the reward model and the judge; each base also
    # answers before fine-tuning (evaluate_untuned)
    assert counts(jobs) == {
        "tiny_tokenizers": 1,
        "tiny_model": 9,
        "generate": 4,
        "reward": 4,
        "compatibility": CELLS,
        "reference": 4,
        "finetune": CELLS,
        "eval_reference": 2,
        "evaluate": CELLS,
        "evaluate_untuned": len(SMALL_BASES),
    }
    # the hub download and the fan-in reports run on the submitting host, not as cluster jobs
    assert not {"instructions", "screening_report", "report"} & set(jobs["rule"])
    table = pd.read_csv(workdir / "results/tiny-offline-grid/report/metrics.csv")
    assert len(table) == CELLS and table[["car", "ap"]].notna().all().all()
    correlations = pd.read_csv(workdir / "results/tiny-offline-grid/report/correlations.csv")
    assert "car" in set(correlations["metric"])


def test_jobs_get_the_resources_their_rules_declare(sweep):
    _, _, _, jobs = sweep
    # the site profile's account, partition and QOS reach every job
    assert set(jobs["account"]) == {SITE["default-resources"]["slurm_account"]}, jobs
    assert set(jobs["partition"]) == {SITE["default-resources"]["slurm_partition"]}, jobs
    assert set(jobs["qos"]) == {SITE["slurm-qos"]}, jobs
    for _, job in jobs.iterrows():
        if job["rule"] in ("finetune", "evaluate", "evaluate_untuned"):
            # --gpus=tiny:1 --cpus-per-gpu=1, memory and wall time from the config
            assert job["tres"]["gres/gpu:tiny"] == "1" and job["tres"]["cpu"] == "1", job
            assert job["tres"]["mem"] == "3000M" and job["minutes"] == 25, job
        else:
            assert "gres/gpu" not in job["tres"], job
            assert job["tres"]["mem"] == "2000M" and job["minutes"] in (20, 30), job


def test_forcing_one_cell_reruns_only_that_cells_jobs(sweep):
    workdir, config, site, _ = sweep
    report = workdir / "results/tiny-offline-grid/report/metrics.csv"
    stamp = report.stat().st_mtime
    before = last_id()
    run(
        workdir,
        config,
        site,
        "--forcerun",
        "results/tiny-offline-grid/compatibility/base-qwen/qwen-l.json",
        "results/tiny-offline-grid/models/base-qwen/qwen-l",
    )
    jobs = records(before)
    assert sorted(jobs["rule"]) == ["compatibility", "evaluate", "finetune"]
    assert set(jobs["wildcards"]) == {"base-qwen_qwen-l"}
    # and the reports that depend on the cell were rebuilt (on the submitting host)
    assert report.stat().st_mtime > stamp


def test_killed_driver_resumes_without_rerunning_finished_jobs(sweep):
    workdir, config, site, _ = sweep
    reports = workdir / "results/tiny-offline-grid/report"
    uninterrupted = {name: pd.read_csv(reports / name) for name in ("screening.csv", "metrics.csv")}
    # Snakemake does not remake a deleted intermediate file while what it fed is up to date:
    # remove the reports too, so the compatibility jobs must run again.
    shutil.rmtree(workdir / "results/tiny-offline-grid/compatibility")
    shutil.rmtree(reports)
    before = last_id()
    log = (workdir / "killed-driver.log").open("w")
    driver = subprocess.Popen(
        command(workdir, config),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env(site),
        cwd=REPO,
        start_new_session=True,
    )
    deadline = time.time() + 600
    while time.time() < deadline:
        done = records(before)
        if (done["state"] == "COMPLETED").sum() >= 3:
            break
        time.sleep(1)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    finished_before_kill = set(records(before).query("state == 'COMPLETED'")["wildcards"])
    assert 3 <= len(finished_before_kill) < CELLS
    middle = last_id()
    # a killed driver leaves its lock: release it, then the same command finishes the sweep
    run(workdir, config, site, "--unlock")
    run(workdir, config, site)
    resumed = records(middle)
    assert set(resumed["rule"]) <= {"compatibility"}
    # nothing that had finished before the kill ran again
    assert not finished_before_kill & set(resumed["wildcards"])
    assert len(list((workdir / "results/tiny-offline-grid/compatibility").rglob("*.json"))) == CELLS
    # and the result is the uninterrupted run's
    for name, table in uninterrupted.items():
        pd.testing.assert_frame_equal(pd.read_csv(reports / name), table)


def test_a_job_failing_on_the_cluster_leaves_partial_reports_and_reruns_once_fixed(sweep):
    """A job that fails with an error on a node: a base's weights damaged on disk, and one of
    its cells scored again (`--forcerun`). SLURM runs it as often as the profile retries, the
    run fails, the reports are withdrawn and the partial ones name the cell; a dry run lists
    the job and the reports; with the file restored, the same command submits that job alone
    and ends with the reports of before, byte for byte."""
    workdir, config, site, _ = sweep
    finished = report_files(workdir)
    weights = workdir / "results/tiny-offline-grid/tiny/models/base-qwen/model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(b"damaged")
    cell = "results/tiny-offline-grid/compatibility/base-qwen/gemma-m.json"
    before = last_id()
    out = run(workdir, config, site, "--forcerun", cell, expect_success=False)
    jobs = records(before)
    # the first try and the profile's two retries, each failed on the node
    assert counts(jobs) == {"compatibility": 3} and set(jobs["state"]) == {"FAILED"}, jobs
    assert set(jobs["wildcards"]) == {"base-qwen_gemma-m"}
    assert (
        "teachergrid: cell base-qwen/gemma-m is not in the report: compatibility did not finish "
        "(log: results/tiny-offline-grid/logs/compatibility/base-qwen/gemma-m.log)"
    ) in out
    assert sorted(p.name for p in (workdir / "results/tiny-offline-grid/report").iterdir()) == [
        "partial"
    ]
    listed = pd.read_csv(workdir / "results/tiny-offline-grid/report/partial/missing.csv")
    assert list(zip(listed["base"], listed["teacher"], listed["rule"], strict=True)) == [
        ("base-qwen", "gemma-m", "compatibility")
    ]
    assert job_counts(run(workdir, config, site, "-n")) == RESCORE_PLAN

    weights.write_bytes(good)
    before = last_id()
    run(workdir, config, site)
    jobs = records(before)
    assert counts(jobs) == {"compatibility": 1} and set(jobs["state"]) == {"COMPLETED"}
    assert report_files(workdir) == finished


def test_adding_a_teacher_computes_only_its_jobs(sweep):
    workdir, _, site, _ = sweep
    bigger = slurm_config(workdir, extra_teacher=True)
    before = last_id()
    run(workdir, bigger, site)
    jobs = records(before)
    assert counts(jobs) == {
        "tiny_model": 1,
        "generate": 1,
        "reward": 1,
        "compatibility": 2,
        "reference": 1,
        "finetune": 2,
        "evaluate": 2,
    }
    assert set(jobs["wildcards"]) == {
        "llama-m",
        "base-llama_llama-m",
        "base-qwen_llama-m",
        "llama-m_rm-llama",
    }
    table = pd.read_csv(workdir / "results/tiny-offline-grid/report/metrics.csv")
    assert len(table) == CELLS + 2 and "llama-m" in set(table["teacher"])
