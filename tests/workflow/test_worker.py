"""`teachergrid worker`: a real Snakemake run whose script jobs move into the warm worker, keep
their logs, outputs and exit status, and run as before where there is no worker."""

import json
import subprocess
import sys
from pathlib import Path

SNAKEFILE = """
rule all:
    input: "ok.json"

rule ok:
    output: "ok.json"
    log: "ok.log"
    script: "job.py"

rule fails:
    output: "never.json"
    log: "fails.log"
    script: "job.py"
"""

JOB = """
import json, os, sys
from teachergrid.support.jobs import start

log = start(snakemake)
log.info("job %s running", snakemake.rule)
if snakemake.rule == "fails":
    sys.exit(3)
with open(snakemake.output[0], "w") as handle:
    json.dump({
        "in_worker": os.environ.get("TEACHERGRID_IN_WORKER") == "1",
        "torch_was_imported": "torch" in sys.modules,
        "cwd": os.getcwd(),
        "env": os.environ.get("JOB_MARK"),
    }, handle)
"""


def project(tmp_path: Path) -> Path:
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    (tmp_path / "job.py").write_text(JOB)
    return tmp_path


def snakemake(tmp_path: Path, *targets: str, worker: bool) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", *targets]
    if worker:
        cmd = [sys.executable, "-m", "teachergrid.cli", "worker", "--", *cmd]
    return subprocess.run(
        cmd,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "JOB_MARK": "from-the-job"},
    )


def test_jobs_run_in_the_warm_worker_with_their_own_directory_and_environment(tmp_path):
    project(tmp_path)
    proc = snakemake(tmp_path, worker=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads((tmp_path / "ok.json").read_text())
    # the script ran in a process forked from the server, which had imported torch already
    assert seen["in_worker"] is True and seen["torch_was_imported"] is True
    assert seen["cwd"] == str(tmp_path) and seen["env"] == "from-the-job"
    assert "job ok running" in (tmp_path / "ok.log").read_text()


def test_a_failing_job_fails_in_the_worker_too(tmp_path):
    project(tmp_path)
    proc = snakemake(tmp_path, "fails", worker=True)
    assert proc.returncode != 0
    assert "Error in rule fails" in proc.stderr
    assert not (tmp_path / "never.json").exists()
    assert "job fails running" in (tmp_path / "fails.log").read_text()


def test_without_a_worker_the_job_runs_in_its_own_process(tmp_path):
    project(tmp_path)
    proc = snakemake(tmp_path, worker=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads((tmp_path / "ok.json").read_text())
    assert seen["in_worker"] is False and seen["torch_was_imported"] is False
