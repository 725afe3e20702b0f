"""Where each stage writes, in one place.

Every output of a study lives in its own folder, `results/<study>/` (the config's `study`), so
that two configs run in one project never share or overwrite a file. The patterns below are
relative to that folder: the rules name their outputs with them (through `Layout`, which puts
them under the study's folder), and the fan-in reports use the same patterns to find a cell's
files, or to tell which stage of a cell did not finish and where its job log is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

RESULTS = "results"
# A study's name is a folder name: letters, digits, '.', '_' and '-', not starting with '.'.
STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

RESPONSES = "responses/{teacher}.jsonl"
REWARDS = "rewards/{teacher}/{rm}.jsonl"
REFERENCE = "reference/{teacher}.json"
REFERENCE_RECORDS = "reference/{teacher}.jsonl"
COMPATIBILITY = "compatibility/{base}/{teacher}.json"
COMPATIBILITY_RECORDS = "compatibility/{base}/{teacher}.jsonl"
MODEL = "models/{base}/{teacher}"
EVAL_REFERENCE = "eval/{bench}/reference.jsonl"
JUDGE_PROMPT = "eval/judge_prompts/{bench}.txt"
# AlpacaEval's published files the joint LC fit reads where configured (lc_file:
# instruction_difficulty, gamed_baselines)
LC_FILE = "eval/alpaca_eval/{lc_file}.csv"
ANSWERS = "eval/{base}/{teacher}.answers.jsonl"
JUDGMENTS = "eval/{base}/{teacher}.judgments.jsonl"
# the base before fine-tuning, where answers can be checked (`accuracy`)
UNTUNED_ANSWERS = "eval/untuned/{base}.answers.jsonl"
# the students' answers in the benchmarks' own file shapes
# (teachergrid/evaluation/exports.py); {model}: <base>--<teacher>
EXPORT_ALPACA_EVAL = "exports/alpaca_eval/{model}/model_outputs.json"
EXPORT_ARENA_HARD = "exports/arena_hard/model_answer/{model}.jsonl"
TINY_MODEL = "tiny/models/{name}"
PREFLIGHT = "preflight.txt"
REPORT = "report"
SCREENING = "report/screening.csv"
RANKINGS = "report/screening/{base}.md"
METRICS = "report/metrics.csv"
CORRELATIONS = "report/correlations.csv"
PARADOX = "report/paradox.csv"
CAR_SENSITIVITY = "report/car_sensitivity.csv"
CAR_TRANSFER = "report/car_transfer.csv"
AP_ACCURACY = "report/ap_accuracy.csv"
ACCURACY_CORRELATIONS = "report/accuracy_correlations.csv"
BEST_TEACHERS = "report/best_teachers.csv"
STUDENT_ACCURACY = "report/student_accuracy.csv"
# a new base screened against the teachers (rule screen_base)
SCREEN = "screen/{screen}"
# the report as one page, and its figures (PNG and SVG)
PAGE = "report/index.html"
FIGURES = "report/figures"
# After a failed run, the reports over the cells that finished: the same file names under a
# folder no rule writes, so that Snakemake never takes them for the study's finished reports
# (a rerun then runs the report jobs, which remove this folder).
PARTIAL = f"{REPORT}/partial"
# the cells that are not in the partial reports: base, teacher, rule, output, log
PARTIAL_MISSING = f"{PARTIAL}/missing.csv"

LOGS = {
    "preflight": "logs/preflight.log",
    "generate": "logs/generate/{teacher}.log",
    "reward": "logs/reward/{teacher}/{rm}.log",
    "reference": "logs/reference/{teacher}.log",
    "compatibility": "logs/compatibility/{base}/{teacher}.log",
    "finetune": "logs/finetune/{base}/{teacher}.log",
    "eval_reference": "logs/eval/{bench}_reference.log",
    "judge_prompts": "logs/eval/judge_prompts.log",
    "alpaca_eval_lc_file": "logs/eval/{lc_file}.log",
    "evaluate": "logs/evaluate/{base}/{teacher}.log",
    "evaluate_untuned": "logs/evaluate/untuned/{base}.log",
    "judge": "logs/judge/{base}/{teacher}.log",
    "exports": "logs/exports.log",
    "screen_base": "logs/screen/{screen}.log",
}

BENCHMARKS = ("alpaca_eval", "arena_hard")


def study_root(study: str) -> str:
    """The folder every output of the study named `study` goes to (relative to the working
    directory)."""
    if not STUDY_NAME.match(study):
        raise ValueError(
            f"study: {study!r} is not a folder name (letters, digits, '.', '_', '-'; "
            "not starting with '.')"
        )
    return f"{RESULTS}/{study}"


def model_dir(entry: dict[str, Any], root: str) -> str:
    """Where a job loads a model from: the built tiny model (under the study's folder `root`),
    a local folder or a hub id."""
    if entry.get("tiny"):
        return f"{root}/{TINY_MODEL.format(name=entry['tiny'])}"
    return str(entry["model"])


class Step(NamedTuple):
    """One job a cell needs: its rule, the file that shows it finished, and its log."""

    rule: str
    output: str
    log: str


def cell_steps(
    base: str,
    teacher: str,
    reward_models: list[str],
    evaluation: bool,
    judge_rule: str | None,
) -> list[Step]:
    """The jobs behind one (base, teacher) cell, in the order they run. `judge_rule`: the rule
    that writes the judgements (`evaluate` itself, or `judge` for an LLM judge on the host),
    where the cell is evaluated."""
    steps = [Step("generate", RESPONSES, LOGS["generate"])]
    steps += [
        Step("reward", REWARDS.replace("{rm}", rm), LOGS["reward"].replace("{rm}", rm))
        for rm in reward_models
    ]
    steps += [
        Step("reference", REFERENCE, LOGS["reference"]),
        Step("compatibility", COMPATIBILITY, LOGS["compatibility"]),
    ]
    if evaluation:
        steps += [Step("finetune", MODEL, LOGS["finetune"])]
        steps += [
            Step(
                "eval_reference",
                EVAL_REFERENCE.replace("{bench}", bench),
                LOGS["eval_reference"].replace("{bench}", bench),
            )
            for bench in BENCHMARKS
        ]
        steps += [Step("evaluate", ANSWERS, LOGS["evaluate"])]
        assert judge_rule is not None, "an evaluated cell's judgements come from a rule"
        steps += [Step(judge_rule, JUDGMENTS, LOGS[judge_rule])]
    return [
        Step(s.rule, *(p.format(base=base, teacher=teacher) for p in (s.output, s.log)))
        for s in steps
    ]


def first_unfinished(
    root: Path,
    base: str,
    teacher: str,
    reward_models: list[str],
    evaluation: bool,
    judge_rule: str | None,
) -> Step | None:
    """The first job of a cell whose output is not there, or None for a finished cell. `root`:
    the study's folder; the step's output and log are given under it."""
    for step in cell_steps(base, teacher, reward_models, evaluation, judge_rule):
        if not (root / step.output).exists():
            return Step(step.rule, str(root / step.output), str(root / step.log))
    return None


class Layout:
    """The patterns above under one study's folder, as the rules name their files:
    `Layout("tiny-offline-grid").RESPONSES` is `results/tiny-offline-grid/responses/...`."""

    def __init__(self, study: str) -> None:
        self.study = study
        self.root = study_root(study)
        self.LOGS = {rule: f"{self.root}/{path}" for rule, path in LOGS.items()}

    def __getattr__(self, name: str) -> str:
        pattern = globals().get(name)
        if not name.isupper() or not isinstance(pattern, str):
            raise AttributeError(name)
        return f"{self.root}/{pattern}"

    def model_dir(self, entry: dict[str, Any]) -> str:
        return model_dir(entry, self.root)
