"""`teachergrid plan`: the paper's study costed before it runs, checked by hand."""

from __future__ import annotations

import pytest
from helpers import REPO

from teachergrid.cli import main
from teachergrid.config import load_config
from teachergrid.support.costs import PAIR_TOKENS, Throughputs, estimate
from teachergrid.support.plan import Plan

PAPER = REPO / "config.yaml"
MEASURED = Throughputs("a GPU", params_b=1.0, scoring=1000.0, full_finetune=100.0,
                       lora_finetune=400.0)  # fmt: skip


def test_hours_scale_with_tokens_and_the_models_size():
    # 360,000 tokens at 100 tokens/s is one hour at the measured size, two at twice the size
    assert MEASURED.hours(360_000, 100.0, 1.0) == pytest.approx(1.0)
    assert MEASURED.hours(360_000, 100.0, 2.0) == pytest.approx(2.0)


def test_the_papers_study_by_hand(capsys):
    stages = {s.name: s for s in estimate(Plan(load_config(PAPER)), 100_000, MEASURED)}
    # the jobs the DAG holds: no generation (19 published teachers, GPT-4 through the API);
    # GPT-4's responses scored by the 3 reward models (the others' scores are published);
    # 5 bases x 20 teachers and the reference model x 20; 19 x 5 + 1 fine-tuned cells
    assert stages["generation"].jobs == 0 and stages["generation"].gpu_hours == 0
    assert stages["reward"].jobs == 3
    assert stages["compatibility"].jobs == 120
    assert stages["finetune"].jobs == 96
    # fine-tuning: 100,000 pairs x 1,150 tokens x 2 epochs per cell, at 100 tokens/s per
    # billion parameters; the bases' sizes summed over the cells: 19 x (1.5 + 2.6 + 3 + 3 + 4)
    # and GPT-4's one cell on the 4B base
    per_billion = 100_000 * PAIR_TOKENS * 2 / 100.0 / 3600
    assert stages["finetune"].gpu_hours == pytest.approx(per_billion * (19 * 14.1 + 4))
    # the reward: GPT-4's 100,000 pairs by two 8B models and the 27B one, at 1,000 tokens/s
    assert stages["reward"].gpu_hours == pytest.approx(
        100_000 * PAIR_TOKENS / 1000.0 / 3600 * (8 + 8 + 27)
    )
    assert stages["evaluation"].gpu_hours is None  # no measured throughput: said, not guessed
    # the command: the hub data set is read whole, so its size is asked for
    assert main(["plan", str(PAPER)]) == 2
    assert "--instructions" in capsys.readouterr().err
    assert main(["plan", str(PAPER), "--instructions", "100000"]) == 0
    assert "| finetune | 96 |" in capsys.readouterr().out
