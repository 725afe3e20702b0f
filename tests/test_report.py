"""The screening table: columns, CAR by hand, negative-reward handling, rankings."""

import pandas as pd
import pytest

from teachergrid.metrics import MetricError
from teachergrid.report import ranking_markdown, screening_table, write_reports


def cfg(mapping=None, beta=0.5):
    return {
        "teachers": [{"name": "big", "params_b": 70}, {"name": "small", "params_b": 7}],
        "bases": [{"name": "b1"}],
        "reward_models": [{"name": "rm1"}, {"name": "rm2"}],
        "car": {"beta": beta, "reward_model": "rm1", "reward_mapping": mapping or {"kind": "none"}},
    }


REWARDS = {
    ("big", "rm1"): [0.8, 0.6],
    ("big", "rm2"): [3.0, 1.0],
    ("small", "rm1"): [0.4, 0.6],
    ("small", "rm2"): [-1.0, 1.0],
}
COMPAT = {
    ("b1", "big"): {"loss": 3.0, "ppl": 25.0, "ifd": 0.9, "length": 120.0},
    ("b1", "small"): {"loss": 1.0, "ppl": 3.0, "ifd": 0.7, "length": 80.0},
}
REF = {"big": {"ppl": 30.0, "ifd": 0.95}, "small": {"ppl": 20.0, "ifd": 0.85}}


def test_columns_and_car_by_hand(tmp_path):
    table = screening_table(cfg(), REWARDS, COMPAT, REF)
    assert list(table.columns) == [
        "base",
        "teacher",
        "reward_rm1",
        "reward_rm2",
        "beta",
        "reward",
        "loss",
        "ppl_self",
        "ifd_self",
        "ppl_ref",
        "ifd_ref",
        "length",
        "car",
    ]
    big = table.set_index("teacher").loc["big"]
    small = table.set_index("teacher").loc["small"]
    # big: r = 0.7, L = 3 -> 0.7 / 2.5 = 0.28; small: r = 0.5, L = 1 -> 0.5 / 1.5 = 0.3333
    assert big["car"] == pytest.approx(0.28)
    assert small["car"] == pytest.approx(1 / 3)
    assert big["reward_rm2"] == pytest.approx(2.0) and small["reward_rm2"] == pytest.approx(0.0)
    # the smaller teacher wins on CAR although its reward is lower: the paradox in one line
    md = ranking_markdown(table, "b1", cfg())
    assert md.index("| 1 | small |") < md.index("| 2 | big |")
    write_reports(table, cfg(), tmp_path / "metrics.csv", tmp_path / "screening")
    back = pd.read_csv(tmp_path / "metrics.csv")
    assert (back["car"] - back["reward"] / (1 + back["beta"] * back["loss"])).abs().max() < 1e-12
    assert (tmp_path / "screening" / "b1.md").read_text() == md


def test_non_positive_reward_is_an_error_unless_mapped():
    c = cfg()
    c["car"]["reward_model"] = "rm2"
    rewards = dict(REWARDS)
    rewards[("small", "rm2")] = [-1.0, -0.5]
    with pytest.raises(MetricError, match="teacher small, reward model rm2"):
        screening_table(c, rewards, COMPAT, REF)
    c["car"]["reward_mapping"] = {"kind": "shift", "offset": 2.0}
    table = screening_table(c, rewards, COMPAT, REF).set_index("teacher")
    # small: mean(1.0, 1.5) = 1.25 -> 1.25 / (1 + 0.5 * 1) ; reward_rm2 stays raw
    assert table.loc["small", "reward"] == pytest.approx(1.25)
    assert table.loc["small", "car"] == pytest.approx(1.25 / 1.5)
    assert table.loc["small", "reward_rm2"] == pytest.approx(-0.75)
