"""AlpacaEval-2 win rates of a set of models from a table of judgements, in one of two modes.

- `joint` (default): teachergrid's own estimator, every model fitted together with a shared
  instruction difficulty and length effect (`winrates.joint_fit`). Needs nothing but
  the judgements; this is what the workflow's report and `teachergrid winrates` use. Given
  AlpacaEval's published `instruction_difficulty.csv` (estimated over its whole leaderboard)
  and `df_gamed.csv` (verbosity-gamed copies of the reference, judged), the fit uses them as
  AlpacaEval does (`read_difficulty`, `read_gamed`), which matters most when few models are
  fitted.
- `paper-comparable`: the `alpaca-eval` package's own `get_length_controlled_winrate`, one
  model at a time, with the instruction difficulty and verbosity-gamed baselines its authors
  published on the hub (the package downloads them: it needs network access or a filled HF
  cache). This is the number the AlpacaEval 2 leaderboard and the paper print. Install with
  `pip install teachergrid[paper]`.

The judgement table has one row per (model, prompt): `model`, `prompt_id`, `preference` (the
probability that the judge prefers the model's answer over the reference, in [0, 1]; empty
when the judge gave no verdict), `len_model`, `len_reference` (characters).
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from teachergrid.config import section
from teachergrid.core.alpaca_eval_files import read_difficulty, read_gamed
from teachergrid.evaluation.winrates import (
    DIFFICULTY_L2,
    LENGTH_L2,
    Gamed,
    is_extreme_change,
    joint_fit,
)

log = logging.getLogger(__name__)

COLUMNS = ["model", "prompt_id", "preference", "len_model", "len_reference"]
OUTPUT_COLUMNS = ["model", "n", "win_rate", "lc_win_rate"]
MODES = ("joint", "paper-comparable")


def read_judgments(path: str | Path) -> pd.DataFrame:
    """A judgement table from CSV (`.csv`), JSON lines (`.jsonl`, `.json`) or AlpacaEval's own
    `annotations.json` (`_alpaca_eval_annotations`), checked: every
    column present, preferences in [0, 1] or empty, lengths non-negative numbers. Errors name
    the file and the offending row (1-based data row, the header not counted). A model may be
    judged more than once on a prompt (published AlpacaEval annotations hold such repeats):
    every judgement counts, as in AlpacaEval."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such judgements file")
    annotations = _alpaca_eval_annotations(path)
    if annotations is not None:
        frame = annotations
    elif path.suffix in (".jsonl", ".json"):
        rows = []
        with path.open() as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{path}: line {number}: not JSON ({exc.msg})") from None
        frame = pd.DataFrame(rows)
    else:
        frame = pd.read_csv(path)
    absent = [c for c in COLUMNS if c not in frame.columns]
    if absent:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(absent)} (needs {', '.join(COLUMNS)})"
        )
    if frame.empty:
        raise ValueError(f"{path}: no judgements")
    for column in ("preference", "len_model", "len_reference"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if column != "preference":
            bad |= values.isna() | (values < 0)
        else:
            bad |= (values < 0) | (values > 1)
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise ValueError(
                f"{path}: row {row + 1}: {column} = {frame[column].tolist()[row]!r} is not "
                + ("a probability in [0, 1]" if column == "preference" else "a length >= 0")
            )
        frame[column] = values
    frame["model"] = frame["model"].astype(str)
    return frame


# AlpacaEval's own annotation records (results/<model>/<annotator>/annotations.json): the
# reference's answer is output_1, the model's output_2, and `preference` is in [1, 2] (2: the
# model's answer preferred; 1.5, or 0 in older files: a draw; null: no verdict).
ANNOTATION_FIELDS = ("instruction", "output_1", "output_2", "generator_2", "preference")


def _alpaca_eval_annotations(path: Path) -> pd.DataFrame | None:
    """A judgement table from AlpacaEval's `annotations.json` (a JSON list of annotation
    records), or None when the file is not one. `prompt_id` is the instruction's position in
    the file (first appearance): an annotations file lists AlpacaEval's 805 prompts in the
    order of the set, which AlpacaEval's instruction difficulty is keyed by."""
    if path.suffix != ".json":
        return None
    try:
        records = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not (isinstance(records, list) and records and isinstance(records[0], dict)):
        return None
    if not set(ANNOTATION_FIELDS) <= set(records[0]):
        return None
    position: dict[str, int] = {}
    rows = []
    for number, record in enumerate(records, 1):
        absent = [f for f in ANNOTATION_FIELDS if f not in record]
        if absent:
            raise ValueError(f"{path}: record {number}: no field {', '.join(absent)}")
        preference = record["preference"]
        if preference is not None and float(preference) == 0:
            preference = 1.5  # AlpacaEval's older encoding of a draw
        if preference is not None and not 1 <= float(preference) <= 2:
            raise ValueError(
                f"{path}: record {number}: preference {preference!r} is not in [1, 2] (or 0: "
                "a draw)"
            )
        rows.append(
            {
                "model": record["generator_2"],
                "prompt_id": position.setdefault(record["instruction"], len(position)),
                "preference": None if preference is None else float(preference) - 1,
                "len_model": len(record["output_2"] or ""),
                "len_reference": len(record["output_1"] or ""),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def fetch_published(spec: dict[str, Any], out: Path, kind: str) -> int:
    """Write a published AlpacaEval file of `spec` (a local CSV, or one file of a hub data
    set, downloaded here) to `out`, checked: `instruction_difficulty` as
    `index,instruction_difficulty`, `gamed_baselines` with the columns the fit reads. Returns
    its number of rows."""
    from teachergrid.core.datafiles import file_path
    from teachergrid.core.jsonl import atomic_open

    source = file_path(spec)
    if kind == "gamed_baselines":
        frame = read_gamed(source)
    else:
        table = read_difficulty(source)
        frame = pd.DataFrame({"index": list(table), "instruction_difficulty": list(table.values())})
    with atomic_open(out) as handle:
        frame.to_csv(handle, index=False)
    return len(frame)


def _gamed(frame: pd.DataFrame, path: str | Path) -> Gamed:
    """The gamed baselines in the fit's prompt ids: the frame's prompts are looked up by their
    position in the published file (`index` where the frame has it, else `prompt_id`)."""
    table = read_gamed(path)
    if "index" in frame.columns:
        to_id = dict(zip(frame["index"].astype(str), frame["prompt_id"], strict=True))
    else:
        to_id = {str(p): p for p in frame["prompt_id"]}
    keys = table["index"].astype(str)
    mine = keys.isin(to_id).to_numpy()
    if not mine.any():
        raise ValueError(f"{path}: no gamed baseline of any judged prompt: is it this benchmark's?")
    return Gamed(
        prompt_ids=[to_id[k] for k in keys[mine]],
        prefs=table["preference"].to_numpy()[mine],
        # AlpacaEval's reference-minus-copy, turned into the fit's copy-minus-reference
        std_delta_len=-table["std_delta_len"].to_numpy()[mine],
        difficulty=table["instruction_difficulty"].to_numpy()[mine],
    )


def _published_difficulty(frame: pd.DataFrame, path: str | Path) -> list[float]:
    """Each judgement's published difficulty, looked up by the prompt's position in the
    published file (`index` where the frame has it, else `prompt_id`); every prompt must
    have one, or the file is not this benchmark's."""
    table = read_difficulty(path)
    keys = (frame["index"] if "index" in frame.columns else frame["prompt_id"]).astype(str)
    absent = sorted(set(keys) - set(table), key=lambda k: (len(k), k))
    if absent:
        raise ValueError(
            f"{path}: no instruction difficulty for prompt(s) {', '.join(absent[:5])}"
            + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
            + ": is it this benchmark's file?"
        )
    return [table[k] for k in keys]


def joint_table(
    frame: pd.DataFrame,
    difficulty_l2: float = DIFFICULTY_L2,
    length_l2: float = LENGTH_L2,
    difficulty_file: str | Path | None = None,
    gamed_file: str | Path | None = None,
) -> pd.DataFrame:
    """`model, n, win_rate, lc_win_rate, lc_extreme`, every model fitted together (from the
    published instruction difficulty and gamed baselines where their files are given; the
    gamed baselines' file carries a difficulty too, used when no other is given)."""
    gamed = None if gamed_file is None else _gamed(frame, gamed_file)
    if gamed_file is not None and difficulty_file is None:
        difficulty_file = gamed_file
    fits = joint_fit(
        frame["model"].tolist(),
        frame["prompt_id"].tolist(),
        frame["preference"].to_numpy(dtype=float),
        frame["len_model"].to_numpy(dtype=float),
        frame["len_reference"].to_numpy(dtype=float),
        difficulty_l2=difficulty_l2,
        length_l2=length_l2,
        published_difficulty=(
            None if difficulty_file is None else _published_difficulty(frame, difficulty_file)
        ),
        gamed=gamed,
    ).models
    return pd.DataFrame(
        [(f.model, f.n, f.win_rate, f.lc_win_rate, f.extreme) for f in fits],
        columns=[*OUTPUT_COLUMNS, "lc_extreme"],
    )


def package_annotations(frame: pd.DataFrame) -> pd.DataFrame:
    """One model's judgements in the shape `alpaca_eval`'s GLM reads: `preference` in [1, 2]
    (2: the model, `output_2`, preferred), the two outputs (only their lengths matter to the
    GLM, so placeholders of the right length stand in), the prompt's `index`, generators and
    annotator."""
    return pd.DataFrame(
        {
            "preference": 1.0 + frame["preference"].to_numpy(dtype=float),
            "output_1": ["x" * int(n) for n in frame["len_reference"]],
            "output_2": ["x" * int(n) for n in frame["len_model"]],
            "index": frame["prompt_id"].to_numpy(),
            "generator_1": "reference",
            "generator_2": frame["model"].to_numpy(),
            "annotator": "weighted_alpaca_eval_gpt4_turbo",
        }
    )


def package_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The `alpaca-eval` package's own LC, model by model (needs the package and its hub files)."""
    try:
        from alpaca_eval.metrics.glm_winrate import get_length_controlled_winrate
    except ImportError:
        raise ValueError(
            "length-control mode 'paper-comparable' needs the alpaca-eval package: "
            "pip install 'teachergrid[paper]'"
        ) from None
    rows = []
    for model, group in frame.groupby("model", sort=False):
        judged = group[group["preference"].notna()]
        metrics = get_length_controlled_winrate(
            package_annotations(judged), save_weights_dir=None, is_warn_extreme_changes=False
        )
        wr = 100.0 * float(judged["preference"].mean())
        lc = float(metrics["length_controlled_winrate"])
        rows.append((model, len(judged), wr, lc, is_extreme_change(wr, lc)))
    return pd.DataFrame(rows, columns=[*OUTPUT_COLUMNS, "lc_extreme"])


def with_defaults(settings: dict[str, Any] | None) -> dict[str, Any]:
    """`evaluation.length_control` as given (the report's: complete; the command line's or a
    caller's: perhaps some keys), on top of the schema's defaults."""
    return {**_schema_length_control(), **(settings or {})}


@functools.cache
def _schema_length_control() -> dict[str, Any]:
    # read once: the fit runs once per bootstrap replicate
    return section("evaluation")["length_control"]


def method(settings: dict[str, Any] | None = None) -> str:
    """What produced an LC, as metrics.csv records it beside each number: `joint` (the grid's
    own joint fit), `joint+difficulty`, `joint+gamed`, `joint+difficulty+gamed` (with
    AlpacaEval's published files), or `paper-comparable (alpaca-eval VERSION)`."""
    settings = with_defaults(settings)
    if settings["mode"] == "paper-comparable":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"paper-comparable (alpaca-eval {version('alpaca-eval')})"
        except PackageNotFoundError:
            return "paper-comparable"
    used = [name for key, name in (("difficulty_file", "difficulty"), ("gamed_file", "gamed"))
            if settings.get(key)]  # fmt: skip
    return "+".join(["joint", *used])


def win_rate_table(frame: pd.DataFrame, settings: dict[str, Any] | None = None) -> pd.DataFrame:
    """Win rates of every model in `frame` under `settings` (the config's
    `evaluation.length_control`: `mode`, `difficulty_l2`, `length_l2`; `difficulty_file` and
    `gamed_file`, AlpacaEval's published files where they are used)."""
    settings = with_defaults(settings)
    mode = settings["mode"]
    if mode == "joint":
        return joint_table(
            frame,
            float(settings["difficulty_l2"]),
            float(settings["length_l2"]),
            settings.get("difficulty_file"),
            settings.get("gamed_file"),
        )
    if mode == "paper-comparable":
        return package_table(frame)
    raise ValueError(f"length_control.mode: {mode!r} is not one of {', '.join(MODES)}")


INTERVAL_COLUMNS = [
    "win_rate_ci_low",
    "win_rate_ci_high",
    "lc_win_rate_ci_low",
    "lc_win_rate_ci_high",
]


def bootstrap_intervals(
    frame: pd.DataFrame,
    settings: dict[str, Any] | None = None,
    rounds: int = 100,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Percentile intervals of every model's win rate and length-controlled win rate over
    prompts: each round draws the prompts with replacement (the same draw for every model, so
    that the joint fit sees the models on the same prompts, as in the real set) and fits
    again. Columns: `model` and INTERVAL_COLUMNS, in percent."""
    import numpy as np
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    groups = {prompt: rows for prompt, rows in frame.groupby("prompt_id", sort=True)}
    prompts = list(groups)
    draws = []
    quiet = logging.getLogger("teachergrid")
    previous = quiet.level
    quiet.setLevel(logging.ERROR)  # the fit's extreme-change note, once per round otherwise
    try:
        for _ in tqdm(range(rounds), desc="bootstrap over prompts", disable=rounds == 0):
            chosen = rng.integers(0, len(prompts), size=len(prompts))
            sample = pd.concat([groups[prompts[i]] for i in chosen], ignore_index=True)
            draws.append(win_rate_table(sample, settings)[["model", "win_rate", "lc_win_rate"]])
    finally:
        quiet.setLevel(previous)
    models = sorted(frame["model"].unique())
    if not draws:
        return pd.DataFrame({"model": models, **{c: float("nan") for c in INTERVAL_COLUMNS}})
    replicates = pd.concat(draws, ignore_index=True)
    low, high = (1 - level) / 2, 1 - (1 - level) / 2
    out = replicates.groupby("model").quantile([low, high]).unstack()
    return pd.DataFrame(
        {
            "model": out.index,
            "win_rate_ci_low": out[("win_rate", low)].to_numpy(),
            "win_rate_ci_high": out[("win_rate", high)].to_numpy(),
            "lc_win_rate_ci_low": out[("lc_win_rate", low)].to_numpy(),
            "lc_win_rate_ci_high": out[("lc_win_rate", high)].to_numpy(),
        }
    )
