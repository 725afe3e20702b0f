"""A battery of malformed configs and data files: each gets one line, before any job, that
names the file and the key (or the file and the line) at fault."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from helpers import REPO, snakemake_cmd, tiny_config

from teachergrid.config import ConfigError, load_config

Edit = Callable[[dict, Path], None]


def teacher(i: int, **values) -> Edit:
    return lambda c, _: c["teachers"][i].update(values)


def base(i: int, **values) -> Edit:
    return lambda c, _: c["bases"][i].update(values)


def section(name: str, **values) -> Edit:
    return lambda c, _: c[name].update(values)


def data_file(text: bytes | str, key: str = "instructions", name: str = "data.jsonl") -> Edit:
    """Point a config's instruction source (or its eval split) at a file with this content."""

    def edit(c: dict, tmp: Path) -> None:
        path = tmp / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        target = c["instructions"] if key == "instructions" else c["instructions"]["eval"]
        target["source"] = str(path)

    return edit


def parquet_file(columns: dict) -> Edit:
    def edit(c: dict, tmp: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = tmp / "data.parquet"
        pq.write_table(pa.table(columns), path)
        c["instructions"]["source"] = str(path)

    return edit


def delete(*keys: str) -> Edit:
    def edit(c: dict, _: Path) -> None:
        node = c
        for key in keys[:-1]:
            node = node[int(key)] if key.isdigit() else node[key]
        del node[keys[-1]]

    return edit


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


GOOD = json.dumps({"instruction": "Add 1 and 2."})
HUGE = (GOOD + "\n") * 199_999 + '{"instruction": ""}\n'

# (case, edit, what the message must contain; "{file}" is the edited file)
CASES: list[tuple[str, Edit, str]] = [
    ("name with a slash", teacher(0, name="org/model"),
     "teachers[0].name: 'org/model' is not a valid name"),
    ("name with a space", teacher(1, name="my model"),
     "teachers[1].name: 'my model' is not a valid name"),
    ("unknown dtype of a teacher", teacher(0, dtype="fp8"),
     "teachers[0] (llama-s).dtype: 'fp8' is not one of"),
    ("unknown dtype of a base", base(2, dtype="int4"),
     "bases[2] (base-gemma).dtype: 'int4' is not one of"),
    ("misspelt key", teacher(1, temprature=0.7), "teachers[1] (llama-m): unknown key 'temprature'"),
    ("unknown top-level key", lambda c, _: c.update(reward_model="x"),
     "(top level): unknown key 'reward_model'"),
    ("base without a model", delete("bases", "0", "model"),
     "bases[0] (base-llama): 'model' is a required property"),
    ("no bases", delete("bases"), "'bases' is a required property"),
    ("no teachers", lambda c, _: c.update(teachers=[]),
     "teachers: [] should be non-empty"),
    ("a base named as a results folder", base(1, name="untuned"),
     "bases[1].name: 'untuned' is reserved"),
    ("teacher listed twice", lambda c, _: c["teachers"].append(dict(c["teachers"][0])),
     "teachers[12].name: 'llama-s' is listed twice (also teachers[0])"),
    ("undefined tiny model", teacher(0, model="tiny:nope"),
     "teachers[0] (llama-s).model: 'tiny:nope' is not defined under tiny_world.models"),
    ("tiny model of another role", teacher(0, model="tiny:base-llama"),
     "teachers[0] (llama-s).model: 'tiny:base-llama' is built as a base, not a teacher"),
    ("tiny model with an undefined tokenizer",
     lambda c, _: c["tiny_world"]["models"]["llama-s"].update(tokenizer="tok-x"),
     "tiny_world.models.llama-s.tokenizer: 'tok-x' is not defined under tiny_world.tokenizers"),
    ("local model folder missing", base(1, model="./checkpoints/none"),
     "bases[1] (base-qwen).model: local model path './checkpoints/none' does not exist"),
    ("chat template file missing", teacher(2, chat_template="./templates/none.jinja"),
     "teachers[2] (llama-l).chat_template: template file './templates/none.jinja' does not exist"),
    ("negative beta", lambda c, _: c["car"].update(beta=-0.5),
     "car.beta: -0.5 is less than the minimum of 0"),
    ("CAR reward model not configured", lambda c, _: c["car"].update(reward_model="armorm"),
     "car.reward_model: 'armorm' is not one of the reward_models (rm-llama)"),
    ("shift without offset", lambda c, _: c["car"].update(reward_mapping={"kind": "shift"}),
     "car.reward_mapping: kind 'shift' needs an offset"),
    ("sigmoid of scale 0",
     lambda c, _: c["car"].update(reward_mapping={"kind": "sigmoid", "scale": 0}),
     "car.reward_mapping.scale: 0 is less than or equal to the minimum of 0"),
    ("published scores without AP's columns",
     lambda c, tmp: c.update(evaluation={"scores": str(_write(tmp / "t.csv", "base,teacher\n"))}),
     "evaluation.scores: {file}: no column alpaca_eval_lc, arena_hard_wr"),
    ("published scores of another grid",
     lambda c, tmp: c.update(evaluation={"scores": str(_write(
         tmp / "t.csv", "base,teacher,alpaca_eval_lc,arena_hard_wr\nQwen2-1.5B,org/x,1,2\n"))}),
     "scores none of the configured cells (bases by name, teachers by name or hub id)"),
    ("published scores beside a judge",
     lambda c, tmp: c["evaluation"].update(scores=str(_write(tmp / "t.csv", "base\n"))),
     "published scores (evaluation.scores) replace fine-tuning and evaluation; remove it"),
    ("raw scores of a reward model on an open scale",
     lambda c, _: c["car"].update(reward_mapping={"kind": "none"}),
     "car.reward_mapping: kind 'none', but reward model(s) rm-llama can score <= 0"),
    ("undefined decoding", teacher(3, decoding="hot"),
     "teachers[3] (qwen-s).decoding: 'hot' is not defined under decodings"),
    ("greedy with 4 samples", lambda c, _: c["decodings"]["greedy"].update(n=4),
     "decodings.greedy: n > 1 needs temperature > 0"),
    ("negative temperature", lambda c, _: c["decodings"]["greedy"].update(temperature=-1),
     "decodings.greedy.temperature: -1 is less than the minimum of 0"),
    ("top_p above 1", lambda c, _: c["decodings"]["greedy"].update(top_p=1.5),
     "decodings.greedy.top_p: 1.5 is greater than the maximum of 1"),
    ("API teacher without api", lambda c, _: c["teachers"].append(
        {"name": "closed", "model": "openai/gpt-4", "backend": "openai"}),
     "teachers[12] (closed).api: backend 'openai' needs an api section"),
    ("tiny model behind an API", teacher(0, backend="openai", api={"model": "x"}),
     "teachers[0] (llama-s): a tiny model cannot use backend 'openai'"),
    ("unknown backend", teacher(0, backend="tgi"),
     "teachers[0] (llama-s).backend: 'tgi' is not one of ['hf', 'vllm', 'openai']"),
    ("tensor-parallel size 0", teacher(0, tensor_parallel_size=0),
     "teachers[0] (llama-s).tensor_parallel_size: 0 is less than the minimum of 1"),
    ("batch size as a string", teacher(4, batch_size="8"),
     "teachers[4] (qwen-m).batch_size: '8' is not of type 'integer'"),
    ("truncation too short", base(0, max_length=4),
     "bases[0] (base-llama).max_length: 4 is less than the minimum of 8"),
    ("memory cap below the request", base(1, resources={"mem_mb": 4000, "mem_mb_max": 3000}),
     "bases[1] (base-qwen).resources.mem_mb_max: 3000 is below mem_mb (4000)"),
    ("GPU model without a GPU",
     lambda c, _: c["finetune"]["resources"].update(gpu_model="a100"),
     "finetune.resources.gpu_model: set, but the job asks for no GPU (gpu: 0)"),
    ("CPUs per GPU without a GPU",
     lambda c, _: c["evaluation"]["resources"].update(cpus_per_gpu=4),
     "evaluation.resources.cpus_per_gpu: set, but the job asks for no GPU (gpu: 0)"),
    ("unknown resource", lambda c, _: c["finetune"]["resources"].update(memory="4G"),
     "finetune.resources: unknown key 'memory'"),
    ("qlora", lambda c, _: c["finetune"].update(method="qlora"),
     "finetune.method: 'qlora' is not supported"),
    ("accumulation given by hand", lambda c, _: c["finetune"].update(gradient_accumulation_steps=8),
     "finetune.gradient_accumulation_steps: remove it; each job derives it"),
    ("learning rate 0", lambda c, _: c["finetune"].update(learning_rate=0),
     "finetune.learning_rate: 0 is less than or equal to the minimum of 0"),
    ("effective batch not a multiple of the per-GPU batch",
     lambda c, _: c["finetune"].update(effective_batch_size=20, per_device_batch_size=8),
     "finetune.effective_batch_size: 20 is not a multiple of per_device_batch_size x GPUs = 8 x 1"),
    ("reference teacher not configured",
     lambda c, _: c["evaluation"]["alpaca_eval"].update(reference={"teacher": "gpt-5"}),
     "evaluation.alpaca_eval.reference.teacher: 'gpt-5' is not a configured teacher"),
    ("correlations leave out an unknown teacher",
     lambda c, _: c["evaluation"].update(exclude_from_correlations=["gpt-5"]),
     "evaluation.exclude_from_correlations: 'gpt-5' is not a configured teacher"),
    ("a fine-tuning filter names an unknown teacher",
     lambda c, _: c["finetune"].update(cells={"gpt-5": ["base-qwen"]}),
     "finetune.cells: 'gpt-5' is not a configured teacher"),
    ("evaluation decoding undefined", lambda c, _: c["evaluation"].update(decoding="hot"),
     "evaluation.decoding: 'hot' is not defined under decodings"),
    ("reward-model judge without a model",
     lambda c, _: c["evaluation"].update(judge={"kind": "reward_model"}),
     "evaluation.judge.model: a reward_model judge needs a model"),
    ("length-control mode of an old name",
     lambda c, _: c["evaluation"].update(length_control={"mode": "alpaca_eval"}),
     "evaluation.length_control.mode: 'alpaca_eval' is not one of ['joint', 'paper-comparable']"),
    ("a published difficulty for the package's own fit", lambda c, _: c["evaluation"].update(
        length_control={"mode": "paper-comparable",
                        "instruction_difficulty": {"source": "./d.csv"}}),
     "evaluation.length_control.instruction_difficulty: only the joint mode reads it "
     "(paper-comparable uses the alpaca-eval package's own)"),
    ("a hub difficulty without its file", lambda c, _: c["evaluation"].update(
        length_control={"instruction_difficulty": {"source": "tatsu-lab/alpaca_eval"}}),
     "evaluation.length_control.instruction_difficulty.file: which file of the hub data set "
     "'tatsu-lab/alpaca_eval'? (AlpacaEval's: instruction_difficulty.csv)"),
    ("a difficulty file that is not a number", lambda c, tmp: (
        (tmp / "d.csv").write_text("index,instruction_difficulty\n0,0.5\n1,n/a!\n"),
        c["evaluation"].update(
            length_control={"instruction_difficulty": {"source": str(tmp / "d.csv")}}),
    ), "evaluation.length_control.instruction_difficulty: {file}: row 2: difficulty 'n/a!' is "
       "not a number"),
    ("gamed baselines in another layout", lambda c, tmp: (
        (tmp / "g.csv").write_text("index,preference\n0,0.5\n"),
        c["evaluation"].update(
            length_control={"gamed_baselines": {"source": str(tmp / "g.csv")}}),
    ), "evaluation.length_control.gamed_baselines: {file}: missing column(s) std_delta_len, "
       "instruction_difficulty"),
    ("sample of 0 instructions", lambda c, _: c["instructions"].update(sample=0),
     "instructions.sample: 0 is less than the minimum of 1"),
    ("instruction file missing", lambda c, _: c["instructions"].update(source="./none.jsonl"),
     "instructions.source: local file './none.jsonl' does not exist"),
    # data files
    ("malformed JSON line", data_file(f'{GOOD}\n{GOOD}\n{{"instruction": "cut\n{GOOD}\n'),
     "{file}:3: not valid JSON"),
    ("a line that is not an object", data_file(f"{GOOD}\n[1, 2]\n"),
     "{file}:2: expected a JSON object"),
    ("a line without the column", data_file(f'{GOOD}\n{{"prompt": "x"}}\n'),
     "{file}:2: missing or empty string field 'instruction'"),
    ("an empty instruction", data_file(f'{GOOD}\n{{"instruction": "  "}}\n'),
     "{file}:2: missing or empty string field 'instruction'"),
    ("not UTF-8", data_file(GOOD.encode() + b'\n{"instruction": "caf\xe9"}\n'),
     "{file}:2: not UTF-8 text (byte 0xe9 at column 21); save the file as UTF-8"),
    ("empty file", data_file(""), "{file}: no instructions in file"),
    ("blank lines only", data_file("\n \n\n"), "{file}: no instructions in file"),
    ("huge file, bad last line", data_file(HUGE),
     "{file}:200000: missing or empty string field 'instruction'"),
    ("malformed eval split", data_file(f"{GOOD}\nnot json\n", key="eval", name="eval.jsonl"),
     "{file}:2: not valid JSON"),
    ("parquet without the column", parquet_file({"prompt": ["a", "b"]}),
     "{file}: no column 'instruction' (columns: prompt)"),
    ("parquet without the truth column", parquet_file({"instruction": ["a", "b"]}),
     "accuracy.column: {file}: record 1 has no answer in column 'answer' (columns: instruction)"),
    ("reference column missing from the prompts", lambda c, tmp: (
        (tmp / "prompts.jsonl").write_text(GOOD + "\n"),
        c["evaluation"]["alpaca_eval"].update(
            prompts={"source": str(tmp / "prompts.jsonl")}, reference={"column": "output"}),
    ), "evaluation.alpaca_eval.reference: {file}: record 1: no field 'output'"),
    ("an empty reference answer", lambda c, tmp: (
        (tmp / "prompts.jsonl").write_text(
            json.dumps({"instruction": "a", "output": "x"}) + "\n"
            + json.dumps({"instruction": "b", "output": " "}) + "\n"),
        c["evaluation"]["alpaca_eval"].update(
            prompts={"source": str(tmp / "prompts.jsonl")}, reference={"column": "output"}),
    ), "{file}: record 2: field 'output' is not a non-empty text"),
]  # fmt: skip


def test_the_battery_is_large_enough():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_naming_key_or_line(case, tmp_path):
    _, edit, expected = case
    cfg = tiny_config()
    edit(cfg, tmp_path)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    data = next(iter(sorted(tmp_path.glob("*.jsonl")) + sorted(tmp_path.glob("*.parquet"))
                     + sorted(tmp_path.glob("*.csv"))), None)  # fmt: skip
    wanted = expected.replace("{file}", str(data)) if "{file}" in expected else expected
    assert wanted in message, message
    if "{file}" not in expected:
        assert message.startswith(f"{path}: "), message


def test_every_mistake_of_a_config_is_reported_at_once_with_the_entry_and_a_guess(tmp_path):
    cfg = tiny_config()
    cfg["teachers"][2]["batchsize"] = 3
    cfg["bases"][0]["max_lenght"] = 100
    cfg["car"]["beta"] = -1
    cfg["evaluaton"] = {}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).splitlines() == [
        f"{path}: (top level): unknown key 'evaluaton' (did you mean 'evaluation'?)",
        f"{path}: bases[0] (base-llama): unknown key 'max_lenght' (did you mean 'max_length'?)",
        f"{path}: car.beta: -1 is less than the minimum of 0",
        f"{path}: teachers[2] (llama-l): unknown key 'batchsize' (did you mean 'batch_size'?)",
    ]


def test_every_model_entry_that_cannot_be_found_is_named_at_once(tmp_path):
    cfg = tiny_config()
    cfg["bases"][1]["model"] = "./checkpoints/none"
    cfg["teachers"][0]["model"] = "tiny:nope"
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 2, lines
    assert "teachers[0] (llama-s).model: 'tiny:nope' is not defined" in lines[0]
    assert "bases[1] (base-qwen).model: local model path './checkpoints/none'" in lines[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("study: [unclosed\n", ":2: not valid YAML"),
        ("- a\n- b\n", ": expected a mapping of keys at the top level"),
        ("", ": expected a mapping of keys at the top level"),
    ],
    ids=["YAML syntax", "a list", "an empty file"],
)
def test_config_files_that_are_not_configs(text, expected, tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}{expected}"), str(info.value)


def test_a_config_file_that_does_not_exist(tmp_path):
    with pytest.raises(ConfigError, match="config file does not exist"):
        load_config(tmp_path / "none.yaml")


def test_through_snakemake_a_bad_data_file_is_one_line_before_any_job(tmp_path):
    cfg = tiny_config()
    data_file(GOOD.encode() + b'\n{"instruction": "caf\xe9"}\n')(cfg, tmp_path)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        snakemake_cmd(tmp_path, path, "--cores", "1"),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out
    errors = [line for line in out.splitlines() if "configuration error" in line]
    assert errors == [
        f"teachergrid: configuration error: {tmp_path / 'data.jsonl'}:2: not UTF-8 text "
        "(byte 0xe9 at column 21); save the file as UTF-8"
    ]
    assert not (tmp_path / "results").exists()
