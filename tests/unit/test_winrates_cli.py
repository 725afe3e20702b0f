"""`teachergrid winrates` on published AlpacaEval 2 annotations of 10 real models (GPT-4-turbo
judge, 805 prompts; tests/data/alpaca_eval/README.md says where they come from), against the
official leaderboard's win rates."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from teachergrid.core.alpaca_eval_files import read_difficulty
from teachergrid.evaluation.lengthcontrol import win_rate_table
from teachergrid.evaluation.winrates import joint_fit

DATA = Path(__file__).parents[1] / "data" / "alpaca_eval"
INTERVALS = ["win_rate_ci_low", "win_rate_ci_high", "lc_win_rate_ci_low", "lc_win_rate_ci_high"]


def winrates(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "teachergrid.cli", "winrates", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("winrates") / "winrates.csv"
    done = winrates(
        "--judgments", str(DATA / "judgments.csv"), "--out", str(out), "--bootstrap", "0"
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == ["model", "n", "win_rate", "lc_win_rate", *INTERVALS]
    assert table[INTERVALS].isna().all().all()  # no rounds, no intervals
    board = pd.read_csv(DATA / "leaderboard.csv")
    return table.merge(board, on="model", suffixes=("", "_official"), validate="1:1")


def test_win_rates_equal_the_leaderboards(published):
    assert len(published) == 10
    assert (published["win_rate"] - published["win_rate_official"]).abs().max() < 0.01


def test_length_controlled_win_rates_match_the_leaderboard(published):
    error = (published["lc_win_rate"] - published["lc_win_rate_official"]).abs()
    print(published[["model", "win_rate", "lc_win_rate", "lc_win_rate_official"]].round(2))
    print(f"LC error: mean {error.mean():.2f}, max {error.max():.2f}")
    assert error.mean() <= 1.5
    assert error.max() <= 3.0


def test_every_judgement_is_counted(published):
    counts = dict(zip(published["model"], published["n"], strict=True))
    # phi-2 has two prompts without a verdict; vicuna-13b-v1.5 was annotated twice
    assert counts["phi-2"] == 803 and counts["vicuna-13b-v1.5"] == 1610
    assert counts["claude-2"] == 805


def test_jsonl_input_gives_the_same_numbers(tmp_path, published):
    frame = pd.read_csv(DATA / "judgments.csv")
    subset = frame[frame["model"].isin(["claude-2", "phi-2", "alpaca-7b"])]
    jsonl = tmp_path / "j.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in subset.to_dict("records")))
    csv = tmp_path / "j.csv"
    subset.to_csv(csv, index=False)
    for src in (jsonl, csv):
        assert (
            winrates(
                *("--judgments", str(src), "--out", str(tmp_path / f"{src.suffix}.out")),
                *("--bootstrap", "0"),
            ).returncode
            == 0
        )
    a, b = pd.read_csv(tmp_path / ".jsonl.out"), pd.read_csv(tmp_path / ".csv.out")
    pd.testing.assert_frame_equal(a, b)


def test_an_extreme_change_is_reported_on_stderr(tmp_path):
    # NullModel (a constant answer that games the judge) moves from 76.9 to above 86.9
    done = winrates("--judgments", str(DATA / "judgments.csv"), "--out", str(tmp_path / "o.csv"))
    assert "NullModel: length-controlled win rate" in done.stderr
    assert done.stderr.count("extreme-change") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "model,prompt_id,preference,len_model\na,0,0.5,10\n",
            "missing column(s) len_reference "
            "(needs model, prompt_id, preference, len_model, len_reference)",
        ),
        (
            "model,prompt_id,preference,len_model,len_reference\na,0,0.5,10,10\na,1,1.5,10,10\n",
            "row 2: preference = 1.5 is not a probability in [0, 1]",
        ),
        (
            "model,prompt_id,preference,len_model,len_reference\na,0,0.5,-1,10\n",
            "row 1: len_model = -1 is not a length >= 0",
        ),
        ("model,prompt_id,preference,len_model,len_reference\n", "no judgements"),
    ],
)
def test_bad_judgement_files_get_one_line_naming_file_and_row(tmp_path, content, message):
    src = tmp_path / "bad.csv"
    src.write_text(content)
    done = winrates("--judgments", str(src), "--out", str(tmp_path / "o.csv"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"teachergrid: {src}: {message}"
    assert not (tmp_path / "o.csv").exists()


def difficulty_csv(path: Path, difficulty: dict[str, float]) -> Path:
    """A difficulty file in AlpacaEval's layout: the prompt position, then its difficulty."""
    pd.DataFrame({"instruction_difficulty": difficulty}).to_csv(path)
    return path


def test_a_published_difficulty_lets_one_model_be_fitted_alone(tmp_path):
    """AlpacaEval publishes instruction difficulties estimated over its whole leaderboard; the
    nearest thing here is the difficulty the other nine models' joint fit gives. Fitted alone
    from it, each model's LC is much nearer the leaderboard's than fitted alone from nothing."""
    frame = pd.read_csv(DATA / "judgments.csv")
    official = pd.read_csv(DATA / "leaderboard.csv").set_index("model")["lc_win_rate"]
    with_it, without = [], []
    for model in sorted(frame["model"].unique()):
        rest = frame[frame["model"] != model]
        others = joint_fit(
            rest["model"].tolist(), rest["prompt_id"].tolist(), rest["preference"].to_numpy(),
            rest["len_model"].to_numpy(), rest["len_reference"].to_numpy(),
        ).difficulty  # fmt: skip
        path = difficulty_csv(tmp_path / f"{model}.csv", others)
        alone = frame[frame["model"] == model]
        lc = win_rate_table(alone, {"difficulty_file": path})["lc_win_rate"].item()
        with_it.append(abs(lc - official[model]))
        without.append(abs(win_rate_table(alone)["lc_win_rate"].item() - official[model]))
    print(f"alone, mean abs LC error: {np.mean(with_it):.2f} with the others' difficulty, "
          f"{np.mean(without):.2f} without")  # fmt: skip
    assert np.mean(with_it) <= 2.0 and np.mean(with_it) < 0.75 * np.mean(without)


def test_the_command_reads_a_difficulty_file_and_checks_it_covers_every_prompt(tmp_path):
    frame = pd.read_csv(DATA / "judgments.csv")
    claude = frame[frame["model"] == "claude-2"]
    claude.to_csv(tmp_path / "claude.csv", index=False)
    # a constant difficulty is a shift every model's quality absorbs: the LC does not move
    flat = difficulty_csv(tmp_path / "flat.csv", {str(i): 1.5 for i in range(805)})
    outs = []
    for extra in ([], ["--instruction-difficulty", str(flat)]):
        out = tmp_path / f"out{len(extra)}.csv"
        done = winrates("--judgments", str(tmp_path / "claude.csv"), "--out", str(out), *extra)
        assert done.returncode == 0, done.stderr
        outs.append(pd.read_csv(out)["lc_win_rate"].item())
    assert outs[0] == pytest.approx(outs[1], abs=0.01)
    short = difficulty_csv(tmp_path / "short.csv", {str(i): 0.0 for i in range(800)})
    done = winrates("--judgments", str(tmp_path / "claude.csv"), "--out",
                    str(tmp_path / "x.csv"), "--instruction-difficulty", str(short))  # fmt: skip
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        f"teachergrid: {short}: no instruction difficulty for prompt(s) 800, 801, 802, 803, "
        "804: is it this benchmark's file?"
    )
    assert not (tmp_path / "x.csv").exists()


def test_difficulty_files_in_alpaca_evals_two_layouts(tmp_path):
    two = tmp_path / "instruction_difficulty.csv"
    two.write_text(",instruction_difficulty\n0,-1.25\n1,0.5\n")
    gamed = tmp_path / "df_gamed.csv"
    gamed.write_text(
        "model,index,preference,instruction_difficulty\nv,1,0.2,0.5\nc,1,0.7,0.5\nv,0,0.1,-1.25\n"
    )
    assert read_difficulty(two) == read_difficulty(gamed) == {"0": -1.25, "1": 0.5}
    bad = tmp_path / "bad.csv"
    bad.write_text("index,instruction_difficulty\n0,0.1\n1,hard\n")
    with pytest.raises(ValueError, match=r"bad\.csv: row 2: difficulty 'hard' is not a number"):
        read_difficulty(bad)


def test_the_command_reads_gamed_baselines_in_alpaca_evals_layout(tmp_path):
    """`--gamed-baselines` takes AlpacaEval's df_gamed.csv layout (its own difficulty column
    serves when no other file is given): stand-in rows, a longer copy of the reference
    preferred 62% and a shorter one 40%, pull the fitted length effect toward theirs and so
    move the LC; a file in another layout is one line naming it."""
    frame = pd.read_csv(DATA / "judgments.csv")
    frame[frame["model"] == "claude-2"].to_csv(tmp_path / "claude.csv", index=False)
    gamed = tmp_path / "df_gamed.csv"
    gamed.write_text(
        "model,preference,index,std_delta_len,instruction_difficulty,not_gamed_baseline\n"
        + "".join(
            f"{name},{pref},{i},{std},0.0,False\n"
            for name, pref, std in (("verbose", 0.62, -1.0), ("concise", 0.40, 1.0))
            for i in range(805)
        )
    )
    lcs = []
    for extra in ([], ["--gamed-baselines", str(gamed)]):
        out = tmp_path / f"out{len(extra)}.csv"
        done = winrates("--judgments", str(tmp_path / "claude.csv"), "--out", str(out), *extra)
        assert done.returncode == 0, done.stderr
        lcs.append(pd.read_csv(out)["lc_win_rate"].item())
    assert abs(lcs[1] - lcs[0]) > 0.5
    bad = tmp_path / "bad.csv"
    bad.write_text("index,preference\n0,0.5\n")
    done = winrates("--judgments", str(tmp_path / "claude.csv"), "--out",
                    str(tmp_path / "x.csv"), "--gamed-baselines", str(bad))  # fmt: skip
    assert done.returncode != 0 and not (tmp_path / "x.csv").exists()
    assert done.stderr.strip().splitlines()[-1] == (
        f"teachergrid: {bad}: missing column(s) std_delta_len, instruction_difficulty "
        "(AlpacaEval's df_gamed.csv has index, preference, std_delta_len, instruction_difficulty)"
    )


def alpaca_eval_annotations(frame: pd.DataFrame, model: str) -> list[dict]:
    """One model's judgements as AlpacaEval writes them (results/<model>/<annotator>/
    annotations.json): the reference's answer is output_1, the model's output_2, preference in
    [1, 2]; answers stand in at their published lengths."""
    rows = frame[frame["model"] == model]
    return [
        {
            "instruction": f"prompt {r.prompt_id}",
            "output_1": "r" * int(r.len_reference),
            "generator_1": "gpt4_1106_preview",
            "output_2": "m" * int(r.len_model),
            "generator_2": model,
            "annotator": "weighted_alpaca_eval_gpt4_turbo",
            "preference": None if pd.isna(r.preference) else 1 + r.preference,
        }
        for r in rows.itertuples()
    ]


def test_alpaca_evals_own_annotation_files_give_the_same_numbers_with_intervals(tmp_path):
    frame = pd.read_csv(DATA / "judgments.csv")
    models = ["claude-2", "phi-2"]
    files = []
    for model in models:
        files.append(tmp_path / f"{model}.json")
        files[-1].write_text(json.dumps(alpaca_eval_annotations(frame, model)))
    subset = tmp_path / "subset.csv"
    frame[frame["model"].isin(models)].to_csv(subset, index=False)
    done = winrates("--judgments", str(subset), "--out", str(tmp_path / "csv.out"),
                    "--bootstrap", "0")  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = winrates("--judgments", *map(str, files), "--out", str(tmp_path / "json.out"),
                    "--bootstrap", "20", "--seed", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    from_csv = pd.read_csv(tmp_path / "csv.out")
    from_annotations = pd.read_csv(tmp_path / "json.out")
    # the same numbers, to the fit's tolerance (rows reach the optimiser in another order)
    pd.testing.assert_frame_equal(
        from_csv.drop(columns=INTERVALS), from_annotations.drop(columns=INTERVALS),
        check_exact=False, atol=0.05,
    )  # fmt: skip
    table = from_annotations.set_index("model")
    assert table.loc["phi-2", "n"] == 803  # the two prompts without a verdict are dropped
    # each estimate inside its interval, and the intervals of a few points' width
    for value in ("win_rate", "lc_win_rate"):
        low, high = table[f"{value}_ci_low"], table[f"{value}_ci_high"]
        assert ((low <= table[value]) & (table[value] <= high)).all()
        assert ((high - low) > 0.2).all() and ((high - low) < 15).all()
