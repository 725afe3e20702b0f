"""The screening table: columns, CAR by hand, negative-reward handling, rankings; reports
built over the cells that finished, listing the others."""

from pathlib import Path

import pandas as pd
import pytest

from teachergrid.analysis.report import build_screening
from teachergrid.analysis.tables import ranking_markdown, screening_table
from teachergrid.core.jsonl import write_json, write_jsonl
from teachergrid.screening.metrics import MetricError
from teachergrid.support import layout


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
        "missing",
    ]
    assert list(table["missing"]) == ["", ""]
    big = table.set_index("teacher").loc["big"]
    small = table.set_index("teacher").loc["small"]
    # big: r = 0.7, L = 3 -> 0.7 / 2.5 = 0.28; small: r = 0.5, L = 1 -> 0.5 / 1.5 = 0.3333
    assert big["car"] == pytest.approx(0.28)
    assert small["car"] == pytest.approx(1 / 3)
    assert big["reward_rm2"] == pytest.approx(2.0) and small["reward_rm2"] == pytest.approx(0.0)
    # the smaller teacher wins on CAR although its reward is lower: the paradox in one line
    md = ranking_markdown(table, "b1", cfg())
    assert md.index("| 1 | small |") < md.index("| 2 | big |")
    write_cells(tmp_path, cfg())
    built = build_screening(cfg(), tmp_path)
    back = pd.read_csv(tmp_path / layout.SCREENING)
    assert (back["car"] - back["reward"] / (1 + back["beta"] * back["loss"])).abs().max() < 1e-12
    pd.testing.assert_frame_equal(
        built.drop(columns="missing"), back.drop(columns="missing"), check_dtype=False
    )
    assert (tmp_path / layout.RANKINGS.format(base="b1")).read_text() == md


def write_cells(root: Path, c: dict, skip: tuple[str, ...] = ()) -> None:
    """The files the screening half leaves in a study's folder, for every cell (but `skip`)."""
    for (teacher, rm), values in REWARDS.items():
        write_jsonl(root / layout.RESPONSES.format(teacher=teacher), [{"id": "x"}])
        if f"rewards/{teacher}/{rm}" not in skip:
            path = root / layout.REWARDS.format(teacher=teacher, rm=rm)
            write_jsonl(path, [{"reward": v} for v in values])
    for (base, teacher), summary in COMPAT.items():
        if f"compatibility/{base}/{teacher}" not in skip:
            write_json(root / layout.COMPATIBILITY.format(base=base, teacher=teacher), summary)
    for teacher, summary in REF.items():
        write_json(root / layout.REFERENCE.format(teacher=teacher), summary)


def test_a_cell_that_did_not_finish_is_listed_not_dropped(tmp_path):
    write_cells(tmp_path, cfg(), skip=("compatibility/b1/big",))
    table = build_screening(cfg(), tmp_path).set_index("teacher")
    assert table.loc["big", "missing"] == "compatibility"
    assert table.loc["big", ["reward", "loss", "car"]].isna().all()
    assert table.loc["small", "missing"] == "" and table.loc["small", "car"] == pytest.approx(1 / 3)
    md = (tmp_path / layout.RANKINGS.format(base="b1")).read_text()
    assert "| 1 | small |" in md and "| 2 |" not in md
    # the log of the job that stopped the cell, under the study's folder
    assert f"- big: `compatibility` (log: `{tmp_path}/logs/compatibility/b1/big.log`)" in md
    # the file on disk says the same
    back = pd.read_csv(tmp_path / layout.SCREENING, keep_default_na=False)
    assert list(back["missing"]) == ["compatibility", ""]
    # a missing reward file names the reward job of that teacher
    write_cells(tmp_path / "other", cfg(), skip=("rewards/small/rm2",))
    table = build_screening(cfg(), tmp_path / "other").set_index("teacher")
    assert table.loc["small", "missing"] == "reward" and table.loc["big", "missing"] == ""


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


def test_a_cell_left_out_of_fine_tuning_is_complete_after_screening(tmp_path):
    from teachergrid.analysis.tables import missing_cells

    write_cells(tmp_path, cfg())
    only_small = {**cfg(), "finetuned": [["b1", "small"]], "judge_rule": "evaluate"}
    missing = missing_cells(only_small, tmp_path, evaluation=True)
    # big is screened only: nothing of it is missing; small still has to be fine-tuned
    assert set(missing) == {("b1", "small")} and missing[("b1", "small")].rule == "finetune"
    every = missing_cells({**cfg(), "judge_rule": "evaluate"}, tmp_path, evaluation=True)
    assert set(every) == {("b1", "big"), ("b1", "small")}


def study_cfg() -> dict:
    """cfg() with the win-rate analysis: the reports of a study that fine-tunes every cell."""
    lc = {"mode": "joint", "difficulty_l2": 0.03, "length_l2": 1000.0}
    evaluation = {"length_control": lc, "bootstrap": 10, "seed": 0}
    return {**cfg(), "evaluation": evaluation, "judge_rule": "evaluate"}


def test_partial_reports_of_a_grid_where_no_cell_finished(tmp_path):
    """The error handler's reports after a run in which nothing finished: every report under
    results/<study>/report/partial/ with its columns, each cell listed as missing, and not one
    file at a report rule's output path (Snakemake would take it for the study's result)."""
    from teachergrid.analysis.report import build_partial
    from teachergrid.analysis.tables import SCREENING_COLUMNS

    missing = build_partial(cfg(), study_cfg(), tmp_path)
    assert {k: s.rule for k, s in missing.items()} == {
        ("b1", "big"): "generate",
        ("b1", "small"): "generate",
    }
    partial = tmp_path / layout.PARTIAL
    assert sorted(p.name for p in partial.iterdir()) == [
        "car_sensitivity.csv",
        "car_transfer.csv",
        "correlations.csv",
        "figures",
        "index.html",
        "metrics.csv",
        "missing.csv",
        "paradox.csv",
        "screening",
        "screening.csv",
    ]
    assert sorted(p.name for p in (tmp_path / layout.REPORT).iterdir()) == ["partial"]
    # the page draws what there is: a heatmap of two missing cells, nothing measured
    assert "2 cell(s) are missing from this report" in (partial / "index.html").read_text()
    heatmap = (partial / "figures" / "ap_heatmap.svg").read_text()
    assert "0 of 2 cells, 2 missing (hatched)" in heatmap and heatmap.count(">missing<") == 2
    metrics = pd.read_csv(partial / "metrics.csv", keep_default_na=False)
    assert list(metrics["missing"]) == ["generate", "generate"]
    assert (metrics[SCREENING_COLUMNS] == "").all().all()
    listed = pd.read_csv(partial / "missing.csv")
    assert listed.to_dict("records") == [
        {
            "base": "b1",
            "teacher": t,
            "rule": "generate",
            "output": f"{tmp_path}/responses/{t}.jsonl",
            "log": f"{tmp_path}/logs/generate/{t}.log",
        }
        for t in ("big", "small")
    ]
    assert (
        f"- big: `generate` (log: `{tmp_path}/logs/generate/big.log`)"
        in (partial / "screening" / "b1.md").read_text()
    )


def test_partial_reports_replace_the_last_ones_and_the_real_reports_remove_them(tmp_path):
    from teachergrid.analysis.report import build_partial, remove_partial

    build_partial(cfg(), study_cfg(), tmp_path)
    # the screening half finished since: the next failed run's partial reports say so
    write_cells(tmp_path, cfg())
    missing = build_partial(cfg(), study_cfg(), tmp_path)
    assert {s.rule for s in missing.values()} == {"finetune"}
    partial = tmp_path / layout.PARTIAL
    screening = pd.read_csv(partial / "screening.csv", keep_default_na=False)
    assert list(screening["missing"]) == ["", ""]
    assert screening.set_index("teacher").loc["small", "car"] == pytest.approx(1 / 3)
    metrics = pd.read_csv(partial / "metrics.csv", keep_default_na=False)
    assert list(metrics["missing"]) == ["finetune", "finetune"]
    # no leftover of the build beside the folder
    assert sorted(p.name for p in (tmp_path / layout.REPORT).iterdir()) == ["partial"]
    # a build that fails leaves no partial folder (rather than the last, now stale, one)
    broken = {**cfg(), "car": {**cfg()["car"], "reward_model": "no-such-rm"}}
    with pytest.raises(KeyError):
        build_partial(broken, study_cfg(), tmp_path)
    assert not (tmp_path / layout.REPORT).exists() or not any((tmp_path / layout.REPORT).iterdir())
    build_partial(cfg(), study_cfg(), tmp_path)
    build_screening(cfg(), tmp_path)
    remove_partial(tmp_path)
    assert sorted(p.name for p in (tmp_path / layout.REPORT).iterdir()) == [
        "screening",
        "screening.csv",
    ]


def test_withdrawn_reports_leave_no_empty_folder(tmp_path):
    from teachergrid.analysis.report import withdraw

    write_cells(tmp_path, cfg())
    build_screening(cfg(), tmp_path)
    ranking = layout.RANKINGS.format(base="b1")
    removed = withdraw([layout.SCREENING, ranking, layout.METRICS], tmp_path)
    # metrics.csv was never written: only what was there is named
    assert removed == [layout.SCREENING, ranking]
    assert list((tmp_path / layout.REPORT).iterdir()) == []
