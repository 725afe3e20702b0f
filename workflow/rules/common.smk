# Configuration checks and input functions shared by every stage.

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir)))

from teachergrid.config import ConfigError, validate


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

TEACHERS = {t["name"]: t for t in CFG["teachers"]}
BASES = {b["name"]: b for b in CFG["bases"]}
REWARD_MODELS = {r["name"]: r for r in CFG["reward_models"]}
REFERENCE = CFG["reference_model"]
TINY = CFG.get("tiny_world") or {}
EVAL = CFG.get("evaluation") or {}
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


def res(entry, key, default=None):
    return entry["resources"].get(key, default)


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


def eval_reference_resources(bench):
    teacher = eval_reference_teacher(bench)
    return teacher["resources"] if teacher else {"gpu": 0, "threads": 1}


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
