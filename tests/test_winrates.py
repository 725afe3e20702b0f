"""Win rates against hand-worked examples."""

import math

import numpy as np
import pytest

from teachergrid.judges import parse_verdict
from teachergrid.winrates import (
    average_performance,
    bootstrap_interval,
    bradley_terry,
    bt_win_rate,
    length_controlled_win_rate,
    win_rate,
)


def test_raw_win_rate_counts_ties_as_half():
    assert win_rate([1, 1, 0, 0.5]) == pytest.approx(62.5)
    # weights: a decisive verdict counted three times (Arena-Hard's A>>B)
    assert win_rate([1, 0], [3, 1]) == pytest.approx(75.0)


def test_length_biased_judge_gives_lc_near_50_while_raw_is_far():
    rng = np.random.default_rng(0)
    len_ref = rng.normal(200, 40, 400)
    len_model = len_ref + rng.normal(60, 80, 400)  # usually longer
    prefs = (len_model > len_ref).astype(float)  # the judge only likes length
    raw = win_rate(prefs)
    lc = length_controlled_win_rate(prefs, len_model, len_ref)
    assert raw > 70
    assert abs(lc - 50) < 8
    assert abs(lc - 50) < abs(raw - 50) / 3


def test_lc_keeps_a_preference_that_is_not_about_length():
    rng = np.random.default_rng(1)
    len_ref = rng.normal(200, 40, 300)
    len_model = len_ref + rng.normal(0, 50, 300)
    prefs = np.full(300, 0.8)  # better answers, whatever their length
    assert length_controlled_win_rate(prefs, len_model, len_ref) == pytest.approx(80, abs=0.5)


def test_equal_lengths_make_lc_the_raw_win_rate():
    prefs = [1, 1, 1, 0]
    assert length_controlled_win_rate(prefs, [10] * 4, [10] * 4) == pytest.approx(75, abs=1e-3)


def test_bradley_terry_by_hand():
    # 3 wins and 1 loss against the anchor: s = ln 3, win rate 75%
    battles = [("m", "base", 1.0)] * 3 + [("m", "base", 0.0)]
    strengths = bradley_terry(battles, anchor="base")
    assert strengths["base"] == 0.0
    assert strengths["m"] == pytest.approx(math.log(3), abs=1e-4)
    assert bt_win_rate(battles, "m", "base") == pytest.approx(75.0, abs=1e-3)
    # a tie is half a win: 1 win + 2 ties = 2 of 3 -> s = ln 2
    ties = [("m", "base", 1.0), ("m", "base", 0.5), ("base", "m", 0.5)]
    assert bradley_terry(ties, anchor="base")["m"] == pytest.approx(math.log(2), abs=1e-4)


def test_bradley_terry_three_players_transitive():
    # a beats b 2:1, b beats c 2:1 -> a over c by about 4:1 in strength ratio
    battles = [("a", "b", 1.0)] * 2 + [("a", "b", 0.0)] + [("b", "c", 1.0)] * 2 + [("b", "c", 0.0)]
    s = bradley_terry(battles, anchor="c")
    assert s["b"] == pytest.approx(math.log(2), abs=1e-3)
    assert s["a"] == pytest.approx(2 * math.log(2), abs=1e-3)


def test_bootstrap_interval_brackets_the_estimate():
    groups = [[("m", "base", 1.0), ("m", "base", 1.0)]] * 30 + [
        [("m", "base", 0.0), ("m", "base", 0.0)]
    ] * 10
    point = bt_win_rate([b for g in groups for b in g], "m", "base")
    lo, hi = bootstrap_interval(groups, "m", "base", rounds=200, seed=0)
    assert point == pytest.approx(75.0, abs=1e-3)
    assert lo < point < hi
    assert lo > 55 and hi < 90


def test_ap_follows_the_paper():
    # the paper's Table 2: Gemma-2-9b-it, LC 16.09 and Arena-Hard 13.7 -> AP 14.90
    assert average_performance(16.09, 13.7) == pytest.approx(14.895)
    assert math.isnan(average_performance(float("nan"), 1.0))


def test_parse_verdict():
    assert parse_verdict("A is better. [[A>>B]]") == (1.0, 3.0)
    assert parse_verdict("first [[B>A]] then, on reflection, [[A=B]]") == (0.5, 1.0)
    assert parse_verdict("no verdict") is None
