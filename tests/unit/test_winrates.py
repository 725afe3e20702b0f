"""Win rates against hand-worked examples."""

import math

import numpy as np
import pytest

from teachergrid.evaluation.judges import parse_verdict
from teachergrid.evaluation.winrates import (
    Gamed,
    average_performance,
    battle_bootstrap_interval,
    bradley_terry,
    bt_win_rate,
    is_extreme_change,
    joint_fit,
    win_rate,
)


def test_raw_win_rate_counts_ties_as_half():
    assert win_rate([1, 1, 0, 0.5]) == pytest.approx(62.5)
    # weights: a decisive verdict counted three times (Arena-Hard's A>>B)
    assert win_rate([1, 0], [3, 1]) == pytest.approx(75.0)


def synthetic_grid(seed=0, phi=1.5, n_prompts=300):
    """Judgements drawn from the length-controlled model itself: known qualities theta_m,
    instruction difficulties b_i, a judge with length slope phi. Soft labels are the true
    probabilities, so the only error left is the fit's. Model 'verbose' writes answers that
    are nearly always longer than the reference; its true LC is far below its raw win rate."""
    rng = np.random.default_rng(seed)
    b = rng.normal(0, 1, n_prompts)
    len_ref = rng.normal(1200, 400, n_prompts).clip(100)
    thetas = {"strong": 1.0, "even": 0.0, "weak": -1.5, "weaker": -2.5, "verbose": -1.0}
    rows = []
    for name, theta in thetas.items():
        shift = 1500 if name == "verbose" else rng.normal(0, 200)
        len_model = (len_ref + shift + rng.normal(0, 500, n_prompts)).clip(20)
        delta = len_model - len_ref
        x = np.tanh(delta / delta.std(ddof=1))
        p = 1 / (1 + np.exp(-(theta + b + phi * x)))
        true_lc = 100 * np.mean(1 / (1 + np.exp(-(theta + b))))
        rows += [(name, i, p[i], len_model[i], len_ref[i], true_lc) for i in range(n_prompts)]
    return rows


def test_joint_fit_recovers_the_length_controlled_win_rates_it_was_drawn_from():
    rows = synthetic_grid()
    fits = joint_fit(*zip(*[r[:5] for r in rows], strict=True)).models
    truth = {r[0]: r[5] for r in rows}
    assert [f.model for f in fits] == ["strong", "even", "weak", "weaker", "verbose"]
    for f in fits:
        assert f.n == 300
        assert f.lc_win_rate == pytest.approx(truth[f.model], abs=2.0), f.model
    verbose = next(f for f in fits if f.model == "verbose")
    # a judge that likes length lifts the verbose model's raw win rate far above its LC
    assert verbose.win_rate - truth["verbose"] > 15
    assert verbose.lc_win_rate < verbose.win_rate - 15


def test_gamed_baselines_let_one_verbose_model_be_fitted_alone():
    """Fitted alone, the verbose model's answers are nearly all longer than the reference's:
    with a judge's 0/1 verdicts its own judgements cannot tell its quality from the judge's
    taste for length, and its LC lands anywhere. AlpacaEval's published files supply the
    prompts' difficulty (here the true one) and the gamed baselines (the reference against a
    longer and a shorter copy of itself, judged by the same judge), which pin the slope down."""
    phi, n = 1.5, 300
    rows = [r for r in synthetic_grid(phi=phi, n_prompts=n) if r[0] == "verbose"]
    truth = rows[0][5]
    b = np.random.default_rng(0).normal(0, 1, n)  # synthetic_grid's difficulties (seed 0)
    model, prompt, p_true, len_m, len_r = (
        list(c) for c in zip(*[r[:5] for r in rows], strict=True)
    )
    std = np.concatenate([np.full(n, 1.0), np.full(n, -1.0)])
    gamed = Gamed(
        prompt_ids=list(range(n)) * 2,
        prefs=1 / (1 + np.exp(-(np.tile(b, 2) + phi * np.tanh(std)))),
        std_delta_len=std,
        difficulty=np.tile(b, 2),
    )
    alone, helped = [], []
    for seed in range(4):
        pref = (np.random.default_rng(seed).random(n) < np.array(p_true)).astype(float)
        alone.append(joint_fit(model, prompt, pref, len_m, len_r).models[0].lc_win_rate)
        fit = joint_fit(
            model, prompt, pref, len_m, len_r, published_difficulty=b[prompt], gamed=gamed
        )
        helped.append(fit.models[0].lc_win_rate)
    err_alone, err_helped = np.abs(np.array(alone) - truth), np.abs(np.array(helped) - truth)
    assert err_alone.mean() > 10 and err_helped.mean() < 3 and (err_helped < err_alone).all()


def test_lc_equals_the_raw_win_rate_when_lengths_never_differ():
    # with no length difference the per-model intercept makes the fitted mean the raw mean
    models = ["a"] * 4 + ["b"] * 4
    prefs = [1, 1, 1, 0, 0.2, 0.4, 0.5, 0.1]
    fits = joint_fit(models, [0, 1, 2, 3] * 2, prefs, [10] * 8, [10] * 8).models
    assert [round(f.lc_win_rate, 3) for f in fits] == [75.0, 30.0]
    assert [f.win_rate for f in fits] == pytest.approx([75.0, 30.0])


def test_judgements_without_a_verdict_are_left_out():
    fits = joint_fit(
        ["a", "a", "a"], [0, 1, 2], [1.0, float("nan"), 0.0], [5, 5, 5], [5, 5, 5]
    ).models
    assert fits[0].n == 2 and fits[0].win_rate == pytest.approx(50.0)


def test_extreme_change_rule_by_hand():
    # raw 20: LC below min(20 - 5, 20 - 10) = 10 or above max(20 + 20, 20 + 10) = 40 is extreme
    assert not is_extreme_change(20, 10.5) and is_extreme_change(20, 9.5)
    assert not is_extreme_change(20, 39.5) and is_extreme_change(20, 40.5)
    # raw 80: below min(60, 70) = 60 or above max(85, 90) = 90
    assert not is_extreme_change(80, 60.5) and is_extreme_change(80, 59.5)
    assert not is_extreme_change(80, 89.5) and is_extreme_change(80, 90.5)


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


def test_arena_hards_bootstrap_resamples_battles_with_its_seed():
    """Arena-Hard v0.1's interval, recomputed by hand the way its show_result.py does it for a
    model's battles alone: each weight-3 battle as three rows, 100 rounds of
    `sample(frac=1, replace=True)` from numpy's generator seeded 42, percentiles of the
    ratings. Two players: a round's rating difference is the logit of its share of wins."""
    battles = [("m", "base", 1.0)] * 24 + [("m", "base", 0.0)] * 12 + [("m", "base", 0.5)] * 4
    weights = [3.0] * 6 + [1.0] * 18 + [1.0] * 12 + [1.0] * 4
    lo, hi = battle_bootstrap_interval(battles, "m", "base", weights)
    rows = [s for (_, _, s), w in zip(battles, weights, strict=True) for _ in range(int(w))]
    rng = np.random.RandomState(42)
    logits = []
    for _ in range(100):
        share = np.mean([rows[i] for i in rng.choice(len(rows), size=len(rows), replace=True)])
        logits.append(math.log(share / (1 - share)))
    low, high = np.percentile(logits, [2.5, 97.5])
    assert lo == pytest.approx(100 / (1 + math.exp(-low)), abs=1e-6)
    assert hi == pytest.approx(100 / (1 + math.exp(-high)), abs=1e-6)
    point = bt_win_rate(battles, "m", "base", weights)
    # 6 decisive wins (x3) and 18 wins, 12 losses, 4 ties (half each) over 52 rows
    assert point == pytest.approx(100 * (36 + 2) / 52, abs=1e-6) and lo < point < hi


def test_ap_follows_the_paper():
    # the paper's Table 2: Gemma-2-9b-it, LC 16.09 and Arena-Hard 13.7 -> AP 14.90
    assert average_performance(16.09, 13.7) == pytest.approx(14.895)
    assert math.isnan(average_performance(float("nan"), 1.0))


def test_parse_verdict():
    assert parse_verdict("A is better. [[A>>B]]") == (1.0, 3.0)
    assert parse_verdict("[[B>A]] ... so my final verdict is [[B>A]]") == (0.0, 1.0)
    # Arena-Hard's parser: two different verdicts, or none, are no verdict (not a tie)
    assert parse_verdict("first [[B>A]] then, on reflection, [[A=B]]") is None
    assert parse_verdict("no verdict") is None
    assert parse_verdict("[[C>D]]") is None
    # labels the judge may write but Arena-Hard v0.1's result script does not count: dropped
    assert parse_verdict("[[B=A]]") is None and parse_verdict("[[A<B]]") is None
    assert parse_verdict("[[A=B]]") == (0.5, 1.0) and parse_verdict("[[B>>A]]") == (0.0, 3.0)
