"""`teachergrid winrates` on published AlpacaEval 2 annotations of 10 real models (GPT-4-turbo
judge, 805 prompts; tests/data/alpaca_eval/README.md says where they come from), against the
official leaderboard's win rates."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).parent / "data" / "alpaca_eval"


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
    done = winrates("--judgments", str(DATA / "judgments.csv"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == ["model", "n", "win_rate", "lc_win_rate"]
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
                "--judgments", str(src), "--out", str(tmp_path / f"{src.suffix}.out")
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
