"""Win rates of pairwise judgements: raw, length-controlled (AlpacaEval 2), Bradley-Terry with a
bootstrap interval (Arena-Hard), and the paper's average performance AP.

Length-controlled win rate (Dubois et al. 2024, "Length-Controlled AlpacaEval"). AlpacaEval 2
explains the judge's preference for model m's answer to instruction i over the reference's by
a logistic model with a length term, an instruction-difficulty term and the model's own
quality, and reports the win rate the model would get if every length difference were zero.
AlpacaEval fits one model at a time, with an instruction difficulty estimated beforehand over
its whole leaderboard and the judgements of verbosity-gamed copies of the reference keeping the
length coefficient in check. A grid judges many models against one reference, so teachergrid
estimates all of that from the grid itself, fitting every model *together*:

    logit P(m preferred on i) = theta_m + b_i + (phi + e_m) * tanh(delta_mi / sd_m)

- delta_mi = len(answer) - len(reference answer) in characters, sd_m its standard deviation over
  the model's own judgements (as AlpacaEval scales it);
- b_i, the instruction's difficulty, shared by every model (L2 prior, `difficulty_l2`);
- phi, the length effect, shared; e_m a model's departure from it (L2 prior, `length_l2`).
  Pooling the length slope is what stops the extrapolation of a single-model fit: a model
  whose answers are nearly all longer (or shorter) than the reference cannot explain its
  losses by a length slope of its own;
- theta_m, the model's quality, free;
- optionally gamma x d_i, AlpacaEval's published difficulty d_i (estimated over its whole
  leaderboard) with a fitted scale gamma, so that b_i only corrects it: this is what lets a
  small grid (or one model) be fitted well.

The fit minimises the soft-label logistic loss (the preferences are probabilities) plus the
priors, by L-BFGS with exact gradients: deterministic, and a few seconds for 10 models x 805
instructions. LC_m = 100 x the mean over the model's instructions of sigmoid(theta_m + b_i),
the predicted preference at zero length difference. With the defaults, the published
AlpacaEval 2 annotations of 10 real models (tests/data/alpaca_eval/) give LC within 1.8 points
of the official leaderboard (mean absolute error 0.8); the priors were chosen on subsets of
those models (fitting 3 to 7 of them together) rather than on the full set, because a grid's
set of models is never the leaderboard's.

`is_extreme_change` is AlpacaEval's own rule for an LC that departs too far from the raw win
rate to be trusted (a sign that the length model failed).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from teachergrid.config import default_of

log = logging.getLogger(__name__)

# the joint fit's penalties where no config sets them (`teachergrid winrates`): the schema's
DIFFICULTY_L2 = float(default_of("evaluation", "length_control", "difficulty_l2"))
LENGTH_L2 = float(default_of("evaluation", "length_control", "length_l2"))


def win_rate(prefs: Sequence[float], weights: Sequence[float] | None = None) -> float:
    """100 x the (weighted) mean preference for the model; a tie counts one half."""
    p = np.asarray(prefs, dtype=float)
    w = np.ones_like(p) if weights is None else np.asarray(weights, dtype=float)
    return float(100.0 * np.sum(p * w) / np.sum(w))


def _sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    from scipy.special import expit

    return expit(x)


def is_extreme_change(
    win_rate: float, lc: float, abs_diff: float = 10, rel_diff: float = 4
) -> bool:
    """AlpacaEval's warning rule: LC is suspect when it falls below min(wr - wr/4, wr - 10) or
    rises above max(wr + (100 - wr)/4, wr + 10) (percent)."""
    low = min(win_rate - win_rate / rel_diff, win_rate - abs_diff)
    high = max(win_rate + (100 - win_rate) / rel_diff, win_rate + abs_diff)
    return bool(lc < low or lc > high)


@dataclass(frozen=True)
class LengthControlled:
    """One model's AlpacaEval-style scores from a joint fit."""

    model: str
    n: int
    win_rate: float
    lc_win_rate: float
    extreme: bool


GAMED_WEIGHT = 0.1  # AlpacaEval: lambda 0.2 shared by its two gamed baselines


@dataclass(frozen=True)
class Gamed:
    """AlpacaEval's verbosity-gamed baselines (its `df_gamed.csv`): the judge comparing the
    reference with a longer and a shorter rewrite of itself, so their quality is the
    reference's and every preference is the length effect (and the prompt's difficulty). Each
    row: the prompt (in the fit's prompt ids), the preference, the standardised length
    difference in the fit's sign (copy minus reference: positive for the longer copy; its file
    has the opposite sign, `lengthcontrol.read_gamed`) and the published difficulty; `weight`
    per row, as AlpacaEval weighs them."""

    prompt_ids: Sequence[object]
    prefs: Sequence[float]
    std_delta_len: Sequence[float]
    difficulty: Sequence[float]
    weight: float = GAMED_WEIGHT


@dataclass(frozen=True)
class JointFit:
    """A joint fit: every model's scores, and each prompt's fitted difficulty term (gamma x d_i
    + b_i, logit scale, keyed by the prompt id as a string), which is what AlpacaEval publishes
    as `instruction_difficulty` for its own leaderboard."""

    models: list[LengthControlled]
    difficulty: dict[str, float]


def joint_fit(
    models: Sequence[str],
    prompt_ids: Sequence[object],
    prefs: Sequence[float],
    len_model: Sequence[float],
    len_reference: Sequence[float],
    difficulty_l2: float = DIFFICULTY_L2,
    length_l2: float = LENGTH_L2,
    published_difficulty: Sequence[float] | None = None,
    gamed: Gamed | None = None,
) -> JointFit:
    """Raw and length-controlled win rates (percent) of every model, fitted together (module
    docstring). One entry per judgement; a NaN preference (no verdict) is left out, as
    AlpacaEval does. Models come back in order of first appearance.

    `published_difficulty`: each judgement's instruction difficulty as AlpacaEval publishes it
    (estimated over its whole leaderboard). The prompt term then becomes gamma x d_i + b_i:
    gamma, shared, is fitted, and b_i keeps its prior, so it only corrects the published value
    where the grid's own judgements disagree with it.

    `gamed`: AlpacaEval's gamed baselines, added to the fit as judgements with no quality term
    of their own (they are the reference) and the shared length effect phi, which they hold in
    check as they hold each model's in AlpacaEval. Rows of prompts the fit has no judgement
    of are left out."""
    from scipy.optimize import minimize

    y = np.asarray(prefs, dtype=float)
    keep = ~np.isnan(y)
    if np.any((y[keep] < 0) | (y[keep] > 1)):
        raise ValueError("preferences must be probabilities in [0, 1]")
    names = list(dict.fromkeys(models))
    index = {m: i for i, m in enumerate(names)}
    m_all = np.array([index[m] for m in models])
    labels, p_all = np.unique(np.asarray([str(p) for p in prompt_ids]), return_inverse=True)
    delta = np.asarray(len_model, dtype=float) - np.asarray(len_reference, dtype=float)
    mi, pi, y, delta = m_all[keep], p_all[keep], y[keep], delta[keep]
    k, n_prompts = len(names), int(p_all.max()) + 1 if len(p_all) else 0
    counts = np.bincount(mi, minlength=k)
    if np.any(counts == 0):
        empty = [names[i] for i in np.flatnonzero(counts == 0)]
        raise ValueError(f"no judgement with a preference for {', '.join(empty)}")
    sd = np.sqrt(
        np.bincount(mi, (delta - (np.bincount(mi, delta, k) / counts)[mi]) ** 2, k)
        / np.maximum(counts - 1, 1)
    )
    x = np.tanh(delta / np.where(sd[mi] > 0, sd[mi], 1.0))
    d = (
        np.zeros(len(y))
        if published_difficulty is None
        else np.asarray(published_difficulty, dtype=float)[keep]
    )
    if np.isnan(d).any():
        raise ValueError("published instruction difficulty missing for some judgements")
    start = 2 * k + 2  # theta, phi, dev, gamma, then one b per prompt
    pg, yg, xg, dg, wg = _gamed_rows(gamed, {str(p): i for i, p in enumerate(labels)})

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        theta, phi, dev, gamma, b = w[:k], w[k], w[k + 1 : 2 * k + 1], w[2 * k + 1], w[start:]
        slope = phi + dev
        z = theta[mi] + gamma * d + b[pi] + slope[mi] * x
        zg = gamma * dg + b[pg] + phi * xg
        loss = np.sum(np.logaddexp(0.0, z) - y * z) + wg * np.sum(np.logaddexp(0.0, zg) - yg * zg)
        loss += difficulty_l2 * (b @ b) / 2 + length_l2 * (dev @ dev) / 2
        r = _sigmoid(z) - y
        rg = wg * (_sigmoid(zg) - yg)
        g_slope = np.bincount(mi, r * x, k)
        grad = np.concatenate(
            [
                np.bincount(mi, r, k),
                [g_slope.sum() + rg @ xg],
                g_slope + length_l2 * dev,
                [r @ d + rg @ dg],
                np.bincount(pi, r, n_prompts) + np.bincount(pg, rg, n_prompts) + difficulty_l2 * b,
            ]
        )
        return float(loss), grad

    fit = minimize(
        objective,
        np.zeros(start + n_prompts),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 20000, "gtol": 1e-8},
    )
    theta, gamma, b = fit.x[:k], fit.x[2 * k + 1], fit.x[start:]
    out = []
    for i, name in enumerate(names):
        mine = mi == i
        lc = float(100.0 * np.mean(_sigmoid(theta[i] + gamma * d[mine] + b[pi[mine]])))
        wr = float(100.0 * np.mean(y[mine]))
        extreme = is_extreme_change(wr, lc)
        if extreme:
            log.warning(
                "%s: length-controlled win rate %.1f departs from the raw %.1f by more than "
                "AlpacaEval's extreme-change rule allows; the length model may not fit it",
                name, lc, wr,
            )  # fmt: skip
        out.append(LengthControlled(name, int(mine.sum()), wr, lc, extreme))
    per_prompt = np.full(n_prompts, np.nan)
    per_prompt[pi] = gamma * d + b[pi]
    judged = ~np.isnan(per_prompt)
    difficulty = dict(zip(labels[judged].tolist(), per_prompt[judged].tolist(), strict=True))
    return JointFit(out, difficulty)


def _gamed_rows(
    gamed: Gamed | None, prompt_index: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """The gamed baselines' rows as the fit uses them: prompt positions in the fit, preference,
    tanh of the standardised length difference, difficulty, and the per-row weight."""
    if gamed is None:
        empty = np.zeros(0)
        return empty.astype(int), empty, empty, empty, 0.0
    ids = [str(p) for p in gamed.prompt_ids]
    mine = np.array([p in prompt_index for p in ids], dtype=bool)
    y = np.asarray(gamed.prefs, dtype=float)[mine]
    if np.any(np.isnan(y) | (y < 0) | (y > 1)):
        raise ValueError("gamed baselines: preferences must be probabilities in [0, 1]")
    return (
        np.array([prompt_index[p] for p, m in zip(ids, mine, strict=True) if m], dtype=int),
        y,
        np.tanh(np.asarray(gamed.std_delta_len, dtype=float)[mine]),
        np.asarray(gamed.difficulty, dtype=float)[mine],
        float(gamed.weight),
    )


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
    if {p for a, b, _ in battles for p in (a, b)} <= {model, baseline}:
        # two players: the maximum-likelihood strength difference is the logit of the
        # (weighted) share of games the model won, so the fit is that share; only a share of
        # 0 or 1 needs the regularised fit (the strengths would be infinite)
        w = np.ones(len(battles)) if weights is None else np.asarray(weights, dtype=float)
        won = np.array([score if a == model else 1.0 - score for a, _, score in battles])
        share = float(np.sum(w * won) / np.sum(w))
        if 0.0 < share < 1.0:
            return 100.0 * share
    scores = bradley_terry(battles, anchor=baseline, weights=weights)
    return float(100.0 * _sigmoid(scores[model] - scores[baseline]))


# Arena-Hard v0.1's result script (show_result.py): 100 rounds of resampled battles from numpy's
# global generator seeded 42, and the 2.5 and 97.5 percentiles of the ratings
ARENA_HARD_ROUNDS = 100
ARENA_HARD_SEED = 42


def battle_bootstrap_interval(
    battles: Sequence[tuple[str, str, float]],
    model: str,
    baseline: str,
    weights: Sequence[float] | None = None,
    rounds: int = ARENA_HARD_ROUNDS,
    seed: int = ARENA_HARD_SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """Arena-Hard's percentile bootstrap of the BT win rate. As its result script does, a
    battle of weight w (3 for a decisive verdict) is w rows, the rows are resampled with
    replacement (`DataFrame.sample(frac=1, replace=True)`, drawn from numpy's legacy generator
    seeded `seed`), and the percentiles are taken of the ratings (logit scale) before they
    become win rates. For one model against the baseline this draws what its script draws
    when the model's battles are all it reads."""
    rows = [
        b
        for b, w in zip(battles, weights or [1.0] * len(battles), strict=True)
        for _ in range(round(w))
    ]
    if not rows:
        return float("nan"), float("nan")
    rng = np.random.RandomState(seed)
    n = len(rows)
    logits = []
    for _ in range(rounds):
        drawn = [rows[i] for i in rng.choice(n, size=n, replace=True)]
        p = bt_win_rate(drawn, model, baseline) / 100.0
        logits.append(math.log(p / (1.0 - p)) if 0.0 < p < 1.0 else math.copysign(50.0, p - 0.5))
    lo, hi = np.percentile(logits, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(100.0 * _sigmoid(lo)), float(100.0 * _sigmoid(hi))


def average_performance(alpaca_eval_lc: float, arena_hard_wr: float) -> float:
    """The paper's AP: the mean of AlpacaEval 2 LC win rate and Arena-Hard win rate."""
    if math.isnan(alpaca_eval_lc) or math.isnan(arena_hard_wr):
        return float("nan")
    return (alpaca_eval_lc + arena_hard_wr) / 2.0
