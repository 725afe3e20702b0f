# Configuration checks and input functions shared by every stage.

import json
import os
import re
import sys
from pathlib import Path

from snakemake.io import IOFile

# Jobs import the package from this checkout, whatever environment they run in (a conda
# environment of envs/, a container, the submitting shell's venv): the code that runs is the
# code of the workflow that planned the job.
sys.path.insert(0, str(Path(workflow.basedir)))
# (Set, not read from the user: no envvars directive. Every job re-reads this file, on a
# cluster node too, and sets it again.)
_paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
if str(workflow.basedir) not in _paths:
    os.environ.update(PYTHONPATH=os.pathsep.join([str(workflow.basedir), *_paths]))

from teachergrid.evaluation import exports
from teachergrid.support import layout
from teachergrid.core.published_format import dataset_key
from teachergrid.config import LC_FILES, ConfigError, validate
from teachergrid.support.params import Untracked, split_entry
from teachergrid.support.resources import DEFAULT_RESOURCES, complete, memory_mb


def _config_file():
    files = list(workflow.overwrite_configfiles or [])
    return Path(files[-1] if files else Path(workflow.basedir) / "config.yaml")


try:
    CFG = validate(
        config,
        file=str(_config_file()),
        base_dir=_config_file().resolve().parent,
        working_dir=Path.cwd(),
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
# `evaluation: {scores: FILE}`: AP read from published scores; nothing fine-tuned or evaluated
SCORES = EVAL.get("scores")
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
# every output of the study goes under results/<study>/ (teachergrid/support/layout.py)
L = layout.Layout(CFG["study"])
R = L.root


wildcard_constraints:
    teacher="|".join(map(str, TEACHERS)) or "^$",
    base="|".join(map(str, BASES)) or "^$",
    rm="|".join(map(str, REWARD_MODELS)) or "^$",
    bench="alpaca_eval|arena_hard",


def tracked(entry, *untracked_keys):
    """The part of a job's settings that can change its result (teachergrid/support/params.py)."""
    return split_entry(entry, untracked_keys)[0]


def untracked(entry, *untracked_keys, **extra):
    """The rest: labels, speed knobs, retries, paths. Snakemake does not compare it, so
    editing it reruns nothing. `extra`: more untracked values for the job."""
    return Untracked({**split_entry(entry, untracked_keys)[1].to_dict(), **extra})


# Fine-tuning settings that change how fast a cell trains or how often it checkpoints, never
# the model it ends with (the per-device batch only splits the effective batch).
FINETUNE_UNTRACKED = (
    "save_steps",
    "keep_checkpoints",
    "per_device_batch_size",
    "gradient_checkpointing",
)
# Evaluation settings of the answer-and-judge jobs that only set their speed.
EVALUATION_UNTRACKED = ("batch_size", "tensor_parallel_size")
# Evaluation settings of the win-rate analysis (the report), not of the judging jobs.
EVALUATION_ANALYSIS = ("length_control", "bootstrap", "seed")


# What decides how a model is loaded: a fine-tuning or evaluation job is told only these of a
# base's settings (its scoring batch and truncation belong to the compatibility stage).
LOADING_KEYS = (
    "name",
    "model",
    "revision",
    "dtype",
    "trust_remote_code",
    "chat_template",
    "local",
    "tiny",
)


def loading(entry):
    return {k: entry[k] for k in LOADING_KEYS if k in entry}


def evaluation_job_settings():
    """What an evaluate job needs: how the model answers and who judges (no analysis keys,
    no benchmark data: those reach it as the eval_reference files)."""
    skip = {
        *EVALUATION_ANALYSIS,
        "alpaca_eval",
        "arena_hard",
        "judge",
        "exclude_from_correlations",
    }
    return {k: v for k, v in EVAL.items() if k not in skip}


def answer_limits():
    """Each benchmark's token limit for the students' answers: its `max_new_tokens`, or the
    evaluation decoding's."""
    if not EVAL or SCORES:
        return {}
    default = CFG["decodings"][EVAL.get("decoding", "greedy")]["max_new_tokens"]
    return {b: EVAL[b].get("max_new_tokens") or default for b in layout.BENCHMARKS}


def local_data(section):
    """A local data file a job reads, as an input (its content then decides reruns), or
    nothing for a hub data set."""
    return [section["source"]] if section.get("local") and "source" in section else []


model_dir = L.model_dir


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


def alternatives(names):
    """A wildcard constraint matching exactly these names; with none, one that matches nothing."""
    return "|".join(re.escape(str(n)) for n in names) or "(?!)"


# Jobs that only talk to the network run on the submitting host, where the network is: API
# teachers' generation, references that are published files or an API teacher's answers, an
# LLM judge's prompts (the evaluation jobs' judging needs the student on a GPU, so it runs
# there). Everything else goes to the cluster.
API_TEACHERS = [n for n, t in TEACHERS.items() if t.get("backend") == "openai"]
# Published teachers (teachergrid/screening/published.py): responses, and the scores of the reward
# models the data set names, are read from the data set on the host; nothing is generated.
DATASET_TEACHERS = [n for n, t in TEACHERS.items() if t.get("backend") == "dataset"]
JUDGE_ON_HOST = (EVAL.get("judge") or {}).get("kind") == "openai"
ENGINE_TEACHERS = [n for n in TEACHERS if n not in API_TEACHERS + DATASET_TEACHERS]


def published_reward_models():
    """Reward models whose scores of every published teacher are read from the data set: a
    key in the data (`dataset_key`), present in every published teacher's column as far as
    the config step could read it (local parquet files; hub data is checked by the job).
    """
    out = []
    for name, rm in REWARD_MODELS.items():
        key = dataset_key(rm)
        known = [TEACHERS[t]["dataset"].get("scores") for t in DATASET_TEACHERS]
        if key is not None and all(k is None or key in k for k in known):
            out.append(name)
    return out


PUBLISHED_RMS = published_reward_models() if DATASET_TEACHERS else []
HOST_BENCHES = [
    b
    for b in (layout.BENCHMARKS if EVAL and not SCORES else [])
    if eval_reference_teacher(b) is None
    or eval_reference_teacher(b)["name"] in API_TEACHERS
]
NODE_BENCHES = [
    b
    for b in (layout.BENCHMARKS if EVAL and not SCORES else [])
    if b not in HOST_BENCHES
]


def screening_outputs():
    return [L.SCREENING] + [L.RANKINGS.format(base=b) for b in BASES]


def report_outputs():
    """The whole study: screening, then (with an evaluation section) the correlations."""
    outputs = [L.METRICS] + screening_outputs()[1:]
    if EVAL:
        outputs += [
            L.CORRELATIONS,
            L.PARADOX,
            L.CAR_SENSITIVITY,
            L.CAR_TRANSFER,
            *accuracy_outputs(),
        ]
    return outputs


def accuracy_outputs():
    """The report's files on the ground truth, where the students' answers are checked."""
    if not answer_inputs():
        return []
    return [
        L.AP_ACCURACY,
        L.ACCURACY_CORRELATIONS,
        L.BEST_TEACHERS,
        L.STUDENT_ACCURACY,
    ]


# Ground truth where the instructions carry exact answers (the tiny world's do).
ACCURACY = CFG.get("accuracy")


def screening_report_cfg():
    """What the screening report reads of the config: names, sizes (printed in the rankings)
    and CAR's settings."""
    return {
        "teachers": [
            {"name": t["name"], "params_b": t.get("params_b")} for t in CFG["teachers"]
        ],
        "bases": list(BASES),
        "reward_models": list(REWARD_MODELS),
        "car": CFG["car"],
        **({"accuracy": ACCURACY} if ACCURACY else {}),
    }


def truth_inputs(split):
    """The instruction file whose exact answers check a split (`accuracy`; none without)."""
    return [ACCURACY[split]] if ACCURACY and ACCURACY.get(split) else []


def record_inputs():
    """Every per-response record the report's bootstrap recomputes the metrics from (none
    with published scores: no judgements to redraw)."""
    if not EVAL or SCORES:
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
    if not (EVAL and truth_inputs("evaluation")):
        return []
    return [L.ANSWERS.format(base=b, teacher=t) for b, t in FT_CELLS]


def untuned_inputs():
    """Every base's answers before fine-tuning, where the students' answers are checked."""
    return expand(L.UNTUNED_ANSWERS, base=BASES) if answer_inputs() else []


# The cells that are fine-tuned and evaluated (finetune.cells; every cell by default).
FT_CELLS = [tuple(c) for c in CFG.get("finetune_cells", [])]


def export_outputs():
    """Every fine-tuned cell's answers in AlpacaEval's and Arena-Hard's own file shapes (none
    with published scores: nothing is answered)."""
    if not EVAL or SCORES:
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


def lc_files():
    """AlpacaEval's published files configured for the joint LC fit: key -> source."""
    lc = (EVAL.get("length_control") or {}) if EVAL else {}
    return {k: lc[k] for k in LC_FILES if lc.get(k)}


def lc_file_inputs():
    """The report's copies of AlpacaEval's published files, where configured."""
    return [L.LC_FILE.format(lc_file=k) for k in lc_files()]


def study_report_cfg():
    """The screening report's settings plus the win-rate analysis settings."""
    analysis = (
        {k: EVAL[k] for k in (*EVALUATION_ANALYSIS, "scores") if k in EVAL}
        if EVAL
        else None
    )
    # the fit reads the report's own copies of AlpacaEval's files (rule alpaca_eval_lc_file)
    setting = {
        "instruction_difficulty": "difficulty_file",
        "gamed_baselines": "gamed_file",
    }
    if lc_files():
        analysis["length_control"] = {
            **analysis["length_control"],
            **{setting[k]: L.LC_FILE.format(lc_file=k) for k in lc_files()},
        }
    cfg = {**screening_report_cfg(), "evaluation": analysis}
    # metrics.csv labels each cell with its teacher's family (and size)
    cfg["teachers"] = [
        {"name": t["name"], "family": t.get("family"), "params_b": t.get("params_b")}
        for t in CFG["teachers"]
    ]
    # how each cell's metrics are computed from its records (the bootstrap recomputes them)
    cfg["compat_metrics"] = {b: BASES[b].get("metrics") for b in BASES}
    cfg["reference_metrics"] = REFERENCE.get("metrics")
    if EVAL and EVAL.get("exclude_from_correlations"):
        cfg["exclude_from_correlations"] = EVAL["exclude_from_correlations"]
    if EVAL and not SCORES and len(FT_CELLS) < len(BASES) * len(TEACHERS):
        cfg["finetuned"] = [list(c) for c in FT_CELLS]
    if SCORES and ACCURACY:
        # nothing fine-tuned, no students' answers to check: the teachers' accuracy only
        cfg["accuracy"] = {k: v for k, v in ACCURACY.items() if k != "evaluation"}
    if EVAL and JUDGE_ON_HOST:
        cfg["judge_rule"] = "judge"  # the rule that writes the judgements
    return cfg


def preflight_cfg():
    """Every model the study loads, as the preflight checks it: what decides whether and how
    it loads (no labels or speed knobs), and where its job loads it from."""

    def entry(e):
        extra = {k: e[k] for k in ("backend", "stop") if k in e}
        if e.get("api"):  # the name of the variable holding the key (never the key)
            extra["api"] = {"api_key_env": e["api"].get("api_key_env")}
        return {**loading(e), **extra, "path": model_dir(e)}

    judge = EVAL.get("judge") or {}
    return {
        "teachers": [
            entry(t) for t in CFG["teachers"] if t.get("backend") != "dataset"
        ],
        "bases": [entry(b) for b in CFG["bases"]],
        "reward_models": [entry(r) for r in CFG["reward_models"]],
        "reference_model": entry(REFERENCE),
        "evaluation": {
            "judge": entry(judge) if "model" in judge else judge,
            # the engine the students answer in (evaluate jobs), and whether any job does
            "backend": EVAL.get("backend"),
            "scores": bool(SCORES),
        },
        "tiny_world": {
            "models": {
                name: {"architecture": recipe["architecture"]}
                for name, recipe in (TINY.get("models") or {}).items()
            }
        },
    }


def preflight_checks():
    """The preflight's tracked param: a digest of what it checks (`preflight_cfg`), so that a
    dry run prints one short line where the checks changed rather than the whole list.

    In a dry run where the preflight has passed before and its checks changed (a teacher was
    added), the digest it passed with is given instead, and a line says that it will run
    first. Snakemake (9.x) leaves unexamined every job downstream of a pending job whose
    output they take as ancient() and that already exists (`DAG.update_needrun` masks them,
    then skips them), so a pending preflight would hide the whole DAG from the dry run; with
    the old digest the dry run lists the jobs the real run will run after it."""
    import ast
    import hashlib

    text = json.dumps(preflight_cfg(), sort_keys=True, default=str)
    digest = f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"
    output = IOFile(L.PREFLIGHT)  # (Snakemake's records are keyed by its file objects)
    if not workflow.dryrun or not Path(output).exists():
        return digest
    recorded = [
        ast.literal_eval(value)
        for value in workflow.persistence.params(output) or []
        if value.startswith("'sha256:")
    ]
    if recorded and digest not in recorded:
        sys.stderr.write(
            "teachergrid: the preflight runs first (its checks changed since it last "
            "passed); the jobs listed follow it\n"
        )
        return recorded[0]
    return digest


def partial_reports():
    """After a failed run: the reports an earlier run left withdrawn (they no longer match the
    results, and would make the next run find nothing to do); the reports over the cells that
    finished under results/<study>/report/partial/, where no rule writes; one line per cell that did
    not finish, naming the job that stopped it and that job's log."""
    from teachergrid.analysis import report as fanin

    if not Path(L.PREFLIGHT).exists():
        sys.stderr.write(
            f"teachergrid: the preflight did not pass ({L.LOGS['preflight']}): "
            "no job ran, no report\n"
        )
        return
    reports = dict.fromkeys([L.SCREENING, *report_outputs()])
    withdrawn = fanin.withdraw([str(Path(r).relative_to(R)) for r in reports], Path(R))
    if withdrawn:
        sys.stderr.write(
            f"teachergrid: removed {len(withdrawn)} reports of an earlier run from "
            f"{L.REPORT}/: this run changed results they were built from\n"
        )
    try:
        missing = fanin.build_partial(
            screening_report_cfg(), study_report_cfg(), Path(R)
        )
    except Exception as exc:  # the run has failed already: say why no report, briefly
        sys.stderr.write(
            f"teachergrid: no partial report ({type(exc).__name__}: {exc})\n"
        )
        return
    for (base, teacher), step in missing.items():
        sys.stderr.write(
            f"teachergrid: cell {base}/{teacher} is not in the report: "
            f"{step.rule} did not finish (log: {step.log})\n"
        )
    cells = len(BASES) * len(TEACHERS)
    sys.stderr.write(
        f"teachergrid: partial reports over {cells - len(missing)} of {cells} cells in "
        f"{L.PARTIAL}/ (missing cells: {L.PARTIAL_MISSING}); the same command "
        f"again runs the unfinished jobs, writes the reports to {L.REPORT}/ and "
        "removes the partial ones\n"
    )


onerror:
    # Only the driver builds reports; the one-job Snakemake runs inside cluster jobs do not.
    if workflow.is_main_process and not workflow.dryrun:
        partial_reports()
