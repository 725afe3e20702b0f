"""What a study will cost before it runs: GPU-hours per stage, from the jobs the plan holds,
the tokens each job processes, and throughputs measured on a GPU by `benchmarks/gpu_check.py`.

An estimate, stated as one: the throughputs were measured at one model shape (about 1.2B
parameters) on one GPU and are scaled to each model by its parameter count (the work per
token grows with it); token counts come from the instruction count and a typical length of an
instruction and its response (Magpie-like: about 150 + 1,000 tokens). A stage whose engine has
no measured throughput (vLLM generation, the students' answers) counts its jobs and says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teachergrid.support.plan import Plan

# the GPU figures kept in the repository (benchmarks/results/), newest machine first
MEASURED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "gpu_check_h200.json"
PAIR_TOKENS = 1150  # an instruction and its response, Magpie-like lengths (gpu_check's rows)
RESPONSE_TOKENS = 1000


@dataclass(frozen=True)
class Throughputs:
    """Tokens per second on one GPU at `params_b` billion parameters."""

    gpu: str
    params_b: float
    scoring: float
    full_finetune: float
    lora_finetune: float

    @classmethod
    def read(cls, path: Path = MEASURED) -> Throughputs:
        figures = json.loads(Path(path).read_text())
        return cls(
            gpu=figures["environment"]["gpu"],
            params_b=figures["build_model"]["params_m"] / 1000,
            scoring=figures["scoring_bs32"]["tokens_per_s"],
            full_finetune=figures["finetune_full"]["tokens_per_s"],
            lora_finetune=figures["finetune_lora"]["tokens_per_s"],
        )

    def hours(self, tokens: float, per_second: float, params_b: float) -> float:
        """GPU-hours for `tokens` at a model of `params_b`, from a figure at `self.params_b`."""
        return tokens / (per_second * self.params_b / params_b) / 3600


@dataclass(frozen=True)
class Stage:
    name: str
    jobs: int
    tokens: float
    gpu_hours: float | None  # None: not measured (the basis says why)
    basis: str


def size(entry: dict[str, Any], where: str) -> float:
    """A model's size in billions of parameters (`params_b` in its config entry)."""
    if entry.get("params_b") is None:
        raise ValueError(f"{where}: no params_b; the cost scales with the model's size")
    return float(entry["params_b"])


def estimate(plan: Plan, instructions: int, measured: Throughputs) -> list[Stage]:
    """GPU-hours per stage of a planned study, for `instructions` screening instructions."""
    cfg = plan.cfg
    samples = {t: cfg["decodings"][e["decoding"]]["n"] for t, e in plan.teachers.items()}
    pairs = {t: instructions * samples[t] for t in plan.teachers}
    stages = []
    engine = plan.engine_teachers
    stages.append(
        Stage(
            "generation",
            len(engine),
            sum(pairs[t] for t in engine) * RESPONSE_TOKENS,
            None if engine else 0.0,
            "vLLM generation not measured yet" if engine else "published or API teachers",
        )
    )
    # a published teacher's scores by a reward model the data set names are read, not computed
    scored = [
        (t, r)
        for t in plan.teachers
        for r in plan.reward_models
        if not (t in plan.scored_teachers and r in plan.published_rms)
    ]
    stages.append(
        Stage(
            "reward",
            len(scored),
            sum(pairs[t] for t, _ in scored) * PAIR_TOKENS,
            sum(
                measured.hours(
                    pairs[t] * PAIR_TOKENS,
                    measured.scoring,
                    size(plan.reward_models[r], f"reward_models ({r})"),
                )
                for t, r in scored
            ),
            "scoring throughput",
        )
    )
    # the base's loss with and without the instruction (IFD), and the reference model's
    per_pair = PAIR_TOKENS + RESPONSE_TOKENS
    stages.append(
        Stage(
            "compatibility",
            len(plan.bases) * len(plan.teachers) + len(plan.teachers),
            sum(pairs.values()) * per_pair * (len(plan.bases) + 1),
            sum(
                measured.hours(pairs[t] * per_pair, measured.scoring, size(e, f"bases ({b})"))
                for b, e in plan.bases.items()
                for t in plan.teachers
            )
            + sum(
                measured.hours(
                    pairs[t] * per_pair, measured.scoring, size(plan.reference, "reference_model")
                )
                for t in plan.teachers
            ),
            "scoring throughput (with the reference model's jobs)",
        )
    )
    ft = cfg["finetune"]
    rate = measured.lora_finetune if ft["method"] == "lora" else measured.full_finetune
    cells = plan.finetune_cells if plan.evaluated else []
    epochs = float(ft["epochs"])
    stages.append(
        Stage(
            "finetune",
            len(cells),
            sum(pairs[t] * PAIR_TOKENS * epochs for _, t in cells),
            sum(
                measured.hours(
                    pairs[t] * PAIR_TOKENS * epochs, rate, size(plan.bases[b], f"bases ({b})")
                )
                for b, t in cells
            ),
            f"{ft['method']} fine-tuning throughput, {epochs:g} epochs",
        )
    )
    stages.append(
        Stage(
            "evaluation",
            len(cells),
            0.0,
            None if cells else 0.0,
            "the students' answers (vLLM) not measured yet" if cells else "nothing evaluated",
        )
    )
    return stages


def table(stages: list[Stage], measured: Throughputs) -> str:
    """The estimate as a Markdown table, with the GPU the throughputs were measured on."""
    lines = ["| stage | jobs | tokens (M) | GPU-hours | basis |", "|---|---|---|---|---|"]
    for s in stages:
        hours = "not measured" if s.gpu_hours is None else f"{s.gpu_hours:,.1f}"
        lines.append(f"| {s.name} | {s.jobs} | {s.tokens / 1e6:,.0f} | {hours} | {s.basis} |")
    known = sum(s.gpu_hours or 0.0 for s in stages)
    lines.append(
        f"| **all measured stages** | {sum(s.jobs for s in stages)} | | **{known:,.0f}** | |"
    )
    note = (
        f"\nThroughputs measured on one {measured.gpu} at a {measured.params_b:.2f}B shape "
        f"(scoring {measured.scoring:,.0f}, full fine-tuning {measured.full_finetune:,.0f}, "
        f"LoRA {measured.lora_finetune:,.0f} tokens/s), scaled by each model's params_b; "
        f"{PAIR_TOKENS} tokens per instruction and response ({RESPONSE_TOKENS} of response)."
    )
    return "\n".join(lines) + "\n" + note + "\n"
