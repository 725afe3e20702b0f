"""Helpers shared by the tests that run Snakemake."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny.yaml"


def with_absolute_sources(raw: dict[str, Any]) -> dict[str, Any]:
    """A copy of a tiny config whose instruction files resolve from anywhere (tests write
    derived configs to temporary folders, and relative paths are relative to the config)."""
    raw = copy.deepcopy(raw)
    for section in (raw["instructions"], raw["instructions"]["eval"]):
        section["source"] = str((TINY.parent / section["source"]).resolve())
    return raw


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


def tiny_config() -> dict[str, Any]:
    """configs/tiny.yaml, parsed, with absolute instruction paths."""
    return with_absolute_sources(yaml.safe_load(TINY.read_text()))


def quick_config() -> dict[str, Any]:
    """configs/tiny.yaml with a fraction of its compute: every tiny model trained 40 steps,
    64 screening instructions, 24 prompts per benchmark, one epoch of fine-tuning. Every stage
    and every file as the demo has them, for the tests of the workflow's plumbing (scheduling,
    reruns, failures, hosts) rather than of its numbers, which test_workflow's grid checks."""
    cfg = tiny_config()
    for recipe in cfg["tiny_world"]["models"].values():
        recipe["steps"] = min(int(recipe["steps"]), 40)
    cfg["instructions"]["sample"] = 64
    cfg["finetune"]["epochs"] = 1
    for bench in ("alpaca_eval", "arena_hard"):
        cfg["evaluation"][bench]["prompts"] = {**cfg["instructions"]["eval"], "sample": 24}
    return cfg


# A sixth of the tiny grid with every stage: the evaluation's reference (qwen-l) and baseline
# (llama-s) teachers and two more families, on two bases. The plumbing tests that run a grid
# several times (SLURM, resuming) use it: CI time.
SMALL_TEACHERS = ("llama-s", "qwen-l", "gemma-m", "phi-s")
SMALL_BASES = ("base-llama", "base-qwen")


def small_config() -> dict[str, Any]:
    """quick_config() cut to SMALL_TEACHERS x SMALL_BASES."""
    cfg = quick_config()
    cfg["teachers"] = [t for t in cfg["teachers"] if t["name"] in SMALL_TEACHERS]
    cfg["bases"] = [b for b in cfg["bases"] if b["name"] in SMALL_BASES]
    return cfg


def snakemake_cmd(
    workdir: Path,
    configfile: Path | None,
    *args: str,
    cores: int | None = 2,
    worker: bool = False,
) -> list[str]:
    """A snakemake command line running this repository's workflow in `workdir` (on `cores`
    local cores; None leaves them to a profile), under `teachergrid worker` if `worker`, as
    `make demo` runs it."""
    cmd = [
        *([sys.executable, "-m", "teachergrid.cli", "worker", "--"] if worker else []),
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
    ]
    if cores is not None:
        cmd += ["--cores", str(cores)]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    return cmd + list(args)


# What a dry run plans once one cell's compatibility job has failed (the resume and SLURM tests
# damage a base's weights and score one of its cells again): that job, then the reports.
RESCORE_PLAN = {"all": 1, "compatibility": 1, "screening_report": 1, "report": 1,
                "report_page": 1, "total": 5}  # fmt: skip


def report_files(workdir: Path) -> dict[str, bytes]:
    """Every table under a tiny project's report folder, by path: what a resumed run is
    compared with an uninterrupted one by, byte for byte. The page and its figures are left
    out: they are drawn from these tables plus the run's own cost (each job's wall time),
    which no two runs share."""
    root = workdir / "results" / "tiny-offline-grid" / "report"
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "index.html" and "figures" not in p.relative_to(root).parts
    }


@contextmanager
def transformers_serve(model: Path, log: Path) -> Iterator[str]:
    """`transformers serve` (the transformers package's OpenAI-compatible server) running
    `model` on CPU on a free loopback port; yields its /v1 base URL."""
    import shutil

    from teachergrid.training.finetune import free_port

    serve = shutil.which("transformers", path=str(Path(sys.executable).parent))
    assert serve, "the transformers CLI (transformers[serving]) is part of requirements.txt"
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [serve, "serve", "--host", "127.0.0.1", "--port", str(port), str(model)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"transformers serve exited:\n{log.read_text()}") from None
                time.sleep(0.5)
        else:
            raise RuntimeError(f"transformers serve did not come up:\n{log.read_text()}")
        yield f"{url}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def tiny_recipe(**keys: Any) -> dict[str, Any]:
    """A tiny model's recipe with the schema's defaults, as the tiny_model job gets it from
    the validated config (`tiny_world.models.NAME`)."""
    from teachergrid.config import section

    return section("tiny_world", {"tokenizers": {}, "models": {"m": keys}})["models"]["m"]


def model_entry(section: str, **keys: Any) -> dict[str, Any]:
    """One entry of `teachers`, `bases` or `reward_models` with the schema's defaults, as the
    validated config gives it to a job."""
    from teachergrid.config import fill_defaults

    return fill_defaults({section: [keys]})[section][0]


def benchmark_prompts(**keys: Any) -> dict[str, Any]:
    """A benchmark's `prompts` section with the schema's defaults."""
    from teachergrid.config import section

    return section("evaluation", {"alpaca_eval": {"prompts": keys}})["alpaca_eval"]["prompts"]


def judge_entry(**keys: Any) -> dict[str, Any]:
    """`evaluation.judge` with the schema's defaults (an LLM judge's API section among them)."""
    from teachergrid.config import section

    return section("evaluation", {"judge": keys})["judge"]


def scoring_entry(**keys: Any) -> dict[str, Any]:
    """A base as the compatibility job gets it: its model keys, and the compatibility
    section's batch, truncation and metric definitions where it sets none of its own."""
    from teachergrid.config import section
    from teachergrid.config.models import scoring_settings

    compat = section("compatibility", {"metrics": keys.pop("metrics", {})})
    return scoring_settings(model_entry("bases", **keys), compat)
