"""Real Snakemake runs: the tiny grid from nothing, then rerunning one cell; and the paper-sized
DAG of config.yaml built (dry run) on a machine without GPUs or a hub."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import REPO, TINY, snakemake_cmd, tiny_config

pytestmark = pytest.mark.workflow


def snakemake(workdir: Path, *args: str, configfile: Path | None = TINY) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    proc = subprocess.run(
        snakemake_cmd(workdir, configfile, *args),
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    return output


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table snakemake prints: rule -> number of jobs."""
    counts: dict[str, int] = {}
    block = output.split("Job stats:", 1)[1] if "Job stats:" in output else ""
    for line in block.splitlines()[3:]:
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not match:
            break
        counts[match.group(1)] = int(match.group(2))
    return counts


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("tiny-grid")
    snakemake(workdir)
    return workdir


SCREENING = [
    "base",
    "teacher",
    "reward_rm-llama",
    "beta",
    "reward",
    "loss",
    "ppl_self",
    "ifd_self",
    "ppl_ref",
    "ifd_ref",
    "length",
    "car",
]
EVALUATION = ["alpaca_eval_wr", "alpaca_eval_lc", "arena_hard_wr", "ap"]


def test_screening_report_has_every_cell_and_consistent_car(grid):
    screening = pd.read_csv(grid / "results/report/screening.csv")
    assert list(screening.columns) == SCREENING
    table = pd.read_csv(grid / "results/report/metrics.csv")
    assert list(table.columns) == SCREENING + EVALUATION
    assert table[SCREENING].equals(screening)
    assert table["teacher"].nunique() >= 6 and table["base"].nunique() >= 3
    assert len(table) == table["teacher"].nunique() * table["base"].nunique()
    assert table.notna().all().all()
    recomputed = table["reward"] / (1 + table["beta"] * table["loss"])
    assert (table["car"] - recomputed).abs().max() < 1e-12
    for base in table["base"].unique():
        assert (grid / f"results/report/screening/{base}.md").exists()


def test_the_tiny_world_has_signal(grid):
    table = pd.read_csv(grid / "results/report/metrics.csv")
    for _, sub in table.groupby("base"):
        # losses differ across teachers for every base, by more than noise
        assert sub["loss"].max() - sub["loss"].min() > 0.5
    rewards = table.groupby("teacher")["reward_rm-llama"].first()
    # the same family trained 60 vs 300 steps: the longer-trained teacher is rewarded more
    assert rewards["llama-l"] - rewards["llama-s"] > 1.0
    assert rewards["qwen-l"] > rewards["qwen-s"]
    # family match: each base finds its own family's teacher easiest among the long-trained
    loss = table.pivot(index="base", columns="teacher", values="loss")
    assert loss.loc["base-qwen", "qwen-l"] < loss.loc["base-qwen", "llama-l"]
    assert loss.loc["base-gemma", "gemma-m"] < loss.loc["base-gemma", "qwen-l"]


def test_every_job_left_a_log_and_a_benchmark(grid):
    logs = list((grid / "results/logs").rglob("*.log"))
    benchmarks = list((grid / "results/benchmarks").rglob("*.tsv"))
    assert len(logs) == len(benchmarks) >= 6 * 3 * 3 + 6 * 3 + 12
    assert any("responses" in p.read_text() for p in logs)


def test_one_cell_reruns_alone_then_with_its_reports(grid):
    cell = "results/compatibility/base-qwen/qwen-s.json"
    others = sorted((grid / "results/compatibility").rglob("*.json"))
    before = {p: p.stat().st_mtime_ns for p in others}
    assert "Nothing to be done" in snakemake(grid, "-n")
    # asking for one cell's output recomputes exactly that cell
    ran = snakemake(grid, "--force", cell)
    assert job_counts(ran) == {"compatibility": 1, "total": 1}
    changed = [p for p in others if p.stat().st_mtime_ns != before[p]]
    assert [str(p.relative_to(grid)) for p in changed] == [cell]
    # the same content again: snakemake's checksums see nothing new downstream
    assert "Nothing to be done" in snakemake(grid, "-n")
    # forcing the cell through the whole workflow reruns it and only the reports after it
    ran = snakemake(grid, "--forcerun", cell)
    assert job_counts(ran) == {
        "all": 1,
        "compatibility": 1,
        "screening_report": 1,
        "report": 1,
        "total": 4,
    }


def test_every_cell_fine_tuned_evaluated_and_correlated(grid):
    table = pd.read_csv(grid / "results/report/metrics.csv")
    assert table[EVALUATION].notna().all().all()
    assert ((table[EVALUATION] >= 0) & (table[EVALUATION] <= 100)).all().all()
    assert (
        (table["ap"] - (table["alpaca_eval_lc"] + table["arena_hard_wr"]) / 2).abs() < 1e-9
    ).all()
    for row in table.itertuples():
        model = grid / f"results/models/{row.base}/{row.teacher}"
        assert (model / "model.safetensors").exists()
        info = json.loads((model / "finetune_config.json").read_text())
        assert info["global_step"] > 0 and info["config"]["learning_rate"] == 1e-3
    corr = pd.read_csv(grid / "results/report/correlations.csv")
    per_base = corr[corr["base"] != "average"]
    metrics = set(SCREENING[2:]) - {"beta"} | {"params_b"}
    assert set(per_base["metric"]) == metrics
    assert len(per_base) == len(metrics) * table["base"].nunique()
    assert per_base[["spearman_rho", "spearman_p", "kendall_tau", "kendall_p"]].notna().all().all()
    assert set(corr[corr["base"] == "average"]["metric"]) == metrics
    paradox = pd.read_csv(grid / "results/report/paradox.csv")
    assert list(paradox["base"]) == list(table["base"].unique())
    best = table.loc[table.groupby("base")["ap"].idxmax()].set_index("base")["teacher"]
    assert dict(zip(paradox["base"], paradox["best_teacher"], strict=True)) == best.to_dict()


def test_paper_config_builds_the_whole_dag_offline(tmp_path):
    out = snakemake(tmp_path, "-n", configfile=None)
    counts = job_counts(out)
    assert counts["generate"] == 20
    assert counts["reward"] == 60
    assert counts["compatibility"] == 100
    assert counts["reference"] == 20
    assert counts["finetune"] == 100
    assert counts["evaluate"] == 100
    # GPU resources reach the jobs (tensor-parallel size for big teachers)
    assert re.search(
        r"wildcards: teacher=Qwen2.5-72B-Instruct\n(\s+threads: \d+\n)?\s+resources: [^\n]*gpu=4",
        out,
    )
    assert re.search(r"rule finetune:(?:\n\s+[^\n]*)*?\n\s+resources: [^\n]*gpu=4", out)
    assert re.search(r"rule evaluate:(?:\n\s+[^\n]*)*?\n\s+resources: [^\n]*gpu=1", out)


def _resources_of(output: str, rule: str) -> list[dict[str, str]]:
    """The `resources:` line of every job of a rule in a dry run, as key -> value."""
    lines = re.findall(rf"rule {rule}:(?:\n\s+[^\n]*)*?\n\s+resources: ([^\n]*)", output)
    return [dict(pair.split("=", 1) for pair in line.split(", ")) for line in lines]


def test_jobs_ask_the_scheduler_for_what_the_config_declares(tmp_path):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["finetune"]["resources"].update(gpu_model="h100", mem_mb_max=400000)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))

    def dry_run(attempt: int) -> str:
        return snakemake(tmp_path, "-n", "--attempt", str(attempt), configfile=path)

    first, third = dry_run(1), dry_run(3)
    finetune = _resources_of(first, "finetune")
    assert len(finetune) == 100
    for job in finetune:
        assert (job["gpu"], job["gpu_model"], job["cpus_per_gpu"]) == ("4", "h100", "8")
        assert (job["mem_mb"], job["runtime"]) == ("256000", "1440")
    # memory grows with the attempt (x3) but stops at the cap
    assert {job["mem_mb"] for job in _resources_of(third, "finetune")} == {"400000"}
    # without an explicit cap, the third attempt asks for twice the first request
    assert {job["mem_mb"] for job in _resources_of(third, "compatibility")} == {"128000"}
    generate = _resources_of(first, "generate")
    assert len(generate) == 20
    # a vLLM teacher asks for one GPU per tensor-parallel rank, a closed one behind an API none
    expected = [
        0 if t.get("backend") == "openai" else t.get("tensor_parallel_size", 1)
        for t in cfg["teachers"]
    ]
    assert sorted(int(job["gpu"]) for job in generate) == sorted(expected)
    assert 0 in expected and 8 in expected
    assert all(job["gpu_model"] == "" for job in generate)


def test_api_teacher_through_the_workflow_keeps_its_key_out_of_every_file(tmp_path):
    """A closed teacher behind a flaky OpenAI-compatible server, run by Snakemake: every
    instruction answered once, no answer paid for twice, and the key in no file of the run
    (results, logs, benchmarks, Snakemake's own metadata)."""
    from fake_openai import FakeOpenAI

    secret = "sk-workflow-secret-4711"
    faults = [[], ["429"], ["500", "503"], ["timeout"], ["garbage"], ["no-choices", "429"]]

    def plan(prompt: str) -> list[str]:
        return faults[len(prompt) % len(faults)]

    cfg = tiny_config()
    path = tmp_path / "api.yaml"
    target = "results/responses/closed.jsonl"
    env = {**os.environ, "TG_TEST_KEY": secret}
    with FakeOpenAI(plan, timeout_sleep=0.6) as server:
        cfg["teachers"].append(
            {"name": "closed", "model": "gpt-x", "backend": "openai", "params_b": 1000,
             "api": {"model": "gpt-x", "base_url": server.base_url, "api_key_env": "TG_TEST_KEY",
                     "max_concurrency": 4, "timeout_s": 0.3, "max_retries": 6,
                     "backoff_s": 0.01}}
        )  # fmt: skip
        path.write_text(yaml.safe_dump(cfg))
        cmd = snakemake_cmd(tmp_path, None, target, "--configfile", str(path))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        rows = [json.loads(line) for line in (tmp_path / target).read_text().splitlines()]
        instructions = (tmp_path / "results/instructions/train.jsonl").read_text().splitlines()
        assert len(rows) == len(instructions) == 160
        assert sorted(r["id"] for r in rows) == sorted(json.loads(i)["id"] for i in instructions)
        assert all(r["response"] for r in rows)
        assert set(server.answered.values()) == {1}
        assert server.auth == {f"Bearer {secret}"}
        # a job killed half-way through its shards: the answers it had are not bought again
        shards = tmp_path / "results/responses/closed.shards"
        for shard in shards.glob("shard-*.jsonl"):
            shard.unlink()
        sent = server.requests
        proc = subprocess.run(
            [*cmd, "--forcerun", target], capture_output=True, text=True, env=env, timeout=600
        )
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        assert server.requests == sent
    assert secret not in proc.stdout + proc.stderr
    leaks = [
        str(f.relative_to(tmp_path))
        for f in tmp_path.rglob("*")
        if f.is_file() and secret.encode() in f.read_bytes()
    ]
    assert (tmp_path / ".snakemake/metadata").is_dir() and (tmp_path / "results/logs").is_dir()
    assert leaks == []
