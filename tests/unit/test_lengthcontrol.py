"""The two length-control modes' plumbing: AlpacaEval's own fit is handed its annotations in
the encoding it reads; without the package, the mode says how to get it."""

import pandas as pd
import pytest

from teachergrid.evaluation.lengthcontrol import method, package_annotations, win_rate_table


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


def verbose_model(seed: int, n: int = 300, phi: float = 1.5) -> tuple[pd.DataFrame, float, list]:
    """One model whose answers are all longer than the reference's, judged 0/1 by a judge that
    likes length (slope phi); its true LC (the mean preference at equal length) and each
    prompt's difficulty."""
    import numpy as np

    rng = np.random.default_rng(seed)
    b = rng.normal(0, 1, n)
    len_ref = rng.integers(500, 1500, n).astype(float)
    len_model = len_ref * rng.uniform(1.3, 2.5, n)
    delta = len_model - len_ref
    p = 1 / (1 + np.exp(-(b + phi * np.tanh(delta / delta.std(ddof=1)))))
    frame = pd.DataFrame(
        {
            "model": "verbose",
            "prompt_id": range(n),
            "preference": (rng.random(n) < p).astype(float),
            "len_model": len_model,
            "len_reference": len_ref,
        }
    )
    return frame, 100 * float(np.mean(1 / (1 + np.exp(-b)))), list(b)


def gamed_file(path, difficulty: list, phi: float, sign: float) -> str:
    """A df_gamed.csv as AlpacaEval writes it (`sign` 1): the reference against a longer and a
    shorter copy of itself, `std_delta_len` = len(reference) - len(copy), standardised, so the
    longer copy's is negative; the judge, liking length, prefers the longer copy. `sign` -1
    writes the same rows with the length column's sign turned, the way the fit read it before."""
    import math

    rows = []
    for name, std in (("verbose", -1.0), ("concise", 1.0)):
        for i, b in enumerate(difficulty):
            pref = 1 / (1 + math.exp(-(b - phi * math.tanh(std))))
            rows.append(f"{name},{pref},{i},{sign * std},{b},False\n")
    path.write_text(
        "model,preference,index,std_delta_len,instruction_difficulty,not_gamed_baseline\n"
        + "".join(rows)
    )
    return str(path)


def test_gamed_baselines_are_read_in_alpaca_evals_sign(tmp_path):
    """A verbose model's raw win rate is inflated by a judge that likes length; AlpacaEval's
    gamed baselines, read in the file's own sign convention, say so, and the LC comes out
    well below the raw rate, near the truth. Read with the opposite sign they say the judge
    dislikes length, and the LC lands above the raw rate, far from the truth."""
    from teachergrid.evaluation.lengthcontrol import joint_table

    phi = 1.5
    for seed in range(3):
        frame, truth, difficulty = verbose_model(seed, phi=phi)
        right = gamed_file(tmp_path / f"right{seed}.csv", difficulty, phi, 1.0)
        wrong = gamed_file(tmp_path / f"wrong{seed}.csv", difficulty, phi, -1.0)
        lc_right = joint_table(frame, gamed_file=right)["lc_win_rate"].item()
        lc_wrong = joint_table(frame, gamed_file=wrong)["lc_win_rate"].item()
        raw = 100 * frame["preference"].mean()
        print(f"seed {seed}: truth {truth:.1f}, raw {raw:.1f}, LC {lc_right:.1f}, "
              f"sign turned {lc_wrong:.1f}")  # fmt: skip
        assert lc_right < raw - 10 and lc_wrong > raw + 5
        assert abs(lc_right - truth) < abs(lc_wrong - truth) / 3
