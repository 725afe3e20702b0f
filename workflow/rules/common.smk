# Configuration checks and input functions shared by every stage.

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir)))

from teachergrid.config import ConfigError, validate
from teachergrid.resources import DEFAULT_RESOURCES, complete, memory_mb


def _config_file():
    files = list(workflow.overwrite_configfiles or [])
    return Path(files[-1] if files else Path(workflow.basedir) / "config.yaml")


try:
    CFG = validate(
        config, file=str(_config_file()), base_dir=_config_file().resolve().parent
    )
except ConfigError as exc:
    sys.stderr.write(f"teachergrid: configuration error: {exc}\n")
    sys.exit(1)

# Jobs see their settings as params; with every mapping's keys sorted, reordering keys in the
# YAML file (or adding a teacher) does not look like a change to the jobs that already ran.
CFG = json.loads(json.dumps(CFG, sort_keys=True))


def _take_resources(section):
    """Move a config section's scheduler resources out of it. Jobs see their settings as
    params, and asking for more memory or another GPU model must not look like a change
    that invalidates results."""
    return section.pop("resources", None) if section else None


TEACHERS = {t["name"]: t for t in CFG["teachers"]}
BASES = {b["name"]: b for b in CFG["bases"]}
REWARD_MODELS = {r["name"]: r for r in CFG["reward_models"]}
REFERENCE = CFG["reference_model"]
TINY = CFG.get("tiny_world") or {}
EVAL = CFG.get("evaluation") or {}
RESOURCES = {
    "teachers": {n: _take_resources(t) for n, t in TEACHERS.items()},
    "bases": {n: _take_resources(b) for n, b in BASES.items()},
    "reward_models": {n: _take_resources(r) for n, r in REWARD_MODELS.items()},
    "reference": _take_resources(REFERENCE),
    "tiny": _take_resources(TINY),
    "finetune": _take_resources(CFG["finetune"]),
    "evaluation": _take_resources(EVAL),
}
for _stage in ("generation", "reward", "compatibility"):
    _take_resources(CFG.get(_stage))
R = "results"


wildcard_constraints:
    teacher="|".join(map(str, TEACHERS)) or "^$",
    base="|".join(map(str, BASES)) or "^$",
    rm="|".join(map(str, REWARD_MODELS)) or "^$",
    bench="alpaca_eval|arena_hard",


def model_dir(entry):
    """Where a job loads a model from: the built tiny model, a local dir or a hub id."""
    if entry.get("tiny"):
        return f"{R}/tiny/models/{entry['tiny']}"
    return entry["model"]


def model_input(entry):
    """Snakemake inputs for a model: only tiny models are files the workflow makes."""
    return [model_dir(entry)] if entry.get("tiny") else []


SMALL_JOB = complete(DEFAULT_RESOURCES["small"], "small jobs")


def _per_job(resources):
    """A function of the wildcards, from a function or from one mapping for every job."""
    return resources if callable(resources) else (lambda wc: resources)


def cores(resources):
    """A rule's threads (CPUs per task, unless cpus_per_gpu is set)."""
    get = _per_job(resources)
    return lambda wc: get(wc)["threads"]


def scheduler(resources):
    """A rule's resources, in the names Snakemake's SLURM executor reads. `resources` is a
    completed resources mapping, or a function of the wildcards that returns one. Memory
    grows with the attempt number up to mem_mb_max; empty gpu_model/cpus_per_gpu ask for
    nothing."""
    get = _per_job(resources)
    return {
        "gpu": lambda wc: get(wc)["gpu"],
        "gpu_model": lambda wc: get(wc)["gpu_model"] or "",
        "cpus_per_gpu": lambda wc: get(wc)["cpus_per_gpu"] or 0,
        "mem_mb": lambda wc, attempt: memory_mb(get(wc), attempt),
        "runtime": lambda wc: get(wc)["runtime"],
    }


def eval_reference_teacher(bench):
    """The teacher whose answers are a benchmark's references, or None (a data column)."""
    name = EVAL[bench]["reference"].get("teacher")
    return TEACHERS[name] if name else None


def eval_reference_model_input(bench):
    teacher = eval_reference_teacher(bench)
    return model_input(teacher) if teacher else []


def eval_reference_model(bench):
    teacher = eval_reference_teacher(bench)
    return model_dir(teacher) if teacher else None


def eval_reference_decoding(bench):
    teacher = eval_reference_teacher(bench)
    return CFG["decodings"][teacher["decoding"]] if teacher else None


def eval_reference_resources(wc):
    """The reference teacher's generation resources, or a small job's (a data column)."""
    teacher = eval_reference_teacher(wc.bench)
    return RESOURCES["teachers"][teacher["name"]] if teacher else SMALL_JOB


def screening_outputs():
    return [f"{R}/report/screening.csv"] + [
        f"{R}/report/screening/{b}.md" for b in BASES
    ]


def report_outputs():
    """The whole study: screening, then (with an evaluation section) the correlations."""
    outputs = [f"{R}/report/metrics.csv"] + screening_outputs()[1:]
    if EVAL:
        outputs += [f"{R}/report/correlations.csv", f"{R}/report/paradox.csv"]
    return outputs
