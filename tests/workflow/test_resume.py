"""Resuming a sweep after jobs died or failed, as a user does it: the same command again.

From an empty folder, `make demo`'s command (`teachergrid worker -- snakemake --keep-going`) runs
the small grid while this test SIGKILLs one running job at each of four stages (a model build,
a generation, a compatibility scoring, a fine-tuning), as an out-of-memory killer or a node
failure would. Then: the run fails; the partial reports are where no rule writes and list the
missing cells; a dry run lists every unfinished job and the reports; the same command again
finishes the study with every report file byte for byte that of an uninterrupted run. The
same after a job that fails with an error (a model file damaged on disk) and is fixed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from helpers import RESCORE_PLAN, job_counts, report_files, small_config, snakemake_cmd

from teachergrid.screening.generate import shard_path
from teachergrid.support.layout import Layout
from teachergrid.training.finetune import last_checkpoint

# every path of the small grid's study (results/tiny-offline-grid/)
layout = Layout("tiny-offline-grid")

pytestmark = pytest.mark.workflow


# One job per stage, each killed once it has begun its work and, where the job keeps resumable
# state, once some of that exists: rule -> (the job's log, whether to kill it now).
def _has_shard(workdir: Path) -> bool:
    return shard_path(workdir / "results/tiny-offline-grid/responses/phi-s.shards", 0).exists()


def _has_checkpoint(workdir: Path) -> bool:
    return (
        last_checkpoint(workdir / "results/tiny-offline-grid/checkpoints/base-llama/qwen-l")
        is not None
    )


KILLED: dict[str, tuple[str, Callable[[Path], bool]]] = {
    "tiny_model": ("results/tiny-offline-grid/logs/tiny/model_gemma-m.log", lambda w: True),
    "generate": (layout.LOGS["generate"].format(teacher="phi-s"), _has_shard),
    "compatibility": (
        layout.LOGS["compatibility"].format(base="base-qwen", teacher="llama-s"),
        lambda w: True,
    ),
    "finetune": (
        layout.LOGS["finetune"].format(base="base-llama", teacher="qwen-l"),
        _has_checkpoint,
    ),
}


def grid_config() -> dict[str, Any]:
    """The small grid, with state a killed job leaves to resume from: 4 shards per teacher's
    generation, a checkpoint after every fine-tuning step (neither changes a result)."""
    cfg = small_config()
    cfg["generation"]["shard_size"] = 16
    cfg["finetune"]["save_steps"] = 1
    return cfg


def run(workdir: Path, *args: str, expect_success: bool = True) -> str:
    """`make demo`'s command on the small grid in `workdir`; its output."""
    dry = "-n" in args
    proc = subprocess.run(
        snakemake_cmd(workdir, workdir / "small.yaml", "--keep-going", *args, worker=not dry),
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"},
        timeout=1200,
    )
    output = proc.stdout + proc.stderr
    assert (proc.returncode == 0) == expect_success, output[-5000:]
    return output


def new_project(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "small.yaml").write_text(yaml.safe_dump(grid_config()))
    return workdir


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = new_project(tmp_path_factory.mktemp("uninterrupted"))
    run(workdir)
    assert not (workdir / layout.PARTIAL).exists()
    return workdir


class Killer(threading.Thread):
    """Kills, with SIGKILL, the process doing each target job's work once the job's condition
    holds. That process is the one holding the job's log open (`jobs.start` opens it): the
    script's own process, or under `teachergrid worker` the child forked for it. It is paused
    (SIGSTOP) while the condition is checked, so that a job of a fraction of a second cannot
    finish between the check and the kill."""

    def __init__(self, workdir: Path, targets: dict[str, tuple[str, Callable[[Path], bool]]]):
        super().__init__(daemon=True)
        self.workdir = workdir
        self.targets = targets
        self.logs = {str(workdir / log): rule for rule, (log, _) in targets.items()}
        self.killed: dict[str, int] = {}
        self.done = threading.Event()

    def _holders(self) -> dict[int, str]:
        """pid -> rule, for the processes in the working directory holding a target's log."""
        found = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.readlink(f"/proc/{pid}/cwd") != str(self.workdir):
                    continue
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    rule = self.logs.get(os.readlink(f"/proc/{pid}/fd/{fd}"))
                    if rule is not None and rule not in self.killed:
                        found[int(pid)] = rule
            except OSError:
                continue  # the process or its descriptor went away meanwhile
        return found

    def run(self) -> None:
        while not self.done.is_set() and len(self.killed) < len(self.targets):
            for pid, rule in self._holders().items():
                try:
                    os.kill(pid, signal.SIGSTOP)
                    if self.targets[rule][1](self.workdir):
                        os.kill(pid, signal.SIGKILL)
                        self.killed[rule] = pid
                    else:
                        os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    continue
            time.sleep(0.005)


def run_killing(
    workdir: Path, targets: dict[str, tuple[str, Callable[[Path], bool]]], *args: str
) -> tuple[str, list[str]]:
    """A run that fails because `targets` are killed; its output and the rules killed."""
    killer = Killer(workdir, targets)
    killer.start()
    try:
        out = run(workdir, *args, expect_success=False)
    finally:
        killer.done.set()
        killer.join()
    return out, sorted(killer.killed)


def test_a_screening_killed_before_any_cell_finished_resumes(uninterrupted, tmp_path):
    """The first half alone (`snakemake screening`, no --keep-going), its first model-building
    job killed: the run stops with no cell finished. Its partial reports list every cell, and
    the same command again ends with the uninterrupted run's screening."""
    workdir = new_project(tmp_path / "screening")
    target = {
        "tiny_tokenizers": ("results/tiny-offline-grid/logs/tiny/tokenizers.log", lambda w: True)
    }
    out, killed = run_killing(workdir, target, "screening")
    assert killed == ["tiny_tokenizers"], out[-3000:]
    partial = "results/tiny-offline-grid/report/partial/"
    assert f"teachergrid: partial reports over 0 of 8 cells in {partial}" in out
    assert "no partial report" not in out
    assert sorted(p.name for p in (workdir / layout.REPORT).iterdir()) == ["partial"]
    listed = pd.read_csv(workdir / layout.PARTIAL_MISSING)
    assert len(listed) == 8 and set(listed["rule"]) == {"generate"}
    screening = pd.read_csv(workdir / layout.PARTIAL / "screening.csv", keep_default_na=False)
    assert set(screening["missing"]) == {"generate"} and (screening["car"] == "").all()
    # every job of the screening half is still to run: 8 models (4 teachers, 2 bases, the
    # reference LM and the reward model), each teacher's jobs, each cell's, the report (the
    # instruction sample, which needs no model, may have finished beside the tokenizers)
    planned = job_counts(run(workdir, "-n", "screening"))
    assert {k: v for k, v in planned.items() if k not in ("instructions", "total")} == {
        "compatibility": 8,
        "generate": 4,
        "reference": 4,
        "reward": 4,
        "screening": 1,
        "screening_report": 1,
        "tiny_model": 8,
        "tiny_tokenizers": 1,
    }
    run(workdir, "screening")
    assert not (workdir / layout.PARTIAL).exists()
    ours, theirs = report_files(workdir), report_files(uninterrupted)
    assert sorted(ours) == ["screening.csv", "screening/base-llama.md", "screening/base-qwen.md"]
    assert ours == {name: theirs[name] for name in ours}


def test_jobs_killed_at_four_stages_resume_to_the_uninterrupted_result(uninterrupted, tmp_path):
    workdir = new_project(tmp_path / "killed")
    out, killed = run_killing(workdir, KILLED)
    assert sorted(killed) == sorted(KILLED), out[-3000:]
    for rule in KILLED:
        assert f"Error in rule {rule}:" in out

    # No report at a report rule's output path: nothing there can pass for the study's result.
    assert not (workdir / layout.SCREENING).exists() and not (workdir / layout.METRICS).exists()
    report = workdir / layout.REPORT
    assert sorted(p.name for p in report.iterdir()) == ["partial"]
    # The partial reports list each missing cell at the first job of it that did not finish.
    listed = pd.read_csv(workdir / layout.PARTIAL_MISSING)
    missing = {(r.base, r.teacher): r.rule for r in listed.itertuples()}
    assert missing == {
        ("base-llama", "gemma-m"): "generate",  # its teacher was never built
        ("base-qwen", "gemma-m"): "generate",
        ("base-llama", "phi-s"): "generate",
        ("base-qwen", "phi-s"): "generate",
        ("base-qwen", "llama-s"): "compatibility",
        ("base-llama", "qwen-l"): "finetune",
    }
    metrics = pd.read_csv(workdir / layout.PARTIAL / "metrics.csv", keep_default_na=False)
    assert {(r.base, r.teacher): r.missing for r in metrics.itertuples() if r.missing} == missing
    partial = "results/tiny-offline-grid/report/partial/"
    assert f"teachergrid: partial reports over 2 of 8 cells in {partial}" in out
    assert "no partial report" not in out

    # A dry run lists every unfinished job of those cells, and the reports.
    planned = job_counts(run(workdir, "-n"))
    assert planned == {
        "all": 1,
        "tiny_model": 1,
        "generate": 2,
        "reward": 2,
        "reference": 2,
        "compatibility": 5,
        "finetune": 5,
        "evaluate": 5,
        "exports": 1,
        "screening_report": 1,
        "report": 1,
        "report_page": 1,
        "total": 27,
    }

    # The README's resume: the same command again.
    run(workdir)
    assert not (workdir / layout.PARTIAL).exists()
    assert report_files(workdir) == report_files(uninterrupted)
    # and the killed jobs went on from the state they left, not from nothing
    generated = (workdir / KILLED["generate"][0]).read_text()
    assert re.findall(r"phi-s: 4 shards, (\d) to generate", generated)[-1] in "123"
    record = workdir / "results/tiny-offline-grid/models/base-llama/qwen-l/finetune_config.json"
    tuned = json.loads(record.read_text())
    assert tuned["resumed_from"] and tuned["global_step"] == 4


def test_a_job_that_failed_with_an_error_reruns_once_fixed(uninterrupted, tmp_path):
    """A base's weights damaged on disk after the study finished; one of its cells is scored
    again (`--forcerun`) and fails with an error. Once the file is restored, the same command
    ends with the uninterrupted run's reports."""
    workdir = tmp_path / "failed"
    shutil.copytree(uninterrupted, workdir, symlinks=True)
    weights = workdir / "results/tiny-offline-grid/tiny/models/base-qwen/model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(b"damaged")
    cell = layout.COMPATIBILITY.format(base="base-qwen", teacher="gemma-m")

    out = run(workdir, "--forcerun", cell, expect_success=False)
    assert "Error in rule compatibility:" in out
    job_log = layout.LOGS["compatibility"].format(base="base-qwen", teacher="gemma-m")
    assert "safetensors" in (workdir / job_log).read_text().lower()
    listed = pd.read_csv(workdir / layout.PARTIAL_MISSING)
    assert listed.to_dict("records") == [
        {
            "base": "base-qwen",
            "teacher": "gemma-m",
            "rule": "compatibility",
            "output": "results/tiny-offline-grid/compatibility/base-qwen/gemma-m.json",
            "log": job_log,
        }
    ]
    assert "partial reports over 7 of 8 cells" in out
    # the complete run's reports are withdrawn: left in place, they would make the same
    # command find nothing to do (Snakemake does not remake a missing intermediate file while
    # what it fed is present)
    # (12 tables, the page and its figures' folder)
    assert "removed 14 reports of an earlier run from results/tiny-offline-grid/report/" in out
    assert sorted(p.name for p in (workdir / layout.REPORT).iterdir()) == ["partial"]
    # the dry run lists the failed job and the reports; the damaged file is not an input of
    # anything (a model is a folder the tiny_model job made), so nothing else
    assert job_counts(run(workdir, "-n")) == RESCORE_PLAN

    weights.write_bytes(good)
    run(workdir)
    assert not (workdir / layout.PARTIAL).exists()
    assert report_files(workdir) == report_files(uninterrupted)


def test_published_scores_give_the_judged_studys_correlations(uninterrupted, tmp_path):
    """`evaluation: {scores: FILE}` on a screened grid: the study's own benchmark scores, as a
    published table (teachers by hub-style id), stand in for fine-tuning. Only the report runs,
    and every correlation is the judged study's (no intervals: no judgements to redraw)."""
    workdir = tmp_path / "published"
    shutil.copytree(uninterrupted, workdir, symlinks=True)
    judged = pd.read_csv(uninterrupted / layout.METRICS)
    scores = judged[["base", "teacher", "alpaca_eval_wr", "alpaca_eval_lc", "arena_hard_wr"]]
    scores.assign(teacher="tiny/" + scores["teacher"]).to_csv(workdir / "t6.csv", index=False)
    cfg = grid_config()
    cfg["evaluation"] = {"scores": str(workdir / "t6.csv")}
    (workdir / "small.yaml").write_text(yaml.safe_dump(cfg))
    # the preflight checks the study's models again (the judge is gone), then only the report
    # and its page
    out = run(workdir)
    ran = set(re.findall(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):", out, re.MULTILINE))
    assert ran == {"preflight", "report", "report_page", "all"}, ran
    ours = pd.read_csv(workdir / layout.CORRELATIONS)
    theirs = pd.read_csv(uninterrupted / layout.CORRELATIONS)
    keys = ["base", "metric"]
    values = ["n_teachers", "spearman_rho", "kendall_tau", "spearman_rho_raw"]
    pd.testing.assert_frame_equal(ours[keys + values], theirs[keys + values])
    metrics = pd.read_csv(workdir / layout.METRICS)
    assert set(metrics["alpaca_eval_lc_method"]) == {"published (t6.csv)"}
    assert (metrics["ap"] - judged["ap"]).abs().max() < 1e-9
