"""Win rates of pairwise judgements: raw, length-controlled (AlpacaEval 2), Bradley-Terry with a
bootstrap interval (Arena-Hard), and the paper's average performance AP.

Length-controlled win rate (Dubois et al. 2024, "Length-Controlled AlpacaEval"): AlpacaEval 2
fits, for a model m against the baseline b, the logistic model

    logit P(m preferred on x) = theta + phi * tanh(delta_x / sd(delta))

where delta_x = len(answer_m) - len(answer_b) and sd(delta) is its standard deviation over the
instructions, to the judge's preferences (soft labels in [0, 1]). The length-controlled win
rate is the win rate predicted when the length difference is zero: 100 * sigmoid(theta). As
in AlpacaEval, phi is L2-regularised (`length_penalty` x phi^2 / n, default 0.01) so that a
judge that prefers length perfectly cannot push it to infinity; theta is not. (AlpacaEval's
full GLM also has an instruction-difficulty term estimated across many models; with one model
and one baseline it is not identifiable and is left out.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def win_rate(prefs: Sequence[float], weights: Sequence[float] | None = None) -> float:
    """100 x the (weighted) mean preference for the model; a tie counts one half."""
    p = np.asarray(prefs, dtype=float)
    w = np.ones_like(p) if weights is None else np.asarray(weights, dtype=float)
    return float(100.0 * np.sum(p * w) / np.sum(w))


def _sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    from scipy.special import expit

    return expit(x)


def length_controlled_win_rate(
    prefs: Sequence[float],
    len_model: Sequence[float],
    len_baseline: Sequence[float],
    length_penalty: float = 0.01,
) -> float:
    """AlpacaEval 2's LC win rate (module docstring), in percent."""
    from scipy.optimize import minimize

    y = np.clip(np.asarray(prefs, dtype=float), 0.0, 1.0)
    delta = np.asarray(len_model, dtype=float) - np.asarray(len_baseline, dtype=float)
    sd = float(delta.std())
    x = np.tanh(delta / sd) if sd > 0 else np.zeros_like(delta)

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        theta, phi = params
        z = theta + phi * x
        # soft-label logistic loss, numerically stable
        nll = np.mean(np.logaddexp(0.0, z) - y * z) + length_penalty * phi**2 / len(y)
        p = _sigmoid(z)
        grad = np.array([np.mean(p - y), np.mean((p - y) * x) + 2 * length_penalty * phi / len(y)])
        return float(nll), grad

    fit = minimize(loss, np.zeros(2), jac=True, method="L-BFGS-B")
    return float(100.0 * _sigmoid(fit.x[0]))


def bradley_terry(
    battles: Sequence[tuple[str, str, float]],
    anchor: str,
    weights: Sequence[float] | None = None,
    l2: float = 1e-6,
) -> dict[str, float]:
    """Bradley-Terry strengths from (a, b, score of a in [0, 1]) battles, anchor fixed at 0.

    P(a beats b) = sigmoid(s_a - s_b). A tie (0.5) counts as half a win for each side, as in
    Arena-Hard. Fitted by maximum likelihood (a tiny L2 term keeps an undefeated model finite).
    """
    from scipy.optimize import minimize

    players = sorted({p for a, b, _ in battles for p in (a, b)} - {anchor})
    index = {p: i for i, p in enumerate(players)}
    a_idx = np.array([index.get(a, -1) for a, _, _ in battles])
    b_idx = np.array([index.get(b, -1) for _, b, _ in battles])
    s = np.array([float(score) for _, _, score in battles])
    w = np.ones_like(s) if weights is None else np.asarray(weights, dtype=float)

    def strengths(params: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return np.where(idx >= 0, params[np.maximum(idx, 0)], 0.0)

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        z = strengths(params, a_idx) - strengths(params, b_idx)
        nll = np.sum(w * (np.logaddexp(0.0, z) - s * z)) + l2 * np.sum(params**2)
        g = w * (_sigmoid(z) - s)
        grad = 2 * l2 * params
        np.add.at(grad, a_idx[a_idx >= 0], g[a_idx >= 0])
        np.add.at(grad, b_idx[b_idx >= 0], -g[b_idx >= 0])
        return float(nll), grad

    fit = minimize(loss, np.zeros(len(players)), jac=True, method="L-BFGS-B")
    return {anchor: 0.0, **{p: float(fit.x[i]) for p, i in index.items()}}


def bt_win_rate(
    battles: Sequence[tuple[str, str, float]],
    model: str,
    baseline: str,
    weights: Sequence[float] | None = None,
) -> float:
    """Win rate (percent) of `model` against `baseline` implied by Bradley-Terry strengths."""
    scores = bradley_terry(battles, anchor=baseline, weights=weights)
    return float(100.0 * _sigmoid(scores[model] - scores[baseline]))


def bootstrap_interval(
    groups: Sequence[Sequence[tuple[str, str, float]]],
    model: str,
    baseline: str,
    rounds: int = 100,
    seed: int = 0,
    level: float = 0.95,
    weights: Sequence[Sequence[float]] | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap of the BT win rate, resampling prompts (each prompt's battles,
    both judge positions, stay together)."""
    rng = np.random.default_rng(seed)
    n = len(groups)
    rates = []
    for _ in range(rounds):
        pick = rng.integers(0, n, size=n)
        battles = [b for i in pick for b in groups[i]]
        w = None if weights is None else [x for i in pick for x in weights[i]]
        rates.append(bt_win_rate(battles, model, baseline, w))
    lo, hi = np.percentile(rates, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)


def average_performance(alpaca_eval_lc: float, arena_hard_wr: float) -> float:
    """The paper's AP: the mean of AlpacaEval 2 LC win rate and Arena-Hard win rate."""
    if math.isnan(alpaca_eval_lc) or math.isnan(arena_hard_wr):
        return float("nan")
    return (alpaca_eval_lc + arena_hard_wr) / 2.0
