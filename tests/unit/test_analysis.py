"""The Table-4-style analysis, on hand-made tables and on the paper's own Table 6."""

import math
from pathlib import Path

import pandas as pd
import pytest

from teachergrid.analysis.correlations import correlations, direction, paradox
from teachergrid.analysis.published_scores import analyze
from teachergrid.cli import main

TABLE6 = Path(__file__).resolve().parents[2] / "data" / "paper" / "table6.csv"


def toy() -> pd.DataFrame:
    # AP rises t1 < t2 < t3 < t4; reward agrees, loss disagrees (so its negation agrees),
    # size is reversed (the paradox), length is noise.
    return pd.DataFrame(
        {
            "base": ["b"] * 4,
            "teacher": ["t1", "t2", "t3", "t4"],
            "params_b": [70.0, 30.0, 8.0, 2.0],
            "reward": [0.1, 0.2, 0.3, 0.4],
            "loss": [4.0, 3.0, 2.0, 1.0],
            "length": [10.0, 30.0, 20.0, 40.0],
            "alpaca_eval_wr": [1.0, 2.0, 3.0, 4.0],
            "alpaca_eval_lc": [10.0, 20.0, 30.0, 40.0],
            "arena_hard_wr": [12.0, 22.0, 32.0, 42.0],
        }
    )


def test_correlations_by_hand():
    corr = correlations(toy()).set_index(["base", "metric"])
    assert corr.loc[("b", "reward"), "spearman_rho"] == pytest.approx(1.0)
    assert corr.loc[("b", "reward"), "kendall_tau"] == pytest.approx(1.0)
    # lower loss is better: the negated loss ranks exactly like AP
    assert direction("loss") == -1 and direction("ppl_self") == -1 and direction("car") == 1
    assert corr.loc[("b", "loss"), "spearman_rho"] == pytest.approx(1.0)
    # the raw coefficient keeps the metric's own sign (Table 4's): loss itself falls with AP
    assert corr.loc[("b", "loss"), "spearman_rho_raw"] == pytest.approx(-1.0)
    assert corr.loc[("b", "loss"), "kendall_tau_raw"] == pytest.approx(-1.0)
    assert corr.loc[("b", "reward"), "spearman_rho_raw"] == pytest.approx(1.0)
    assert corr.loc[("average", "loss"), "spearman_rho_raw"] == pytest.approx(-1.0)
    assert corr.loc[("b", "params_b"), "spearman_rho"] == pytest.approx(-1.0)
    # length ranks 1,3,2,4 against 1,2,3,4: rho = 1 - 6*(0+1+1+0)/(4*15) = 0.8, tau = 4/6
    assert corr.loc[("b", "length"), "spearman_rho"] == pytest.approx(0.8)
    assert corr.loc[("b", "length"), "kendall_tau"] == pytest.approx(4 / 6)
    assert math.isnan(corr.loc[("average", "length"), "spearman_p"])
    assert corr.loc[("average", "length"), "spearman_rho"] == pytest.approx(0.8)
    # evaluation columns are never metrics
    assert "alpaca_eval_wr" not in corr.index.get_level_values("metric")


def test_paradox_by_hand():
    row = paradox(toy()).iloc[0]
    assert row["best_teacher"] == "t4"
    assert row["best_ap"] == pytest.approx((40 + 42) / 2)
    assert row["largest_teacher"] == "t1"
    assert row["spearman_size_ap"] == pytest.approx(-1.0)


def test_analyze_table6_reproduces_ap(tmp_path):
    analyze(TABLE6, tmp_path)
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert len(scores) == 95
    assert (
        scores["ap"] - (scores["alpaca_eval_lc"] + scores["arena_hard_wr"]) / 2
    ).abs().max() < 1e-12
    # Qwen2.5-3B fine-tuned on gemma-2-9b-it: LC 13.78, Arena-Hard 19.4 -> AP 16.59
    cell = scores[(scores["base"] == "Qwen2.5-3B") & (scores["teacher"] == "google/gemma-2-9b-it")]
    assert cell["ap"].item() == pytest.approx(16.59)
    para = pd.read_csv(tmp_path / "paradox.csv").set_index("base")
    assert list(para.columns) == [
        "best_teacher",
        "best_ap",
        "largest_teacher",
        "spearman_size_ap",
        "kendall_size_ap",
    ]
    # the paradox in the paper's data: the 405B teacher is never the best one
    assert (para["largest_teacher"] == "meta-llama/Llama-3.1-405B-Instruct").all()
    assert (para["best_teacher"] != para["largest_teacher"]).all()
    assert para.loc["Qwen2.5-3B", "best_teacher"] == "Qwen/Qwen2.5-3B-Instruct"
    # its row: LC 14.79, Arena-Hard 24.8
    assert para.loc["Qwen2.5-3B", "best_ap"] == pytest.approx((14.79 + 24.8) / 2)
    assert (para["spearman_size_ap"].abs() < 0.5).all()
    written = pd.read_csv(tmp_path / "correlations.csv")
    assert set(written["metric"]) == {"params_b"}
    assert set(written["base"]) == {*scores["base"], "average"}


def test_a_studys_own_metrics_table_is_analysable(tmp_path):
    """metrics.csv's shape: labels, a screening metric, the scores and `missing` (empty on
    finished cells, so read as numbers): the paradox finds the largest teacher, and `missing`
    is no metric."""
    table = pd.read_csv(TABLE6)
    table["loss"] = table["params_b"] * 0.1
    table["missing"] = ""
    table.to_csv(tmp_path / "metrics.csv", index=False)
    corr, para = analyze(tmp_path / "metrics.csv", tmp_path / "out")
    assert set(corr["metric"]) == {"params_b", "loss"}
    largest = table.loc[table.groupby("base")["params_b"].idxmax()].set_index("base")["teacher"]
    assert para.set_index("base")["largest_teacher"].to_dict() == largest.to_dict()


def test_cli_analyze(tmp_path, capsys):
    assert main(["analyze", "--scores", str(TABLE6), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "paradox.csv").exists()
    # the paper's grid drawn: the heatmap, the Figure-2 view and the paradox, PNG and SVG
    figures = tmp_path / "out" / "figures"
    assert sorted(p.name for p in figures.iterdir()) == [
        f"{name}.{ext}" for name in ("ap_heatmap", "ap_per_teacher", "paradox")
        for ext in ("png", "svg")
    ]  # fmt: skip
    heatmap = (figures / "ap_heatmap.svg").read_text()
    assert "AP of every cell: 95 of 95 cells" in heatmap
    table = pd.read_csv(TABLE6)
    for teacher in table["teacher"]:
        assert teacher.split("/")[-1] in heatmap
    # every cell's AP printed in its square, as the table computes it (one decimal)
    some = table.iloc[7]
    assert f"{(some['alpaca_eval_lc'] + some['arena_hard_wr']) / 2:.1f}" in heatmap
    paradox_svg = (figures / "paradox.svg").read_text()
    para = pd.read_csv(tmp_path / "out" / "paradox.csv").set_index("base")
    for base, row in para.iterrows():
        assert f"{base}: Spearman(size, AP) {row['spearman_size_ap']:.2f}, n = 19" in paradox_svg
    page = (tmp_path / "out" / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "http" not in page.replace(
        "http-equiv", ""
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("base,teacher\nb,t\n")
    assert main(["analyze", "--scores", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "missing columns alpaca_eval_lc, arena_hard_wr" in capsys.readouterr().err


def test_car_sensitivity_and_its_leave_one_base_out_choice():
    from teachergrid.analysis.sensitivity import DEFAULT_BETAS, car_sensitivity, leave_one_base_out

    # rm1 prefers t1 > t2 > t3, rm2 the reverse; every base's AP agrees with rm2, and the
    # loss (3, 2, 1) only sharpens rm2's order as beta grows
    rows = []
    for base in ("b1", "b2", "b3"):
        for t, r1, r2, loss, ap in (("t1", 3, 1, 3, 1), ("t2", 2, 2, 2, 2), ("t3", 1, 3, 1, 3)):
            rows.append({"base": base, "teacher": t, "r1": r1, "r2": r2, "loss": loss, "ap": ap})
    sens = car_sensitivity(pd.DataFrame(rows), {"rm1": "r1", "rm2": "r2"})
    assert len(sens) == 2 * len(DEFAULT_BETAS) * 4  # 3 bases and the average
    by = sens.set_index(["reward_model", "beta", "base"])
    assert by.loc[("rm2", 0.0, "average"), "spearman_rho"] == pytest.approx(1.0)
    assert by.loc[("rm1", 0.0, "b1"), "spearman_rho"] == pytest.approx(-1.0)
    # rm1 with a large beta: 3/25 > 2/17 > 1/9, still backwards
    assert by.loc[("rm1", 8.0, "b2"), "kendall_tau"] == pytest.approx(-1.0)
    transfer = leave_one_base_out(sens)
    assert list(transfer["held_out_base"]) == ["b1", "b2", "b3"]
    assert set(transfer["chosen_reward_model"]) == {"rm2"}
    assert (transfer["held_out_spearman_rho"] == transfer["held_out_best_spearman_rho"]).all()
    # against another target (a ground truth that agrees with rm1 at beta 0): the same grid,
    # rows labelled with their target, and a transfer computed per target
    table = pd.DataFrame(rows).assign(accuracy=lambda t: t["r1"])
    truth = car_sensitivity(table, {"rm1": "r1", "rm2": "r2"}, [0.0, 8.0], "accuracy")
    assert set(sens["target"]) == {"ap"} and set(truth["target"]) == {"accuracy"}
    by = truth.set_index(["reward_model", "beta", "base"])
    assert by.loc[("rm1", 0.0, "average"), "spearman_rho"] == pytest.approx(1.0)
    both = leave_one_base_out(pd.concat([sens, truth], ignore_index=True))
    chosen = both.groupby("target")["chosen_reward_model"].agg(set).to_dict()
    assert chosen == {"ap": {"rm2"}, "accuracy": {"rm1"}}
    assert both.loc[both["target"] == "accuracy", "chosen_beta"].eq(0.0).all()
    # a target no setting can rank (every cell equally accurate: students that learnt nothing)
    # leaves its coefficients and its transfer rows empty rather than stopping the report
    flat = car_sensitivity(table.assign(accuracy=0.0), {"rm1": "r1"}, [0.0, 1.0], "accuracy")
    assert flat["spearman_rho"].isna().all() and len(flat) == 2 * 4
    moved = leave_one_base_out(flat)
    assert list(moved["held_out_base"]) == ["b1", "b2", "b3"]
    assert moved[["chosen_reward_model", "held_out_best_setting"]].isna().all().all()


def test_car_sensitivity_refuses_a_non_positive_reward_as_car_does():
    """A reward model whose mean reward is negative for a teacher would see that teacher's CAR
    *raised* by a larger loss: the sweep stops with car()'s error, naming teacher and model."""
    from teachergrid.analysis.sensitivity import car_sensitivity
    from teachergrid.screening.metrics import MetricError

    rows = [
        {"base": "b1", "teacher": t, "r1": r, "loss": 1.0, "ap": ap}
        for t, r, ap in (("t1", 0.5, 1), ("t2", -0.2, 2), ("t3", 0.1, 3))
    ]
    with pytest.raises(MetricError, match=r"teacher t2, reward model rm1: mean reward -0\.2 is"):
        car_sensitivity(pd.DataFrame(rows), {"rm1": "r1"})


def test_ap_against_accuracy_and_the_teachers_each_metric_puts_first():
    from teachergrid.analysis.correlations import ap_accuracy, best_teachers

    table = pd.concat([toy(), toy().assign(base="c")], ignore_index=True)
    # accuracy: the truth; on base b it agrees with AP except for one swap (t3 above t4)
    table["accuracy"] = [10.0, 20.0, 40.0, 30.0, 1.0, 2.0, 3.0, 4.0]
    check = ap_accuracy(table).set_index("base")
    assert check.loc["c", "spearman_rho"] == pytest.approx(1.0)
    assert check.loc["b", "spearman_rho"] == pytest.approx(0.8)  # 1 - 6*2/(4*15)
    assert check.loc["b", "kendall_tau"] == pytest.approx(4 / 6)  # 5 agree, 1 disagrees
    assert check.loc["all", "n_cells"] == 8
    best = best_teachers(table, ["reward", "loss", "params_b"]).set_index("base")
    assert best.loc["b", "accuracy"] == "t3" and best.loc["c", "accuracy"] == "t4"
    # AP, reward and loss (lower is better) put t4 first; size puts the 70B t1 first
    assert best.loc["b", "ap"] == "t4" and not best.loc["b", "ap_right"]
    assert best.loc["c", "loss"] == "t4" and best.loc["c", "loss_right"]
    assert best.loc["c", "params_b"] == "t1" and not best.loc["c", "params_b_right"]


def test_student_accuracy_sets_each_base_beside_its_untuned_self():
    from teachergrid.analysis.correlations import student_accuracy

    table = pd.concat([toy(), toy().assign(base="c")], ignore_index=True)
    table["accuracy"] = [10.0, 20.0, 40.0, 30.0, 1.0, 2.0, 3.0, 4.0]
    out = student_accuracy(table, {"b": 2.5}).set_index("base")
    assert out.loc["b"].to_dict() == {
        "untuned_accuracy": 2.5,
        "n_cells": 4,
        "min_accuracy": 10.0,
        "median_accuracy": 25.0,
        "max_accuracy": 40.0,
        "best_teacher": "t3",
    }
    # a base whose untuned answers were not measured has an empty cell, not a zero
    assert math.isnan(out.loc["c", "untuned_accuracy"]) and out.loc["c", "best_teacher"] == "t4"


def test_table4_from_a_screening_and_published_scores(tmp_path, capsys):
    """No fine-tuning: a screening.csv of the paper's grid (teachers by name) and the paper's
    Table 6 (teachers by hub id) give Table 4's layout, with the paper's value beside each
    coefficient. Here a stand-in screening whose CAR is the paper's AP plus a little noise and
    whose length is noise: CAR correlates near 1, and the paper's 0.88-0.94 sit beside it."""
    import numpy as np

    table6 = pd.read_csv(TABLE6)
    rng = np.random.default_rng(0)
    ap = (table6["alpaca_eval_lc"] + table6["arena_hard_wr"]) / 2
    screening = pd.DataFrame(
        {
            "base": table6["base"],
            "teacher": table6["teacher"].str.rsplit("/", n=1).str[-1],
            "car": ap + rng.normal(0, 0.01, len(ap)),
            "length": rng.normal(500, 50, len(ap)),
            "missing": "",
        }
    )
    # a cell the screening did not finish is left out, not scored as a zero
    screening.loc[0, ["car", "length"]] = np.nan
    screening.loc[0, "missing"] = "compatibility"
    screening.to_csv(tmp_path / "screening.csv", index=False)
    out = tmp_path / "out"
    assert main(["analyze", "--screening", str(tmp_path / "screening.csv"),
                 "--scores", str(TABLE6), "--out", str(out)]) == 0  # fmt: skip
    corr = pd.read_csv(out / "correlations.csv").set_index(["base", "metric"])
    assert corr.loc[("Qwen2-1.5B", "car"), "n_teachers"] == 18
    assert corr.loc[("Gemma-2-2B", "car"), "spearman_rho"] > 0.99
    paper = pd.read_csv(TABLE6.parent / "table4_spearman.csv").set_index("base")
    assert corr.loc[("Gemma-2-2B", "car"), "paper_spearman_rho"] == paper.loc["Gemma-2-2B", "car"]
    assert corr.loc[("average", "car"), "paper_spearman_rho"] == pytest.approx(paper["car"].mean())
    assert corr.loc[("average", "length"), "paper_spearman_rho"] == pytest.approx(
        paper["length"].mean()
    )
    # size comes from the scores' table; Table 4 has no row for it
    assert math.isnan(corr.loc[("average", "params_b"), "paper_spearman_rho"])
    assert "paper_spearman_rho" in capsys.readouterr().out
    # a screening that shares no cell with the scores is one line, not an empty report
    screening.assign(base=screening["base"] + "-other").to_csv(tmp_path / "other.csv", index=False)
    assert main(["analyze", "--screening", str(tmp_path / "other.csv"),
                 "--scores", str(TABLE6), "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "no cell of it has a score in" in capsys.readouterr().err
    # a cell listed twice is named, in one line
    pd.concat([screening, screening.iloc[[3]]]).to_csv(tmp_path / "twice.csv", index=False)
    assert main(["analyze", "--screening", str(tmp_path / "twice.csv"),
                 "--scores", str(TABLE6), "--out", str(tmp_path / "y")]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err.endswith("twice.csv: cell Qwen2-1.5B/gemma-2-2b-it appears twice")
    assert "\n" not in err


def test_table4_draws_an_interval_that_does_not_contain_its_point():
    """A percentile bootstrap interval can lie wholly on one side of the point estimate (seed
    1 of the tiny world has one): the figure draws it from its own ends."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.collections import LineCollection

    from teachergrid.analysis.figures import Inputs
    from teachergrid.analysis.plots_metrics import table4

    corr = pd.DataFrame(
        {
            "base": ["b", "b"],
            "metric": ["car", "reward"],
            "n_teachers": [12, 12],
            "spearman_rho": [0.50, 0.20],
            "spearman_rho_ci_low": [0.55, -0.10],
            "spearman_rho_ci_high": [0.90, 0.40],
        }
    )
    made = table4(Inputs(metrics=pd.DataFrame(), correlations=corr))
    assert made is not None
    ax = made[1].axes[0]
    lines = [c for c in ax.collections if isinstance(c, LineCollection)]
    segments = [[tuple(map(float, end)) for end in s] for s in lines[0].get_segments()]
    assert segments == [[(0.55, 0.0), (0.90, 0.0)], [(-0.10, 1.0), (0.40, 1.0)]]
