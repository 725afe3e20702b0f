"""The screening metrics, as plain functions of numbers.

Definitions (paper 2411.07133, Sections 3-4; IFD from Li et al. 2023):

- loss L: for each response, the mean negative log-likelihood of its tokens under the base
  model with the instruction as context; L is the mean of those per-response means
  (`loss_average: response`, the default) or the mean over every response token of the data
  set (`token`: long responses weigh more).
- PPL: the mean over responses of exp(per-response loss) (`ppl: mean_exp`, the default), or
  exp(L) (`exp_mean`: a few badly predicted responses cannot dominate it).
- IFD: the mean over responses of loss(response | instruction) / loss(response alone), both
  over the same response tokens.
- CAR = r / (1 + beta * L), r the mean (mapped) reward of the responses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


class MetricError(ValueError):
    """A metric that cannot be computed honestly from the inputs."""


def mean(values: Iterable[float]) -> float:
    values = list(values)
    if not values:
        raise MetricError("mean of an empty list")
    return math.fsum(values) / len(values)


def perplexity(per_response_losses: Sequence[float], definition: str = "mean_exp") -> float:
    if definition == "mean_exp":
        return mean(math.exp(x) for x in per_response_losses)
    if definition == "exp_mean":
        return math.exp(mean(per_response_losses))
    raise MetricError(f"unknown PPL definition {definition!r} (mean_exp or exp_mean)")


def average_loss(
    per_response_losses: Sequence[float],
    n_tokens: Sequence[int] | None = None,
    average: str = "response",
) -> float:
    """L over a data set: the mean of per-response means, or the token-weighted mean."""
    if average == "response":
        return mean(per_response_losses)
    if average == "token":
        if n_tokens is None or len(n_tokens) != len(per_response_losses):
            raise MetricError("a token-averaged loss needs every response's token count")
        total = sum(n_tokens)
        if total <= 0:
            raise MetricError("no response tokens")
        return math.fsum(x * n for x, n in zip(per_response_losses, n_tokens, strict=True)) / total
    raise MetricError(f"unknown loss average {average!r} (response or token)")


def ifd(conditional: Sequence[float], unconditional: Sequence[float]) -> float:
    if len(conditional) != len(unconditional):
        raise MetricError("IFD needs one unconditional loss per conditional loss")
    ratios = []
    for c, u in zip(conditional, unconditional, strict=True):
        if u <= 0:
            raise MetricError(f"IFD undefined: unconditional loss {u} is not positive")
        ratios.append(c / u)
    return mean(ratios)


def map_rewards(values: Sequence[float], mapping: dict[str, Any]) -> list[float]:
    """Apply the configured reward mapping to every per-response reward.

    CAR divides the reward by a factor that grows with the loss; a negative reward would be
    *raised* by a larger loss and flip the ranking. `shift` adds a constant, `sigmoid` squashes
    into (0, 1) around `center` with width `scale`; `none` leaves the values alone.
    """
    kind = mapping["kind"]
    if kind == "none":
        return [float(v) for v in values]
    if kind == "shift":
        return [float(v) + float(mapping["offset"]) for v in values]
    if kind == "sigmoid":
        center = float(mapping["center"])
        scale = float(mapping["scale"])
        return [1.0 / (1.0 + math.exp(-(float(v) - center) / scale)) for v in values]
    raise MetricError(f"unknown reward mapping {kind!r}")


def check_reward(reward: float) -> None:
    """CAR's guard, shared by `car` and the CAR sensitivity sweep: a non-positive mean reward
    is *raised* by a larger loss, so CAR would rank teachers backwards without a word."""
    if not reward > 0:
        raise MetricError(
            f"mean reward {reward:.6g} is not positive: CAR would rank teachers backwards; "
            "configure car.reward_mapping (shift or sigmoid)"
        )


def car(reward: float, loss: float, beta: float) -> float:
    """Compatibility-Adjusted Reward. Refuses a non-positive reward instead of mis-ranking."""
    if beta < 0:
        raise MetricError(f"beta must be >= 0, got {beta}")
    check_reward(reward)
    if loss < 0:
        raise MetricError(f"loss must be >= 0, got {loss}")
    return reward / (1.0 + beta * loss)


def compatibility_summary(
    conditional: Sequence[float],
    unconditional: Sequence[float],
    lengths: Sequence[int],
    n_tokens: Sequence[int] | None,
    options: Mapping[str, Any],
) -> dict[str, float]:
    """Dataset-level compatibility numbers of one scoring model on one teacher's responses.
    `options`: `compatibility.metrics` (`loss_average`, `ppl`)."""
    return {
        "loss": average_loss(conditional, n_tokens, options["loss_average"]),
        "ppl": perplexity(conditional, options["ppl"]),
        "ifd": ifd(conditional, unconditional),
        "length": mean(float(n) for n in lengths),
        "n": float(len(conditional)),
    }
