"""Published teachers: responses and reward scores read from a file in the exact layout of
Magpie-Align/Magpie-100K-Generator-Zoo (one row per instruction: `uuid`, `instruction`, one
struct column per generator with the response `content` and one score per reward model)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from helpers import quick_config

from teachergrid.config import ConfigError, load_config
from teachergrid.core.datafiles import stable_id
from teachergrid.core.published_format import PublishedDataError, dataset_key, score_keys
from teachergrid.screening.published import published_responses, published_rewards

RMS = ("ArmoRM-Llama3-8B-v0.1", "Skywork-Reward-Llama-3.1-8B", "Skywork-Reward-Gemma-2-27B")


def zoo_file(path: Path, instructions: list[str], generators: dict[str, int]) -> Path:
    """A Zoo-format parquet: for generator g with offset k, instruction i gets the response
    'answer {i} by g' and scores k + i / 100, k + 1 + i / 100, k + 2 + i / 100."""
    struct = pa.struct([("content", pa.string()), *[(rm, pa.float64()) for rm in RMS]])
    columns = {
        "uuid": pa.array([f"u{i}" for i in range(len(instructions))]),
        "instruction": pa.array(instructions),
    }
    for name, k in generators.items():
        columns[name] = pa.array(
            [
                {
                    "content": f"answer {i} by {name}",
                    **{rm: k + j + i / 100 for j, rm in enumerate(RMS)},
                }
                for i in range(len(instructions))
            ],
            type=struct,
        )
    pq.write_table(pa.table(columns), path)
    return path


def test_responses_and_scores_come_from_the_generators_column(tmp_path):
    texts = [f"question {i}" for i in range(5)]
    path = zoo_file(
        tmp_path / "zoo.parquet", texts, {"gemma-2-9b-it": 10, "Qwen2.5-7B-Instruct": 20}
    )
    spec = {"source": str(path), "local": True, "column": "Qwen2.5-7B-Instruct"}
    wanted = [{"id": stable_id(t), "instruction": t} for t in reversed(texts[:3])]
    rows = published_responses(spec, "qwen7", wanted)
    assert [r["response"] for r in rows] == [
        "answer 2 by Qwen2.5-7B-Instruct",
        "answer 1 by Qwen2.5-7B-Instruct",
        "answer 0 by Qwen2.5-7B-Instruct",
    ]
    assert [r["id"] for r in rows] == [w["id"] for w in wanted] and {r["sample"] for r in rows} == {
        0
    }
    scores = published_rewards(spec, "Skywork-Reward-Gemma-2-27B", wanted)
    assert [r["reward"] for r in scores] == pytest.approx([22.02, 22.01, 22.0])
    assert score_keys(spec) == list(RMS)
    with pytest.raises(PublishedDataError, match="no score 'Other-RM'"):
        published_rewards(spec, "Other-RM", wanted)
    with pytest.raises(PublishedDataError, match="1 of the study's 1 instructions are not in"):
        published_responses(spec, "qwen7", [{"id": "x", "instruction": "never asked"}])


def test_a_reward_models_name_in_the_data_is_the_last_part_of_its_hub_id():
    assert (
        dataset_key({"model": "Skywork/Skywork-Reward-Gemma-2-27B"}) == "Skywork-Reward-Gemma-2-27B"
    )
    assert (
        dataset_key({"model": "x/y", "dataset_key": "ArmoRM-Llama3-8B-v0.1"})
        == "ArmoRM-Llama3-8B-v0.1"
    )
    assert dataset_key({"model": "x/y", "dataset_key": None}) is None


def published_config(tmp_path: Path) -> Path:
    """The quick tiny study with two published teachers (from a Zoo-format file of its own
    instructions) instead of generated ones, the reward model reading their scores."""
    cfg = quick_config()
    source = Path(cfg["instructions"]["source"])
    texts = [json.loads(line)["instruction"] for line in source.read_text().splitlines()]
    zoo = zoo_file(tmp_path / "zoo.parquet", texts, {"gemma-2-9b-it": 1, "Qwen2.5-7B-Instruct": 3})
    cfg["teachers"] = [
        {
            "name": "gemma9",
            "dataset": {"source": str(zoo), "column": "gemma-2-9b-it"},
            "params_b": 9,
        },
        {
            "name": "qwen7",
            "dataset": {"source": str(zoo), "column": "Qwen2.5-7B-Instruct"},
            "params_b": 7,
        },
    ]
    cfg["bases"] = cfg["bases"][:2]  # two bases are enough, and half the training
    cfg["reward_models"][0]["dataset_key"] = "ArmoRM-Llama3-8B-v0.1"
    del cfg["evaluation"]
    path = tmp_path / "published.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_config_knows_which_scores_a_local_file_publishes(tmp_path):
    cfg = load_config(published_config(tmp_path))
    teacher = cfg["teachers"][0]
    assert teacher["backend"] == "dataset" and teacher["dataset"]["scores"] == list(RMS)
    assert teacher["resources"]["gpu"] == 0
    raw = yaml.safe_load(published_config(tmp_path).read_text())
    raw["teachers"][0]["dataset"]["column"] = "gemma-2-27b-it"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw))
    name = raw["teachers"][0]["name"]
    with pytest.raises(
        ConfigError, match=rf"teachers\[0\] \({name}\)\.dataset: .*no column 'gemma-2-27b-it'"
    ):
        load_config(tmp_path / "bad.yaml")


def test_a_published_teacher_of_plain_text_is_scored_by_the_reward_models(tmp_path):
    """A JSON-lines training set whose column is text (a screen's mix.jsonl) publishes no
    scores: its rewards come from the reward-model job, while the Zoo-format teachers' stay
    read from their data."""
    from teachergrid.support.plan import Plan

    path = published_config(tmp_path)
    raw = yaml.safe_load(path.read_text())
    lines = Path(raw["instructions"]["source"]).read_text().splitlines()
    texts = [json.loads(line)["instruction"] for line in lines]
    mix = tmp_path / "mix.jsonl"
    mix.write_text("".join(json.dumps({"instruction": t, "response": "a"}) + "\n" for t in texts))
    struct = tmp_path / "scored.jsonl"
    row = {"instruction": texts[0], "answer": {"content": "a", "ArmoRM-Llama3-8B-v0.1": 1.0}}
    struct.write_text(json.dumps(row) + "\n")
    raw["teachers"].append({"name": "mix", "dataset": {"source": str(mix), "column": "response"}})
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(path)
    assert cfg["teachers"][-1]["dataset"]["scores"] == []
    plan = Plan(cfg)
    assert plan.scored_teachers == ["gemma9", "qwen7"] and plan.published_rms == ["rm-llama"]
    assert score_keys({"source": str(struct), "local": True, "column": "answer"}) == [
        "ArmoRM-Llama3-8B-v0.1"
    ]
    with pytest.raises(PublishedDataError, match=r"scored\.jsonl: line 1: no column 'reply'"):
        score_keys({"source": str(struct), "local": True, "column": "reply"})


@pytest.mark.workflow
def test_screening_of_published_teachers_runs_no_generation_or_reward_job(tmp_path):
    import os
    import subprocess

    import pandas as pd
    from helpers import job_counts, snakemake_cmd

    path = published_config(tmp_path)
    proc = subprocess.run(
        snakemake_cmd(tmp_path, None, "screening", "--configfile", str(path)),
        capture_output=True, text=True, timeout=1200,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    counts = job_counts(out)
    assert counts["published_responses"] == 2 and counts["published_rewards"] == 2
    assert "generate" not in counts and "reward" not in counts
    assert counts["compatibility"] == 4
    # no teacher or reward model was built: the tiny world trained bases and the reference LM
    assert counts["tiny_model"] == 3
    table = pd.read_csv(tmp_path / "results/tiny-offline-grid/report/screening.csv")
    zoo = pq.read_table(tmp_path / "zoo.parquet").to_pylist()
    sampled = {
        json.loads(x)["instruction"]
        for x in (tmp_path / "results/tiny-offline-grid/instructions/train.jsonl")
        .read_text()
        .splitlines()
    }
    for teacher, column in (("gemma9", "gemma-2-9b-it"), ("qwen7", "Qwen2.5-7B-Instruct")):
        scores = [
            row[column]["ArmoRM-Llama3-8B-v0.1"] for row in zoo if row["instruction"] in sampled
        ]
        expected = sum(scores) / len(scores)
        assert table[table["teacher"] == teacher]["reward_rm-llama"].tolist() == pytest.approx(
            [expected] * 2
        )
