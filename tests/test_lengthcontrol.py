"""The two length-control modes' plumbing: AlpacaEval's own fit is handed its annotations in
the encoding it reads; without the package, the mode says how to get it."""

import pandas as pd
import pytest

from teachergrid.lengthcontrol import method, package_annotations, win_rate_table


def frame():
    return pd.DataFrame(
        {
            "model": ["m", "m"],
            "prompt_id": [3, 804],
            "preference": [0.25, 1.0],
            "len_model": [5, 0],
            "len_reference": [2, 7],
        }
    )


def test_annotations_in_alpaca_evals_encoding():
    out = package_annotations(frame())
    # AlpacaEval: 1 = the reference (output_1) wins, 2 = the model (output_2) wins
    assert list(out["preference"]) == [1.25, 2.0]
    assert list(out["output_1"].str.len()) == [2, 7] and list(out["output_2"].str.len()) == [5, 0]
    assert list(out["index"]) == [3, 804]
    assert set(out["generator_2"]) == {"m"} and set(out["generator_1"]) == {"reference"}


def test_paper_comparable_mode_without_the_package_says_how_to_get_it():
    try:
        import alpaca_eval  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.fail("this test checks the message for an environment without alpaca-eval")
    with pytest.raises(ValueError, match=r"pip install 'teachergrid\[paper\]'"):
        win_rate_table(frame(), {"mode": "paper-comparable"})
    with pytest.raises(ValueError, match=r"length_control\.mode: 'other' is not one of"):
        win_rate_table(frame(), {"mode": "other"})


def test_each_lc_says_what_produced_it():
    assert method(None) == method({"mode": "joint"}) == "joint"
    assert method({"difficulty_file": "d.csv"}) == "joint+difficulty"
    assert method({"difficulty_file": "d.csv", "gamed_file": "g.csv"}) == "joint+difficulty+gamed"
    # the package's version where it is installed (not in this environment)
    assert method({"mode": "paper-comparable"}) == "paper-comparable"
