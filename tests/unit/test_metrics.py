"""The screening metrics against values worked out by hand."""

import math

import pytest

from teachergrid.config import section
from teachergrid.screening import metrics
from teachergrid.screening.metrics import MetricError

# the configured metric definitions, as every cell has them by default
OPTIONS = section("compatibility")["metrics"]


def sigmoid(**keys):
    return section("car", {"reward_mapping": {"kind": "sigmoid", **keys}})["reward_mapping"]


def test_dataset_loss_averages_per_response_first():
    # Two responses with token losses (1, 3) and (4): per-response means 2 and 4; the dataset
    # loss is (2 + 4) / 2 = 3, not the token-weighted (1 + 3 + 4) / 3.
    per_response = [2.0, 4.0]
    summary = metrics.compatibility_summary(per_response, [4.0, 8.0], [2, 1], [2, 1], OPTIONS)
    assert summary["loss"] == 3.0
    assert summary["length"] == 1.5
    assert summary["n"] == 2


def test_perplexity_is_mean_of_per_response_exp():
    assert metrics.perplexity([0.0, math.log(3.0)]) == pytest.approx((1.0 + 3.0) / 2)


def test_ifd_is_mean_ratio_of_conditional_to_unconditional():
    # 2/4 = 0.5 and 3/2 = 1.5 -> mean 1.0
    assert metrics.ifd([2.0, 3.0], [4.0, 2.0]) == pytest.approx(1.0)
    with pytest.raises(MetricError):
        metrics.ifd([1.0], [0.0])
    with pytest.raises(MetricError):
        metrics.ifd([1.0, 2.0], [1.0])


def test_car_by_hand():
    # r = 0.6, L = 2, beta = 0.5 -> 0.6 / (1 + 1) = 0.3
    assert metrics.car(0.6, 2.0, 0.5) == pytest.approx(0.3)
    # beta = 0 is the plain reward
    assert metrics.car(0.6, 2.0, 0.0) == pytest.approx(0.6)


def test_car_refuses_non_positive_reward_and_negative_beta():
    with pytest.raises(MetricError, match="reward_mapping"):
        metrics.car(-0.2, 1.0, 1.0)
    with pytest.raises(MetricError):
        metrics.car(0.0, 1.0, 1.0)
    with pytest.raises(MetricError):
        metrics.car(0.5, 1.0, -1.0)


def test_negative_reward_would_invert_ranking_without_mapping():
    # Why the refusal matters: with r < 0 a *worse* (higher-loss) base would look better.
    low_loss, high_loss = -0.5 / (1 + 1.0), -0.5 / (1 + 3.0)
    assert high_loss > low_loss


def test_reward_mappings_by_hand():
    assert metrics.map_rewards([-1.0, 2.0], {"kind": "none"}) == [-1.0, 2.0]
    assert metrics.map_rewards([-1.0, 2.0], {"kind": "shift", "offset": 3.0}) == [2.0, 5.0]
    mapped = metrics.map_rewards([0.0, 2.0], sigmoid(scale=2.0))
    assert mapped[0] == pytest.approx(0.5)
    assert mapped[1] == pytest.approx(1 / (1 + math.exp(-1.0)))
    # the mapping keeps the order of rewards
    values = [-3.0, -0.1, 0.4, 7.0]
    assert metrics.map_rewards(values, sigmoid()) == sorted(metrics.map_rewards(values, sigmoid()))


def test_the_other_metric_definitions_by_hand():
    per_response, tokens = [2.0, 4.0], [2, 1]
    # token-averaged: (2 * 2 + 4 * 1) / 3 = 8 / 3, where the response average is 3
    assert metrics.average_loss(per_response, tokens, "token") == pytest.approx(8 / 3)
    assert metrics.average_loss(per_response, tokens, "response") == pytest.approx(3.0)
    # PPL as exp of the mean loss: exp(3), against (e^2 + e^4) / 2 for the mean of exp
    assert metrics.perplexity(per_response, "exp_mean") == pytest.approx(math.exp(3.0))
    assert metrics.perplexity(per_response) == pytest.approx((math.exp(2) + math.exp(4)) / 2)
    summary = metrics.compatibility_summary(
        per_response, [4.0, 8.0], [2, 1], tokens, {"loss_average": "token", "ppl": "exp_mean"}
    )
    assert summary["loss"] == pytest.approx(8 / 3) and summary["ppl"] == pytest.approx(math.exp(3))
    with pytest.raises(MetricError, match="token count"):
        metrics.average_loss(per_response, None, "token")
