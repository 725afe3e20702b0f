"""After how many instructions a screen's rankings stop changing: CAR and the reward over the
prefixes of a screen's records, on a case worked out by hand."""

import pytest

from teachergrid.screening.convergence import convergence
from teachergrid.screening.rounds import per_instruction

# per teacher: (reward, loss) on instructions i1..i4, in the order the screen drew them
CASE = {
    "A": [(1.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0)],
    "B": [(0.0, 1.0), (1.0, 1.0), (1.0, 1.0), (1.0, 1.0)],
    "C": [(0.5, 0.0), (0.6, 0.0), (0.4, 0.0), (0.4, 0.0)],
}


def records(case=CASE):
    """Rows as `teachergrid screen` writes them: per round, teacher after teacher."""
    return [
        {"round": 1, "id": f"i{k + 1}", "sample": 0, "teacher": t, "reward": r, "loss": loss}
        for t, values in case.items()
        for k, (r, loss) in enumerate(values)
    ]


def test_prefix_rankings_against_the_final_ranking_and_a_truth():
    # beta 1: CAR = mean reward / (1 + mean loss); B's loss halves its CAR.
    # prefix 1: reward A 1, C .5, B 0;        CAR A 1, C .5, B 0
    # prefix 2: reward C .55, A .5, B .5;     CAR C .55, A .5, B .25
    # prefix 4: reward B .75, C .475, A .25;  CAR C .475, B .375, A .25
    steps, summary = convergence(records(), beta=1.0, truth={"A": 1, "B": 3, "C": 2}, first=1)
    assert list(steps["instructions"].unique()) == [1, 2, 4]
    car = steps[steps["metric"] == "car"].set_index("instructions")
    reward = steps[steps["metric"] == "reward"].set_index("instructions")
    assert list(car["leader"]) == ["A", "C", "C"]
    assert list(reward["leader"]) == ["A", "C", "B"]
    # final CAR ranks C, B, A against the truth's B, C, A: d = (0, 1, 1), rho = 1 - 6*2/24
    assert car.loc[4, "spearman_truth"] == pytest.approx(0.5)
    assert reward.loc[4, "spearman_truth"] == pytest.approx(1.0)
    assert car.loc[4, "spearman_final"] == pytest.approx(1.0)
    # at prefix 2, CAR orders C, A, B; the final C, B, A: rho 0.5
    assert car.loc[2, "spearman_final"] == pytest.approx(0.5)
    rows = summary.set_index("metric")
    assert rows.loc["car", "leader"] == "C" and rows.loc["car", "leader_truth_rank"] == 2
    assert rows.loc["reward", "leader"] == "B" and rows.loc["reward", "leader_truth_rank"] == 1
    assert rows.loc["car", "truth_best"] == "B"
    assert rows.loc["car", "leader_stable_from"] == 2
    assert rows.loc["reward", "leader_stable_from"] == 4
    assert rows.loc["car", "order_stable_from"] == 4
    assert rows.loc["car", "top3_stable_from"] == 1  # three teachers: always the same set


def test_several_responses_per_instruction_are_averaged_and_a_gap_is_an_error():
    rows = records()
    rows.append({"round": 1, "id": "i1", "sample": 1, "teacher": "A", "reward": 0.0, "loss": 2.0})
    order, rewards, losses = per_instruction(rows)
    assert order == ["i1", "i2", "i3", "i4"]
    assert rewards["A"][0] == pytest.approx(0.5) and losses["A"][0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="teacher C has no response to instruction i4"):
        per_instruction([r for r in records() if not (r["teacher"] == "C" and r["id"] == "i4")])


def test_without_a_truth_only_the_final_ranking_is_compared():
    steps, summary = convergence(records(), beta=1.0, first=2)
    assert list(steps["instructions"].unique()) == [2, 4]
    assert steps["spearman_truth"].isna().all()
    assert summary["truth_best"].isna().all()


def test_a_truth_table_without_the_columns_it_needs_is_one_line(tmp_path):
    import pandas as pd

    from teachergrid.analysis.screen_report import convergence_report

    scores = tmp_path / "scores.csv"
    pd.DataFrame({"base": ["b"], "ap": [1.0]}).to_csv(scores, index=False)
    with pytest.raises(ValueError, match=r"scores\.csv: missing columns accuracy, teacher$"):
        convergence_report([tmp_path], scores, "accuracy")
