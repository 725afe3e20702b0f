"""Where each stage writes, in one place.

The rules name their outputs with these patterns (relative to the working directory), and the
fan-in reports use the same patterns to find a cell's files, or to tell which stage of a cell
did not finish and where its job log is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

R = "results"
RESPONSES = f"{R}/responses/{{teacher}}.jsonl"
REWARDS = f"{R}/rewards/{{teacher}}/{{rm}}.jsonl"
REFERENCE = f"{R}/reference/{{teacher}}.json"
REFERENCE_RECORDS = f"{R}/reference/{{teacher}}.jsonl"
COMPATIBILITY = f"{R}/compatibility/{{base}}/{{teacher}}.json"
COMPATIBILITY_RECORDS = f"{R}/compatibility/{{base}}/{{teacher}}.jsonl"
MODEL = f"{R}/models/{{base}}/{{teacher}}"
EVAL_REFERENCE = f"{R}/eval/{{bench}}/reference.jsonl"
JUDGE_PROMPT = f"{R}/eval/judge_prompts/{{bench}}.txt"
# AlpacaEval's published files the joint LC fit reads where configured (lc_file:
# instruction_difficulty, gamed_baselines)
LC_FILE = f"{R}/eval/alpaca_eval/{{lc_file}}.csv"
ANSWERS = f"{R}/eval/{{base}}/{{teacher}}.answers.jsonl"
JUDGMENTS = f"{R}/eval/{{base}}/{{teacher}}.judgments.jsonl"
# the base before fine-tuning, where answers can be checked (`accuracy`)
UNTUNED_ANSWERS = f"{R}/eval/untuned/{{base}}.answers.jsonl"
TINY_MODEL = f"{R}/tiny/models/{{name}}"
PREFLIGHT = f"{R}/preflight.txt"
REPORT = f"{R}/report"
SCREENING = f"{R}/report/screening.csv"
RANKINGS = f"{R}/report/screening/{{base}}.md"
METRICS = f"{R}/report/metrics.csv"
CORRELATIONS = f"{R}/report/correlations.csv"
PARADOX = f"{R}/report/paradox.csv"
CAR_SENSITIVITY = f"{R}/report/car_sensitivity.csv"
CAR_TRANSFER = f"{R}/report/car_transfer.csv"
AP_ACCURACY = f"{R}/report/ap_accuracy.csv"
ACCURACY_CORRELATIONS = f"{R}/report/accuracy_correlations.csv"
BEST_TEACHERS = f"{R}/report/best_teachers.csv"
STUDENT_ACCURACY = f"{R}/report/student_accuracy.csv"
# After a failed run, the reports over the cells that finished: the same file names under a
# folder no rule writes, so that Snakemake never takes them for the study's finished reports
# (a rerun then runs the report jobs, which remove this folder).
PARTIAL = f"{REPORT}/partial"
# the cells that are not in the partial reports: base, teacher, rule, output, log
PARTIAL_MISSING = f"{PARTIAL}/missing.csv"

LOGS = {
    "preflight": f"{R}/logs/preflight.log",
    "generate": f"{R}/logs/generate/{{teacher}}.log",
    "reward": f"{R}/logs/reward/{{teacher}}/{{rm}}.log",
    "reference": f"{R}/logs/reference/{{teacher}}.log",
    "compatibility": f"{R}/logs/compatibility/{{base}}/{{teacher}}.log",
    "finetune": f"{R}/logs/finetune/{{base}}/{{teacher}}.log",
    "eval_reference": f"{R}/logs/eval/{{bench}}_reference.log",
    "judge_prompts": f"{R}/logs/eval/judge_prompts.log",
    "alpaca_eval_lc_file": f"{R}/logs/eval/{{lc_file}}.log",
    "evaluate": f"{R}/logs/evaluate/{{base}}/{{teacher}}.log",
    "evaluate_untuned": f"{R}/logs/evaluate/untuned/{{base}}.log",
    "judge": f"{R}/logs/judge/{{base}}/{{teacher}}.log",
}

BENCHMARKS = ("alpaca_eval", "arena_hard")


def model_dir(entry: dict[str, Any]) -> str:
    """Where a job loads a model from: the built tiny model, a local folder or a hub id."""
    if entry.get("tiny"):
        return TINY_MODEL.format(name=entry["tiny"])
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
    judge_rule: str = "evaluate",
) -> list[Step]:
    """The jobs behind one (base, teacher) cell, in the order they run. `judge_rule`: the rule
    that writes the judgements (`evaluate` itself, or `judge` for an LLM judge on the host)."""
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
    judge_rule: str = "evaluate",
) -> Step | None:
    """The first job of a cell whose output is not there, or None for a finished cell."""
    for step in cell_steps(base, teacher, reward_models, evaluation, judge_rule):
        if not (root / step.output).exists():
            return step
    return None
