"""Evaluation of one fine-tuned cell in the shape of the paper's two benchmarks.

AlpacaEval-2-style: the model's answer against a reference answer for every prompt, judged once
in the order AlpacaEval's annotator picks for the instruction; win rate and length-controlled
win rate. Arena-Hard-style: against a baseline
model's answer, judged in both positions; Bradley-Terry win rate with a bootstrap interval.

Judging (`judge_cell`, an evaluation job) and scoring (`score_cells`, the report) are apart:
judgements cost GPU hours or API money, scores are seconds of fitting, so a change of an
analysis setting (`length_control`, `bootstrap`, `seed`) reruns only the report. Scoring is a
fan-in: AlpacaEval's length-controlled win rate is fitted over every finished cell together
(they share the reference answers and the instructions; `winrates.joint_fit`), so a
cell's LC can move a little when more cells finish.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from typing import Any

from teachergrid.evaluation.judges import Judge, Verdict
from teachergrid.support.layout import BENCHMARKS

log = logging.getLogger(__name__)


# AlpacaEval's annotator seed (its PairwiseAnnotator's default, which the leaderboard uses)
ALPACA_EVAL_SEED = 0


def model_goes_second(instruction: str) -> bool:
    """Whether AlpacaEval shows the model's answer second (as `output_2`, the reference first).
    Its annotator swaps the two outputs of an instruction when a random draw seeded on the
    column name, the instruction's text and its seed says so (`RandomSwitchTwoColumnsProcessor`
    with `random_seed_columns=["instruction"]`): the same order for every model, in every run."""
    switched = random.Random(f"is_switched_outputs{instruction}{ALPACA_EVAL_SEED}").choices(
        [False, True], k=1
    )[0]
    return not switched


def _count_dropped(name: str, verdicts: Sequence[Verdict]) -> int:
    dropped = sum(v is None for v in verdicts)
    if dropped:
        log.warning(
            "%s: %d of %d judge replies had no usable verdict and are dropped",
            name, dropped, len(verdicts),
        )  # fmt: skip
    return dropped


def answers_by_benchmark(answers: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict]]:
    """An answers file's records by benchmark and prompt id. A record's `benchmarks` names the
    benchmarks it answers (each answers at its own `max_new_tokens`); a record without one
    answers both."""
    out: dict[str, dict[str, dict]] = {bench: {} for bench in BENCHMARKS}
    for record in answers:
        for bench in record.get("benchmarks") or BENCHMARKS:
            out[bench][record["id"]] = record
    return out


def judge_cell(
    judges: Mapping[str, Judge],
    alpaca_rows: Sequence[dict[str, Any]],
    arena_rows: Sequence[dict[str, Any]],
    answers: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Every judgement of one cell (the expensive half of evaluation: LLM or reward-model
    calls), one record per prompt and benchmark, with everything `score_cells` needs.

    `judges`: the judge of each benchmark (`alpaca_eval`, `arena_hard`); `answers`: the cell's
    answers file (`id`, `answer`, and where the engine said so `finish_reason`, `length` for
    an answer cut at the token limit; `benchmarks`, see `answers_by_benchmark`). Every record
    says whether its answer was cut (`answer_cut`; None where unknown). AlpacaEval records:
    one judgement per prompt in a fixed order (`model_goes_second`), the preference for the
    model (None: no verdict, left out of the scores) and both answers' lengths (characters).
    An answer identical to the reference is a draw (0.5), not judged, as in AlpacaEval.
    Arena-Hard records: both orders, each order's preference for the model and battle weight
    (3 for a decisive verdict), None for an order without a verdict."""
    by_bench = answers_by_benchmark(answers)

    def cut(bench: str, prompt: str) -> bool | None:
        reason = by_bench[bench][prompt].get("finish_reason")
        return None if reason is None else reason == "length"

    questions = [r["instruction"] for r in alpaca_rows]
    model = [by_bench["alpaca_eval"][r["id"]]["answer"] for r in alpaca_rows]
    ref = [r["answer"] for r in alpaca_rows]
    second = [model_goes_second(r["instruction"]) for r in alpaca_rows]
    # AlpacaEval calls an answer identical to the reference a draw without asking the judge
    asked = [i for i, (a, b) in enumerate(zip(model, ref, strict=True)) if a != b]
    first_shown = [ref[i] if second[i] else model[i] for i in asked]
    second_shown = [model[i] if second[i] else ref[i] for i in asked]
    judged = judges["alpaca_eval"].prefer([questions[i] for i in asked], first_shown, second_shown)
    _count_dropped("alpaca_eval", judged)
    verdicts: list[Verdict] = [(0.5, 1.0)] * len(alpaca_rows)
    for i, verdict in zip(asked, judged, strict=True):
        verdicts[i] = verdict
    if len(asked) < len(alpaca_rows):
        log.info(
            "alpaca_eval: %d of %d answers are the reference's own: draws, not judged",
            len(alpaca_rows) - len(asked), len(alpaca_rows),
        )  # fmt: skip
    judgments = [
        {
            "id": r["id"],
            "benchmark": "alpaca_eval",
            "index": r.get("index"),
            "model_position": 2 if s else 1,
            "preference": None if v is None else (1.0 - v[0] if s else v[0]),
            "len_model": len(a),
            "len_reference": len(c),
            "answer_cut": cut("alpaca_eval", r["id"]),
        }
        for r, v, s, a, c in zip(alpaca_rows, verdicts, second, model, ref, strict=True)
    ]
    questions = [r["instruction"] for r in arena_rows]
    model = [by_bench["arena_hard"][r["id"]]["answer"] for r in arena_rows]
    base = [r["answer"] for r in arena_rows]
    forward = judges["arena_hard"].prefer(questions, model, base)
    backward = judges["arena_hard"].prefer(questions, base, model)
    _count_dropped("arena_hard", [*forward, *backward])
    judgments += [
        {
            "id": r["id"],
            "benchmark": "arena_hard",
            "model_first": None if f is None else f[0],
            "model_first_weight": None if f is None else f[1],
            "baseline_first": None if b is None else 1.0 - b[0],
            "baseline_first_weight": None if b is None else b[1],
            "answer_cut": cut("arena_hard", r["id"]),
        }
        for r, f, b in zip(arena_rows, forward, backward, strict=True)
    ]
    return judgments


def judge_answers(
    spec: dict[str, Any],
    judge_model: str | None,
    alpaca_rows: Sequence[dict[str, Any]],
    arena_rows: Sequence[dict[str, Any]],
    answers: Sequence[dict[str, Any]],
    prompt_files: Mapping[str, str],
    threads: int | None,
    cache_path: Any,
) -> list[dict[str, Any]]:
    """A cell's judgements with the configured judge (`evaluation.judge`), each benchmark's
    judge speaking its protocol with the prompt file the judge_prompts rule kept. Paid
    judgements sit in `cache_path` (beside, not inside, the job's outputs) and survive a
    failed job."""
    from teachergrid.evaluation.judges import make_judge

    judges = {
        bench: make_judge(
            spec,
            judge_model,
            bench,
            threads=threads,
            prompt_path=prompt_files.get(bench),
            cache_path=cache_path,
        )
        for bench in BENCHMARKS
    }
    return judge_cell(judges, alpaca_rows, arena_rows, answers)
