# Config access and input functions shared by every stage. What the study's jobs are, where
# they run and what they are told is planned by the package (teachergrid/support/plan.py).

import os
import re
import sys
from pathlib import Path

# Jobs import the package from this checkout, whatever environment they run in (a conda
# environment of envs/, a container, the submitting shell's venv): the code that runs is the
# code of the workflow that planned the job.
sys.path.insert(0, str(Path(workflow.basedir)))
# (Set, not read from the user: no envvars directive. Every job re-reads this file, on a
# cluster node too, and sets it again.)
_paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
if str(workflow.basedir) not in _paths:
    os.environ.update(PYTHONPATH=os.pathsep.join([str(workflow.basedir), *_paths]))

from teachergrid.config import LC_FILES, ConfigError, validate
from teachergrid.core.published_format import dataset_key
from teachergrid.evaluation import exports
from teachergrid.support.layout import BENCHMARKS
from teachergrid.support.params import Untracked
from teachergrid.support.plan import (
    EVALUATION_UNTRACKED,
    FINETUNE_UNTRACKED,
    Plan,
    loading,
    tracked,
    untracked,
)
from teachergrid.support.resources import DEFAULT_RESOURCES, complete, memory_mb


def _config_file():
    files = list(workflow.overwrite_configfiles or [])
    return Path(files[-1] if files else Path(workflow.basedir) / "config.yaml")


try:
    P = Plan(
        validate(
            config,
            file=str(_config_file()),
            base_dir=_config_file().resolve().parent,
            working_dir=Path.cwd(),
        )
    )
except ConfigError as exc:
    sys.stderr.write(f"teachergrid: configuration error: {exc}\n")
    sys.exit(1)

CFG = P.cfg
TEACHERS, BASES, REWARD_MODELS = P.teachers, P.bases, P.reward_models
SCREEN_BASES = P.screen_bases
SCREEN_TEACHERS = P.screen["teachers"]
REFERENCE, TINY, EVAL, SCORES, ACCURACY = (
    P.reference,
    P.tiny,
    P.evaluation,
    P.scores,
    P.accuracy,
)
RESOURCES = P.resources
FT_CELLS = P.finetune_cells
API_TEACHERS, DATASET_TEACHERS, ENGINE_TEACHERS = (
    P.api_teachers,
    P.dataset_teachers,
    P.engine_teachers,
)
JUDGE_ON_HOST, PUBLISHED_RMS = P.judge_on_host, P.published_rms
# published teachers whose data carries reward scores
SCORED_TEACHERS = P.scored_teachers
HOST_BENCHES, NODE_BENCHES = P.host_benches, P.node_benches
# every output of the study goes under results/<study>/ (teachergrid/support/layout.py)
L = P.layout
R = L.root
model_dir = P.model_dir
model_input = P.model_input
SMALL_JOB = complete(DEFAULT_RESOURCES["small"], "small jobs")


wildcard_constraints:
    teacher="|".join(map(str, TEACHERS)) or "^$",
    base="|".join(map(str, BASES)) or "^$",
    rm="|".join(map(str, REWARD_MODELS)) or "^$",
    screen="|".join(map(str, SCREEN_BASES)) or "^$",
    bench="alpaca_eval|arena_hard",


def alternatives(names):
    """A wildcard constraint matching exactly these names; with none, one that matches nothing."""
    return "|".join(re.escape(str(n)) for n in names) or "(?!)"


def local_data(section):
    """A local data file a job reads, as an input (its content then decides reruns), or
    nothing for a hub data set."""
    return [section["source"]] if section.get("local") and "source" in section else []


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


def eval_reference_resources(wc):
    """The reference teacher's generation resources, or a small job's (a data column)."""
    teacher = P.reference_teacher(wc.bench)
    return RESOURCES["teachers"][teacher["name"]] if teacher else SMALL_JOB


def truth_inputs(split):
    """The instruction file whose exact answers check a split (`accuracy`; none without)."""
    return P.truth(split)


def record_inputs():
    """Every per-response record the report's bootstrap recomputes the metrics from (none
    with published scores: no judgements to redraw)."""
    if not P.evaluated:
        return []
    return [
        *expand(L.COMPATIBILITY_RECORDS, base=BASES, teacher=TEACHERS),
        *expand(L.REFERENCE_RECORDS, teacher=TEACHERS),
        *expand(L.REWARDS, teacher=TEACHERS, rm=REWARD_MODELS),
        *(expand(L.RESPONSES, teacher=TEACHERS) if ACCURACY else []),
        *truth_inputs("screening"),
    ]


def answer_inputs():
    """The fine-tuned cells' answers, which the report checks against the truth."""
    if not P.answers_checked():
        return []
    return [L.ANSWERS.format(base=b, teacher=t) for b, t in FT_CELLS]


def untuned_inputs():
    """Every base's answers before fine-tuning, where the students' answers are checked."""
    return expand(L.UNTUNED_ANSWERS, base=BASES) if P.answers_checked() else []


def export_outputs():
    """Every fine-tuned cell's answers in AlpacaEval's and Arena-Hard's own file shapes (none
    with published scores: nothing is answered)."""
    if not P.evaluated:
        return []
    models = [exports.model_name(b, t) for b, t in FT_CELLS]
    return [
        *expand(L.EXPORT_ALPACA_EVAL, model=models),
        *expand(L.EXPORT_ARENA_HARD, model=models),
    ]


def judgment_inputs():
    """The judgements the report reads: one file per fine-tuned cell."""
    if not EVAL:
        return []
    return [L.JUDGMENTS.format(base=b, teacher=t) for b, t in FT_CELLS]


def lc_file_inputs():
    """The report's copies of AlpacaEval's published files, where configured."""
    return [L.LC_FILE.format(lc_file=k) for k in P.lc_files()]
