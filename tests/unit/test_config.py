"""Configuration errors: each is one clear line naming the file and key (or data line)."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import TINY, snakemake_cmd, with_absolute_sources

from teachergrid.config import ConfigError, load_config, validate

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def tiny_raw():
    return yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text())


def check(raw, tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def error_of(raw, tmp_path) -> str:
    with pytest.raises(ConfigError) as info:
        check(raw, tmp_path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_shipped_configs_are_valid():
    tiny = load_config(REPO / "configs" / "tiny.yaml")
    assert len(tiny["teachers"]) >= 6 and len(tiny["bases"]) >= 3
    assert tiny["instructions"]["local"] is True
    real = load_config(REPO / "config.yaml")
    assert len(real["teachers"]) == 20 and len(real["bases"]) == 5
    assert {rm["name"] for rm in real["reward_models"]} == {
        "armorm",
        "skywork_llama",
        "skywork_gemma",
    }
    # the 19 open teachers are read from the published Generator Zoo: no GPU
    published = [t["name"] for t in real["teachers"] if t["backend"] == "dataset"]
    assert len(published) == 19 and "GPT-4" not in published
    assert {t["resources"]["gpu"] for t in real["teachers"]} == {0}
    assert real["finetune"]["learning_rate"] == 2e-5
    # GPT-4 is fine-tuned on one base, as in the paper; the open teachers on all five
    gpt4 = [base for base, teacher in real["finetune_cells"] if teacher == "GPT-4"]
    assert gpt4 == ["Llama-3.1-Minitron-4B"] and len(real["finetune_cells"]) == 19 * 5 + 1
    # a new base is screened against the 19 published teachers (GPT-4's responses would have
    # to be generated through the API first)
    assert real["screen"]["teachers"] == published


def test_unknown_key(tiny_raw, tmp_path):
    raw = with_absolute_sources(tiny_raw)
    raw["teachers"][1]["temprature"] = 0.7
    msg = error_of(raw, tmp_path)
    assert "study.yaml" in msg and "teachers[1]" in msg and "'temprature'" in msg


def test_unknown_top_level_key(tiny_raw, tmp_path):
    raw = with_absolute_sources(tiny_raw)
    raw["reward_model"] = "x"
    assert "unknown key 'reward_model'" in error_of(raw, tmp_path)


def test_teacher_listed_twice(tiny_raw, tmp_path):
    raw = with_absolute_sources(tiny_raw)
    raw["teachers"].append(dict(raw["teachers"][0]))
    msg = error_of(raw, tmp_path)
    assert f"'{raw['teachers'][0]['name']}' is listed twice" in msg
    assert f"teachers[{len(raw['teachers']) - 1}].name" in msg


def test_missing_model_key(tiny_raw, tmp_path):
    raw = with_absolute_sources(tiny_raw)
    del raw["bases"][0]["model"]
    msg = error_of(raw, tmp_path)
    assert "bases[0]" in msg and "'model' is a required property" in msg


def test_missing_local_model_path(tiny_raw, tmp_path):
    raw = with_absolute_sources(tiny_raw)
    raw["bases"][2]["model"] = "./checkpoints/not-there"
    msg = error_of(raw, tmp_path)
    assert "bases[2] (base-gemma).model" in msg and "does not exist" in msg


def test_undefined_tiny_model(tiny_raw, tmp_path):
    raw = with_absolute_sources(tiny_raw)
    raw["teachers"][0]["model"] = "tiny:nope"
    assert "teachers[0] (llama-s).model: 'tiny:nope' is not defined" in error_of(raw, tmp_path)


def test_negative_beta(tiny_raw, tmp_path):
    raw = with_absolute_sources(tiny_raw)
    raw["car"]["beta"] = -0.5
    msg = error_of(raw, tmp_path)
    assert "car.beta" in msg and "-0.5" in msg


def test_car_reward_model_must_exist(tiny_raw, tmp_path):
    raw = with_absolute_sources(tiny_raw)
    raw["car"]["reward_model"] = "armorm"
    assert "car.reward_model: 'armorm' is not one of" in error_of(raw, tmp_path)


def test_malformed_instruction_line_names_file_and_line(tiny_raw, tmp_path):
    data = tmp_path / "instructions.jsonl"
    good = json.dumps({"instruction": "Add 1 and 2."})
    data.write_text(f'{good}\n{good}\n{{"instruction": "unterminated\n{good}\n')
    raw = with_absolute_sources(tiny_raw)
    raw["instructions"]["source"] = str(data)
    msg = error_of(raw, tmp_path)
    assert msg.startswith(f"{data}:3: not valid JSON")


def test_instruction_line_without_the_column(tiny_raw, tmp_path):
    data = tmp_path / "instructions.jsonl"
    data.write_text(json.dumps({"instruction": "ok"}) + "\n" + json.dumps({"prompt": "x"}) + "\n")
    raw = with_absolute_sources(tiny_raw)
    raw["instructions"]["source"] = str(data)
    assert f"{data}:2: missing or empty string field 'instruction'" in error_of(raw, tmp_path)


def test_greedy_with_several_samples_is_rejected(tiny_raw, tmp_path):
    raw = with_absolute_sources(tiny_raw)
    raw["decodings"]["greedy"]["n"] = 4
    assert "decodings.greedy: n > 1 needs temperature > 0" in error_of(raw, tmp_path)


def test_openai_teacher_needs_api_section(tiny_raw, tmp_path):
    raw = with_absolute_sources(tiny_raw)
    raw["teachers"].append({"name": "closed", "model": "openai/gpt-4", "backend": "openai"})
    assert "backend 'openai' needs an api section" in error_of(raw, tmp_path)


def test_defaults_are_filled_in(tiny_raw):
    cfg = validate(with_absolute_sources(tiny_raw), file="t.yaml", base_dir=REPO / "configs")
    teacher = cfg["teachers"][0]
    assert teacher["backend"] == "hf" and teacher["decoding"] == "greedy"
    assert teacher["trust_remote_code"] is False
    assert cfg["decodings"]["greedy"]["temperature"] == 0.0


def test_snakemake_reports_config_error_in_one_line_without_traceback(tiny_raw, tmp_path):
    raw = with_absolute_sources(tiny_raw)
    raw["car"]["beta"] = -1
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    proc = subprocess.run(
        snakemake_cmd(tmp_path, path, "-n"), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if "configuration error" in line]
    assert errors == [
        f"teachergrid: configuration error: {path}: car.beta: -1 is less than the minimum of 0"
    ]


def test_cli_check_config(tmp_path, capsys):
    from teachergrid.cli import main

    assert main(["check-config", str(REPO / "configs" / "tiny.yaml")]) == 0
    assert "12 teachers x 4 bases" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: [unclosed\n")
    assert main(["check-config", str(bad)]) == 2
    assert f"{bad}:" in capsys.readouterr().err


def test_check_config_lists_the_hub_references_without_a_revision(capsys):
    from teachergrid.cli import main
    from teachergrid.config import unpinned

    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    raw["instructions"]["revision"] = None
    raw["teachers"][14]["dataset"]["revision"] = None
    raw["bases"][0]["revision"] = "1" * 40
    loose = unpinned(validate(raw, "config.yaml", base_dir=REPO))
    assert loose[:2] == [
        "instructions: Magpie-Align/Magpie-100K-Generator-Zoo",
        "teachers[gemma-2-9b-it].dataset: Magpie-Align/Magpie-100K-Generator-Zoo",
    ]
    # pinned, local and API references are not listed (the benchmark files are pinned; the
    # instruction difficulty's commit is not known here)
    assert "bases[Qwen2-1.5B]: Qwen/Qwen2-1.5B" not in loose
    assert "bases[Gemma-2-2B]: google/gemma-2-2b" in loose
    assert [line for line in loose if "GPT-4" in line or "evaluation" in line] == [
        "evaluation.length_control.instruction_difficulty: tatsu-lab/alpaca_eval",
        "evaluation.length_control.gamed_baselines: tatsu-lab/alpaca_eval",
    ]
    assert len(loose) == 2 + 4 + 3 + 1 + 2
    assert unpinned(load_config(REPO / "configs" / "tiny.yaml")) == []
    assert main(["check-config", str(REPO / "config.yaml")]) == 0
    assert "11 hub references have no revision" in capsys.readouterr().out


def test_memory_grows_with_the_attempt_up_to_the_cap():
    from teachergrid.support.resources import complete, memory_mb

    default_cap = complete({"mem_mb": 1000}, "x")
    assert [memory_mb(default_cap, a) for a in (1, 2, 3, 4)] == [1000, 2000, 2000, 2000]
    capped = complete({"mem_mb": 1000, "mem_mb_max": 2500}, "x")
    assert [memory_mb(capped, a) for a in (1, 2, 3, 4)] == [1000, 2000, 2500, 2500]


def test_memory_cap_below_the_first_request(tiny_raw, tmp_path):
    raw = with_absolute_sources(tiny_raw)
    raw["bases"][1]["resources"] = {"mem_mb": 4000, "mem_mb_max": 3000}
    assert error_of(raw, tmp_path).endswith(
        "bases[1] (base-qwen).resources.mem_mb_max: 3000 is below mem_mb (4000)"
    )


def test_gpu_model_without_a_gpu(tiny_raw, tmp_path):
    raw = with_absolute_sources(tiny_raw)
    raw["finetune"]["resources"]["gpu_model"] = "a100"
    message = error_of(raw, tmp_path)
    assert message.endswith(
        "finetune.resources.gpu_model: set, but the job asks for no GPU (gpu: 0)"
    )


def test_api_teacher_asks_for_no_gpu_whatever_the_stage_default(tiny_raw, tmp_path):
    raw = with_absolute_sources(tiny_raw)
    raw["generation"]["resources"] = {"gpu": 1, "gpu_model": "h100", "cpus_per_gpu": 8,
                                      "mem_mb": 64000, "runtime": 60}  # fmt: skip
    raw["teachers"].append(
        {"name": "closed", "model": "gpt-4", "backend": "openai", "api": {"model": "gpt-4"}}
    )
    raw["teachers"].append(
        {"name": "big", "model": "org/big", "backend": "vllm", "tensor_parallel_size": 4}
    )
    cfg = check(raw, tmp_path)
    res = {t["name"]: t["resources"] for t in cfg["teachers"]}
    assert (res["closed"]["gpu"], res["closed"]["gpu_model"], res["closed"]["cpus_per_gpu"]) == (
        0,
        None,
        None,
    )
    assert (res["big"]["gpu"], res["big"]["gpu_model"], res["big"]["mem_mb_max"]) == (
        4,
        "h100",
        128000,
    )


def test_generation_published_false_regenerates_the_published_teachers():
    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    raw["generation"]["published"] = False
    cfg = validate(raw, "config.yaml", base_dir=REPO)
    tp = {t["name"]: t["resources"]["gpu"] for t in cfg["teachers"]}
    assert tp["Qwen2.5-72B-Instruct"] == 4 and tp["GPT-4"] == 0 and tp["gemma-2-2b-it"] == 1
    assert not any("dataset" in t for t in cfg["teachers"])
    assert {t["backend"] for t in cfg["teachers"]} == {"vllm", "hf", "openai"}


def test_finetune_cells_filter_which_cells_are_fine_tuned(tiny_raw, tmp_path):
    raw = with_absolute_sources(tiny_raw)
    raw["finetune"]["cells"] = {"qwen-l": ["base-qwen"]}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(path)
    assert len(cfg["finetune_cells"]) == 12 * 4 - 3
    assert ["base-qwen", "qwen-l"] in cfg["finetune_cells"]
    assert ["base-llama", "qwen-l"] not in cfg["finetune_cells"]
    assert "cells" not in cfg["finetune"]  # editing the filter reruns no training that stays
    raw["finetune"]["cells"] = {"qwen-l": ["base-mistral"]}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"finetune\.cells\.qwen-l: 'base-mistral' is not"):
        load_config(path)


def test_screen_teachers_default_to_every_teacher_not_answered_through_an_api(tiny_raw, tmp_path):
    raw = with_absolute_sources(tiny_raw)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    names = [t["name"] for t in raw["teachers"]]
    assert load_config(path)["screen"]["teachers"] == names
    # a published training set (a screen's mix) joins the generated teachers
    mix = tmp_path / "mix.jsonl"
    mix.write_text(json.dumps({"instruction": "q", "response": "a"}) + "\n")
    raw["teachers"].append({"name": "mix", "dataset": {"source": str(mix), "column": "response"}})
    path.write_text(yaml.safe_dump(raw))
    assert load_config(path)["screen"]["teachers"] == [*names, "mix"]
    raw["teachers"].pop()
    raw["screen"] = {"teachers": ["llama-m", "qwen-m"]}
    path.write_text(yaml.safe_dump(raw))
    assert load_config(path)["screen"]["teachers"] == ["llama-m", "qwen-m"]
    raw["screen"] = {"teachers": ["llama-m", "mistral-m"]}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"screen\.teachers: 'mistral-m' is not a configured"):
        load_config(path)
    raw["screen"] = {"teachers": ["llama-m"]}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"screen\.teachers: a ranking needs at least two"):
        load_config(path)


def test_the_config_reference_is_the_schema(capsys):
    """docs/config.md is printed from the schema (`teachergrid config-reference`): a key, a
    default or a description changed in one and not the other fails here."""
    from teachergrid.cli import main

    assert main(["config-reference"]) == 0
    printed = capsys.readouterr().out
    assert printed == (REPO / "docs" / "config.md").read_text(), (
        "docs/config.md is stale: teachergrid config-reference > docs/config.md"
    )
    # every default the validator fills is in the reference, e.g. the fine-tuning rate
    assert "| `finetune.learning_rate` | number | `2e-05` |" in printed


def test_every_default_lives_in_the_schema():
    """A minimal study validates into a config where the keys downstream code reads are set,
    each to its schema default (no module re-defaults them)."""
    from teachergrid.config import default_of, section

    cfg = load_config(TINY)
    assert cfg["finetune"]["lora"]["r"] == default_of("finetune", "lora", "r") == 16
    assert section("finetune")["learning_rate"] == 2e-5
    assert cfg["compatibility"]["metrics"] == {
        "score_turn_end": True,
        "ifd_context": "start",
        "ppl": "mean_exp",
        "loss_average": "response",
    }
    # a default that is another key's value: the evaluation prompts' seed is the instructions'
    assert cfg["instructions"]["eval"]["seed"] == cfg["instructions"]["seed"]
