"""Load, validate and normalise a study configuration.

Every check that can fail on the user's input runs here, before Snakemake builds a single job:
a bad key found after a 20-hour generation job is a wasted GPU day. Each problem becomes one
`ConfigError` whose message names the file and the key (or the line of a data file).
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from teachergrid.core.chat import NAMED_TEMPLATES
from teachergrid.evaluation.judges import OFFICIAL_PROMPTS
from teachergrid.evaluation.winrates import DIFFICULTY_L2, LENGTH_L2
from teachergrid.support.resources import DEFAULT_RESOURCES, complete

TINY_PREFIX = "tiny:"
# How the compatibility metrics are defined (README, "Definitions that matter for the numbers").
METRIC_DEFAULTS = {
    "score_turn_end": True,
    "ifd_context": "start",
    "ppl": "mean_exp",
    "loss_average": "response",
}

DEFAULT_DECODING: dict[str, Any] = {
    "temperature": 0.0,
    "top_p": 1.0,
    "n": 1,
    "max_new_tokens": 1024,
    "seed": 0,
}


class ConfigError(ValueError):
    """A problem with the user's configuration or input data, phrased as one line (or several
    such lines, one per problem, where the schema finds more than one)."""


@functools.cache
def schema() -> dict[str, Any]:
    text = resources.files("teachergrid").joinpath("schemas/config.schema.yaml").read_text()
    return yaml.safe_load(text)


def _entry(section: str, index: int, entry: Any) -> str:
    """How a message names a list entry: its position and, where it has one, its name
    (`teachers[3] (qwen-7b)`), so that the user finds it in a long list."""
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"{section}[{index}] ({name})" if isinstance(name, str) else f"{section}[{index}]"


def _where(path: list[Any] | Any, raw: Any = None) -> str:
    """A key's place as a message names it; list entries with their name where they have one
    (not where the name itself is the problem)."""
    parts = list(path)
    out = ""
    node = raw
    for k, part in enumerate(parts):
        if isinstance(part, int):
            entry = node[part] if isinstance(node, list) and part < len(node) else None
            if parts[k + 1 : k + 2] == ["name"] or not isinstance(entry, dict):
                out += f"[{part}]"
            else:
                out += _entry("", part, entry)
        else:
            out += f".{part}" if out else str(part)
        node = node[part] if isinstance(node, (dict, list)) else None
    return out or "(top level)"


def _keys(node: Any) -> set[str]:
    """The keys a schema node allows: its own properties and those of the definitions it
    combines (`$ref`, `allOf`, `anyOf`, `oneOf`)."""
    if not isinstance(node, dict):
        return set()
    keys = set(node.get("properties", {}))
    ref = node.get("$ref", "")
    if ref.startswith("#/$defs/"):
        keys |= _keys(schema()["$defs"][ref.removeprefix("#/$defs/")])
    for combined in ("allOf", "anyOf", "oneOf"):
        for part in node.get(combined, []):
            keys |= _keys(part)
    return keys


def _did_you_mean(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def schema_problems(raw: Any) -> list[str]:
    """Every problem the schema finds in a parsed config, one line each, sorted by key: one per
    place (the most telling of the errors there), so that a user fixes them in one go."""
    by_place: dict[tuple[Any, ...], list[ValidationError]] = {}
    for error in Draft202012Validator(schema()).iter_errors(raw):
        by_place.setdefault(tuple(error.absolute_path), []).append(error)
    lines = []
    for place, errors in sorted(by_place.items(), key=lambda item: [str(x) for x in item[0]]):
        # a value failing its own check inside an entry also leaves the entry's keys
        # "unevaluated": that error names no problem of its own (`_most_telling`)
        inner = any(other[: len(place)] == place and other != place for other in by_place)
        if inner and all(e.validator == "unevaluatedProperties" for e in errors):
            continue
        line = _describe(_most_telling(errors), raw)
        if line:
            lines.append(line)
    return list(dict.fromkeys(lines))


def _describe(error: ValidationError, raw: Any = None) -> str:
    """Turn a jsonschema error into a short sentence that names the key."""
    where = _where(error.absolute_path, raw)
    if error.validator == "pattern" and list(error.absolute_path)[-1:] == ["name"]:
        return (
            f"{where}: {error.instance!r} is not a valid name: it names files and folders, so "
            "letters, digits and . _ + - only, starting with a letter or digit"
        )
    if error.validator == "pattern" and where == "study":
        return (
            f"study: {error.instance!r} is not a folder name (every output goes under "
            "results/<study>/): letters, digits and . _ - only, starting with a letter or digit"
        )
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        allowed = sorted(_keys(error.schema))
        extra = sorted(set(error.instance) - set(allowed))
        if error.validator == "unevaluatedProperties":
            extra = [k for k in extra if k in error.message] or extra
        return "; ".join(f"{where}: unknown key {k!r}{_did_you_mean(k, allowed)}" for k in extra)
    return f"{where}: {error.message}"


def _most_telling(errors: list[ValidationError]) -> ValidationError:
    """The error to show. A value that fails its own check (a name's pattern, a dtype's enum)
    inside a shared definition also makes every key of that definition "unevaluated"; that
    second error lists every key and names no problem, so it is shown only when alone."""
    real = [e for e in errors if e.validator != "unevaluatedProperties"]
    return best_match(real or errors)


def _is_local_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or ref in (".", "..")


def resolve_path(ref: str, base_dir: Path) -> Path:
    path = Path(os.path.expanduser(ref))
    return path if path.is_absolute() else (base_dir / path).resolve()


def portable(path: Path, working_dir: Path | None) -> str:
    """A resolved path as jobs are told it: relative to the working directory when it lies
    inside it, so that moving the project (working directory, configs and data together)
    changes no job's params and reruns nothing; absolute otherwise."""
    if working_dir is not None:
        try:
            return str(path.relative_to(working_dir.resolve()))
        except ValueError:
            pass
    return str(path)


# Folder names the workflow writes beside a base's cells (results/eval/untuned/).
RESERVED_NAMES = {"bases": ("untuned",)}


def _check_names(items: list[dict[str, Any]], section: str, file: str) -> None:
    """Every name of a section is unique and none is reserved."""
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        name = item["name"]
        if name in RESERVED_NAMES.get(section, ()):
            raise ConfigError(
                f"{file}: {section}[{i}].name: {name!r} is reserved (results/eval/{name}/ holds "
                "the bases' answers before fine-tuning); choose another name"
            )
        if name in seen:
            raise ConfigError(
                f"{file}: {section}[{i}].name: {name!r} is listed twice "
                f"(also {section}[{seen[name]}])"
            )
        seen[name] = i


def check_instruction_file(
    path: Path, column: str, answers: str | None = None, answers_key: str = "accuracy.column"
) -> int:
    """Check a local instruction file line by line; return the number of records. With
    `answers` (the ground truth's column, `accuracy.column`, named in messages as
    `answers_key`), every record must also carry its exact answer there, in the same pass.

    A malformed line is reported with its number so the user can fix the file in an editor.
    """
    path = path.absolute()  # messages name the file wherever the jobs' working directory is
    if not path.exists():
        raise ConfigError(f"{path}: instruction file does not exist")

    def no_answer(number: int, columns: list[str]) -> ConfigError:
        return ConfigError(
            f"{answers_key}: {path}: record {number} has no answer in column {answers!r} "
            f"(columns: {', '.join(columns)})"
        )

    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        if column not in names:
            raise ConfigError(f"{path}: no column {column!r} (columns: {', '.join(names)})")
        if answers is not None:
            if answers not in names:
                raise no_answer(1, names)
            values = pq.read_table(path, columns=[answers]).column(answers)
            if values.null_count:
                raise no_answer(values.is_null().to_pylist().index(True) + 1, names)
        return pq.read_metadata(path).num_rows
    count = 0
    unanswered: ConfigError | None = None
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{path}:{lineno}: not UTF-8 text (byte {raw[exc.start]:#04x} at column "
                    f"{exc.start + 1}); save the file as UTF-8"
                ) from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise ConfigError(f"{path}:{lineno}: expected a JSON object")
            value = record.get(column)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{path}:{lineno}: missing or empty string field {column!r}")
            count += 1
            if answers is not None and unanswered is None and record.get(answers) is None:
                unanswered = no_answer(count, list(record))  # after the file's own problems
    if count == 0:
        raise ConfigError(f"{path}: no instructions in file")
    if unanswered is not None:
        raise unanswered
    return count


def _resolve_entry(
    entry: dict[str, Any],
    where: str,
    role: str,
    gen: dict[str, Any],
    base_dir: Path,
    tiny: dict[str, Any],
    file: str,
    working_dir: Path | None,
) -> None:
    """A model entry's defaults, and where its model (or its published data) comes from."""
    _fill_model_defaults(entry)
    if "dataset" in entry and "model" in entry and not gen["published"]:
        del entry["dataset"]  # generation.published: false regenerates it
    if "dataset" not in entry:
        _resolve_model(entry, where, role, base_dir, tiny, file, working_dir)
        return
    # a published teacher: no model to resolve
    from teachergrid.screening.published import PublishedDataError, score_keys

    published = entry["dataset"]
    published.setdefault("revision", None)
    published.setdefault("split", "train")
    published.setdefault("instruction_column", "instruction")
    _resolve_source(published, base_dir, f"{where}.dataset", file, working_dir)
    try:  # the scores a local file publishes are known before any job
        published["scores"] = score_keys(published)
    except PublishedDataError as exc:
        raise ConfigError(f"{file}: {where}.dataset: {exc}") from None
    entry["backend"] = "dataset"


def _check_benchmark_file(section: dict[str, Any], where: str, file: str) -> None:
    """A local benchmark file exists and parses, and every record has the configured fields,
    text where the field is a prompt or an answer (errors name the record)."""
    from teachergrid.core.datafiles import DataFileError, read_file_records
    from teachergrid.evaluation.benchmark_data import BenchmarkDataError, field

    path = Path(section["source"]).absolute()
    try:
        records = read_file_records(path)
        if not records:
            raise BenchmarkDataError(f"{path}: no records")
        for number, record in enumerate(records, 1):
            if section.get("id"):
                field(record, section["id"], f"{path}: record {number}: ")
            value = field(record, section["column"], f"{path}: record {number}: ")
            if not isinstance(value, str) or not value.strip():
                raise BenchmarkDataError(
                    f"{path}: record {number}: field {section['column']!r} is not a non-empty text"
                )
    except (DataFileError, OSError) as exc:
        raise ConfigError(f"{file}: {where}: {exc}") from None


def _resolve_source(
    section: dict[str, Any], base_dir: Path, where: str, file: str, working_dir: Path | None
) -> None:
    source = section["source"]
    if _is_local_path(source) or source.endswith((".jsonl", ".json", ".parquet")):
        path = resolve_path(source, base_dir)
        if not path.exists():
            raise ConfigError(f"{file}: {where}.source: local file {source!r} does not exist")
        section["source"] = portable(path, working_dir)
        section["local"] = True
    else:
        section["local"] = False


def _resolve_model(
    entry: dict[str, Any],
    where: str,
    role: str,
    base_dir: Path,
    tiny: dict[str, Any],
    file: str,
    working_dir: Path | None,
) -> None:
    ref = entry["model"]
    if ref.startswith(TINY_PREFIX):
        name = ref[len(TINY_PREFIX) :]
        recipe = tiny.get("models", {}).get(name)
        if recipe is None:
            raise ConfigError(
                f"{file}: {where}.model: {ref!r} is not defined under tiny_world.models"
            )
        if recipe["role"] != role:
            raise ConfigError(
                f"{file}: {where}.model: {ref!r} is built as a {recipe['role']}, not a {role}"
            )
        entry["tiny"] = name
        entry["local"] = True
    elif _is_local_path(ref):
        path = resolve_path(ref, base_dir)
        if not path.is_dir():
            raise ConfigError(f"{file}: {where}.model: local model path {ref!r} does not exist")
        entry["model"] = portable(path, working_dir)
        entry["local"] = True
    else:
        entry["local"] = False
    template = entry.get("chat_template")
    if template not in (None, "default", *NAMED_TEMPLATES):
        path = resolve_path(template, base_dir)
        if not path.is_file():
            raise ConfigError(
                f"{file}: {where}.chat_template: template file {template!r} does not exist"
            )
        entry["chat_template"] = portable(path, working_dir)


def _fill_model_defaults(entry: dict[str, Any]) -> None:
    entry.setdefault("revision", None)
    entry.setdefault("family", entry["name"])
    entry.setdefault("dtype", "auto")
    entry.setdefault("trust_remote_code", False)
    entry.setdefault("chat_template", None)


def _resources(
    cfg: dict[str, Any],
    stage: str,
    override: dict[str, Any] | None,
    file: str,
    where: str,
) -> dict[str, Any]:
    """A job's resources: the stage's defaults, the stage's section, then the model's own."""
    merged = dict(DEFAULT_RESOURCES.get(stage, {}))
    merged.update((cfg.get(stage) or {}).get("resources", {}))
    merged.update(override or {})
    return _completed(merged, file, where)


def _completed(resources: dict[str, Any], file: str, where: str) -> dict[str, Any]:
    try:
        return complete(resources, f"{where}.resources")
    except ValueError as exc:
        raise ConfigError(f"{file}: {exc}") from None


def _retired_keys(raw: dict[str, Any], file: str) -> None:
    """Settings that no longer exist, with what replaces them."""
    ft = raw.get("finetune") if isinstance(raw.get("finetune"), dict) else {}
    if "gradient_accumulation_steps" in ft:
        raise ConfigError(
            f"{file}: finetune.gradient_accumulation_steps: remove it; each job derives it from "
            "effective_batch_size / (per_device_batch_size x its GPUs), so the effective batch "
            "stays the same on any number of GPUs"
        )
    if ft.get("method") == "qlora":
        raise ConfigError(
            f"{file}: finetune.method: 'qlora' is not supported (teachergrid does not quantise "
            "the base); use 'lora' or 'full'"
        )


def validate(
    raw: Any, file: str = "config", base_dir: Path | None = None, working_dir: Path | None = None
) -> dict[str, Any]:
    """Validate a parsed configuration and return a normalised copy (defaults filled in).

    `base_dir`: what relative paths in the config are relative to (the config file's folder).
    `working_dir`: the working directory of the jobs; paths inside it are given relative to it."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: expected a mapping of keys at the top level")
    base_dir = base_dir or Path.cwd()
    _retired_keys(raw, file)
    problems = schema_problems(raw)
    if problems:
        raise ConfigError("\n".join(f"{file}: {line}" for line in problems))
    cfg = copy.deepcopy(raw)
    tiny = cfg.get("tiny_world") or {}

    if tiny:
        for name, recipe in tiny["models"].items():
            if recipe["tokenizer"] not in tiny["tokenizers"]:
                raise ConfigError(
                    f"{file}: tiny_world.models.{name}.tokenizer: "
                    f"{recipe['tokenizer']!r} is not defined under tiny_world.tokenizers"
                )
        if "corpus" in tiny:
            tiny["corpus"] = portable(resolve_path(tiny["corpus"], base_dir), working_dir)
            if not Path(tiny["corpus"]).exists():
                raise ConfigError(f"{file}: tiny_world.corpus: {tiny['corpus']} does not exist")

    # with ground truth, the instruction files carry each task's exact answer: checked in the
    # same pass as the instructions themselves
    acc = cfg.get("accuracy")
    if acc is not None:
        acc.setdefault("checker", "exact")
        acc.setdefault("column", "answer")
    answers = {"answers": acc["column"], "answers_key": f"{file}: accuracy.column"} if acc else {}
    inst = cfg["instructions"]
    inst.setdefault("column", "instruction")
    inst.setdefault("split", "train")
    inst.setdefault("sample", None)
    inst.setdefault("seed", 42)
    _resolve_source(inst, base_dir, "instructions", file, working_dir)
    if inst["local"]:
        check_instruction_file(Path(inst["source"]), inst["column"], **answers)
    if "eval" in inst:
        ev = inst["eval"]
        ev.setdefault("column", inst["column"])
        ev.setdefault("split", "test")
        ev.setdefault("sample", None)
        ev.setdefault("seed", inst["seed"])
        _resolve_source(ev, base_dir, "instructions.eval", file, working_dir)
        if ev["local"]:
            check_instruction_file(Path(ev["source"]), ev["column"], **answers)

    if acc is not None:
        for where, section in (("instructions", inst), ("instructions.eval", inst.get("eval"))):
            if section is not None and not section["local"]:
                raise ConfigError(
                    f"{file}: accuracy: {where} must be a local file that carries the answers"
                )
        acc["screening"] = inst["source"]
        acc["evaluation"] = inst["eval"]["source"] if "eval" in inst else None

    decodings = cfg.setdefault("decodings", {})
    decodings.setdefault("greedy", {})
    for name, setting in decodings.items():
        decodings[name] = {**DEFAULT_DECODING, **setting}
        if decodings[name]["temperature"] == 0 and decodings[name]["n"] > 1:
            raise ConfigError(
                f"{file}: decodings.{name}: n > 1 needs temperature > 0 "
                "(greedy decoding gives n identical answers)"
            )

    gen = cfg.setdefault("generation", {})
    gen.setdefault("shard_size", 1000)
    gen.setdefault("published", True)

    # every model entry is resolved on its own: the problems of all of them are reported
    # together (a study moved to another cluster has several model paths to fix at once)
    model_problems: list[str] = []
    for section, role in (("teachers", "teacher"), ("bases", "base"), ("reward_models", "reward")):
        _check_names(cfg[section], section, file)
        for i, entry in enumerate(cfg[section]):
            try:
                _resolve_entry(entry, _entry(section, i, entry), role, gen, base_dir, tiny, file,
                               working_dir)  # fmt: skip
            except ConfigError as exc:
                model_problems.append(str(exc))
    if model_problems:
        raise ConfigError("\n".join(model_problems))

    for i, teacher in enumerate(cfg["teachers"]):
        where = _entry("teachers", i, teacher)
        teacher.setdefault("backend", "hf")
        teacher.setdefault("decoding", "greedy")
        teacher.setdefault("tensor_parallel_size", 1)
        teacher.setdefault("max_model_len", None)
        teacher.setdefault("gpu_memory_utilization", 0.9)
        teacher.setdefault("stop", [])
        teacher.setdefault("system_prompt", None)
        teacher.setdefault("batch_size", 16)
        if teacher["decoding"] not in decodings:
            raise ConfigError(
                f"{file}: {where}.decoding: {teacher['decoding']!r} is not defined under decodings"
            )
        if teacher["backend"] == "openai":
            if "api" not in teacher:
                raise ConfigError(f"{file}: {where}.api: backend 'openai' needs an api section")
            teacher["api"].setdefault("base_url", "https://api.openai.com/v1")
            teacher["api"].setdefault("api_key_env", "OPENAI_API_KEY")
            teacher["api"].setdefault("max_concurrency", 8)
            teacher["api"].setdefault("timeout_s", 120.0)
            teacher["api"].setdefault("max_retries", 8)
            if teacher.get("tiny"):
                raise ConfigError(f"{file}: {where}: a tiny model cannot use backend 'openai'")
        # An API or published teacher needs no GPU; a vLLM teacher one per tensor-parallel rank.
        res = {**DEFAULT_RESOURCES["generation"], **(gen.get("resources") or {})}
        if teacher["backend"] in ("openai", "dataset"):
            res.update(gpu=0, gpu_model=None, cpus_per_gpu=None)
        elif res["gpu"]:
            res["gpu"] = teacher["tensor_parallel_size"]
        res.update(teacher.get("resources") or {})
        teacher["resources"] = _completed(res, file, where)

    ref = cfg["reference_model"]
    _fill_model_defaults(ref)
    _resolve_model(ref, "reference_model", "reference", base_dir, tiny, file, working_dir)

    rm_names = [rm["name"] for rm in cfg["reward_models"]]
    for i, rm in enumerate(cfg["reward_models"]):
        rm.setdefault("batch_size", 8)
        rm.setdefault("max_length", 4096)
        rm["resources"] = _resources(
            cfg, "reward", rm.get("resources"), file, _entry("reward_models", i, rm)
        )

    car = cfg["car"]
    if car["reward_model"] not in rm_names:
        raise ConfigError(
            f"{file}: car.reward_model: {car['reward_model']!r} is not one of the reward_models "
            f"({', '.join(rm_names)})"
        )
    mapping = car.setdefault("reward_mapping", {"kind": "none"})
    if mapping["kind"] == "shift" and "offset" not in mapping:
        raise ConfigError(f"{file}: car.reward_mapping: kind 'shift' needs an offset")
    mapping.setdefault("center", 0.0)
    mapping.setdefault("scale", 1.0)
    # CAR divides every reward model's mean (car_sensitivity.csv sweeps them all): unmapped,
    # each must be positive by construction, or a teacher's CAR could rank backwards unseen
    unsure = [rm["name"] for rm in cfg["reward_models"] if not rm.get("positive_scores")]
    if mapping["kind"] == "none" and unsure:
        raise ConfigError(
            f"{file}: car.reward_mapping: kind 'none', but reward model(s) "
            f"{', '.join(unsure)} can score <= 0 and CAR would then rank teachers backwards: "
            "set kind sigmoid or shift, or positive_scores: true on a model whose every score "
            "is positive"
        )

    compat = cfg.setdefault("compatibility", {})
    compat.setdefault("batch_size", 8)
    compat.setdefault("max_length", 4096)
    metric_options = {**METRIC_DEFAULTS, **(compat.get("metrics") or {})}
    compat["metrics"] = metric_options
    for i, base in enumerate(cfg["bases"]):
        base.setdefault("batch_size", compat["batch_size"])
        base.setdefault("max_length", compat["max_length"])
        base["metrics"] = metric_options
        base["resources"] = _resources(
            cfg, "compatibility", base.get("resources"), file, _entry("bases", i, base)
        )
    ref.setdefault("batch_size", compat["batch_size"])
    ref.setdefault("max_length", compat["max_length"])
    ref["metrics"] = metric_options
    ref["resources"] = _resources(
        cfg, "compatibility", ref.get("resources"), file, "reference_model"
    )

    _normalize_training(cfg, base_dir, tiny, file, working_dir)

    if tiny:
        tiny.setdefault("seed", 0)
        tiny.setdefault("threads", 1)
        tiny["resources"] = _resources(
            cfg, "tiny", {"threads": tiny["threads"]}, file, "tiny_world"
        )
    return cfg


def _normalize_training(
    cfg: dict[str, Any], base_dir: Path, tiny: dict[str, Any], file: str, working_dir: Path | None
) -> None:
    """Fine-tuning and evaluation: defaults, references to teachers, the judge model."""
    from teachergrid.training.finetune import accumulation_steps, settings

    ft = cfg.get("finetune") or {}
    resources = _resources(cfg, "finetune", None, file, "finetune")
    # Which cells are fine-tuned is kept apart from the training settings, so that editing
    # the filter reruns no fine-tuning job that stays.
    cells = ft.pop("cells", None) or {}
    teachers = [t["name"] for t in cfg["teachers"]]
    bases = [b["name"] for b in cfg["bases"]]
    for teacher, listed in cells.items():
        if teacher not in teachers:
            raise ConfigError(f"{file}: finetune.cells: {teacher!r} is not a configured teacher")
        for base in listed:
            if base not in bases:
                raise ConfigError(
                    f"{file}: finetune.cells.{teacher}: {base!r} is not a configured base"
                )
    cfg["finetune_cells"] = [
        [b, t] for b in bases for t in teachers if t not in cells or b in cells[t]
    ]
    cfg["finetune"] = settings(ft)
    cfg["finetune"]["resources"] = resources
    try:  # the check each job makes, made before any job
        accumulation_steps(cfg["finetune"], resources["gpu"])
    except ValueError as exc:
        raise ConfigError(f"{file}: finetune.effective_batch_size: {exc}") from None

    ev = cfg.get("evaluation")
    if not ev:
        return
    if "scores" in ev:
        _published_scores(cfg, ev, base_dir, file, working_dir)
        return
    if "judge" not in ev:
        raise ConfigError(
            f"{file}: evaluation.judge: who judges the answers? (or evaluation.scores: a table "
            "of published scores, and nothing is fine-tuned)"
        )
    ev.setdefault("backend", "hf")
    ev.setdefault("decoding", "greedy")
    ev.setdefault("batch_size", 16)
    ev.setdefault("tensor_parallel_size", 1)
    ev.setdefault("max_model_len", None)
    if "length_penalty" in ev:
        raise ConfigError(
            f"{file}: evaluation.length_penalty: remove it; the length-controlled win rate is "
            "now a joint fit over the cells, set by evaluation.length_control "
            "(mode, difficulty_l2, length_l2)"
        )
    lc = ev.setdefault("length_control", {})
    lc.setdefault("mode", "joint")
    lc.setdefault("difficulty_l2", DIFFICULTY_L2)
    lc.setdefault("length_l2", LENGTH_L2)
    _resolve_lc_files(lc, base_dir, file, working_dir)
    ev.setdefault("bootstrap", 100)
    ev.setdefault("seed", 0)
    if ev["decoding"] not in cfg["decodings"]:
        raise ConfigError(
            f"{file}: evaluation.decoding: {ev['decoding']!r} is not defined under decodings"
        )
    teachers = {t["name"] for t in cfg["teachers"]}
    for bench in ("alpaca_eval", "arena_hard"):
        spec = ev.setdefault(bench, {})
        where = f"evaluation.{bench}"
        if "prompts" not in spec:
            if "eval" not in cfg["instructions"]:
                raise ConfigError(f"{file}: {where}.prompts: no prompts and no instructions.eval")
            spec["prompts"] = dict(cfg["instructions"]["eval"])
        else:
            prompts = spec["prompts"]
            prompts.setdefault("column", "instruction")
            prompts.setdefault("split", "test")
            prompts.setdefault("sample", None)
            prompts.setdefault("seed", 0)
            _resolve_source(prompts, base_dir, f"{where}.prompts", file, working_dir)
            if prompts["local"]:
                _check_benchmark_file(prompts, f"{where}.prompts", file)
        ref = spec.get("reference")
        if not ref:
            raise ConfigError(f"{file}: {where}.reference: give a teacher, a column or a file")
        if "teacher" in ref:
            if set(ref) != {"teacher"}:
                raise ConfigError(
                    f"{file}: {where}.reference: a teacher reference takes no other keys"
                )
            if ref["teacher"] not in teachers:
                raise ConfigError(
                    f"{file}: {where}.reference.teacher: {ref['teacher']!r} is not a configured "
                    "teacher"
                )
            backend = next(t["backend"] for t in cfg["teachers"] if t["name"] == ref["teacher"])
            if backend == "dataset":
                raise ConfigError(
                    f"{file}: {where}.reference.teacher: {ref['teacher']!r} is a published "
                    "teacher: it has no answers to the benchmark's prompts"
                )
        elif "column" not in ref:
            raise ConfigError(f"{file}: {where}.reference.column: which field holds the answer?")
        elif "source" in ref:
            if not ref.get("id") or not spec["prompts"].get("id"):
                raise ConfigError(
                    f"{file}: {where}.reference.id: answers from another file are joined to the "
                    "prompts by id; set both prompts.id and reference.id"
                )
            _resolve_source(ref, base_dir, f"{where}.reference", file, working_dir)
            if ref["local"]:
                _check_benchmark_file(ref, f"{where}.reference", file)
        elif spec["prompts"]["local"]:
            _check_benchmark_file(
                {**spec["prompts"], "column": ref["column"]}, f"{where}.reference", file
            )
    for name in ev.get("exclude_from_correlations") or []:
        if name not in teachers:
            raise ConfigError(
                f"{file}: evaluation.exclude_from_correlations: {name!r} is not a configured "
                "teacher"
            )
    judge = ev["judge"]
    if judge["kind"] == "reward_model":
        if "model" not in judge:
            raise ConfigError(f"{file}: evaluation.judge.model: a reward_model judge needs a model")
        judge.setdefault("name", "judge")
        _fill_model_defaults(judge)
        _resolve_model(judge, "evaluation.judge", "reward", base_dir, tiny, file, working_dir)
        judge.setdefault("batch_size", 8)
        judge.setdefault("max_length", 4096)
    elif "api" not in judge:
        raise ConfigError(f"{file}: evaluation.judge.api: an openai judge needs an api section")
    else:
        judge["api"].setdefault("base_url", "https://api.openai.com/v1")
        judge["api"].setdefault("api_key_env", "OPENAI_API_KEY")
        prompts = judge.setdefault("prompts", {})
        for bench, url in OFFICIAL_PROMPTS.items():
            source = prompts.setdefault(bench, url)
            if source != "builtin" and not source.startswith(("http://", "https://")):
                path = resolve_path(source, base_dir)
                if not path.is_file():
                    raise ConfigError(
                        f"{file}: evaluation.judge.prompts.{bench}: {source!r} is not a file, "
                        "a URL or 'builtin'"
                    )
                prompts[bench] = portable(path, working_dir)
    ev["resources"] = _resources(cfg, "evaluation", None, file, "evaluation")


SCORE_FILE_COLUMNS = ("base", "teacher", "alpaca_eval_lc", "arena_hard_wr")


def _published_scores(
    cfg: dict[str, Any], ev: dict[str, Any], base_dir: Path, file: str, working_dir: Path | None
) -> None:
    """`evaluation: {scores: FILE}`: AP from a published per-cell table, so no cell is
    fine-tuned or evaluated. The file is checked here: its columns, and that it scores some
    configured cell."""
    import pandas as pd

    other = sorted(set(ev) - {"scores", "exclude_from_correlations"})
    if other:
        raise ConfigError(
            f"{file}: evaluation.{other[0]}: published scores (evaluation.scores) replace "
            "fine-tuning and evaluation; remove it"
        )
    path = resolve_path(ev["scores"], base_dir)
    if not path.is_file():
        raise ConfigError(f"{file}: evaluation.scores: {ev['scores']!r} is not a file")
    try:
        table = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: evaluation.scores: {path}: not a CSV table ({exc})") from None
    absent = [c for c in SCORE_FILE_COLUMNS if c not in table.columns]
    if absent:
        raise ConfigError(f"{file}: evaluation.scores: {path}: no column {', '.join(absent)}")
    from teachergrid.analysis.published_scores import same_teacher

    bases = {b["name"] for b in cfg["bases"]}
    teachers = [t["name"] for t in cfg["teachers"]]
    if not any(
        b in bases and any(same_teacher(str(t), name) for name in teachers)
        for b, t in zip(table["base"], table["teacher"], strict=True)
    ):
        raise ConfigError(
            f"{file}: evaluation.scores: {path} scores none of the configured cells (bases by "
            "name, teachers by name or hub id)"
        )
    for name in ev.get("exclude_from_correlations") or []:
        if name not in teachers:
            raise ConfigError(
                f"{file}: evaluation.exclude_from_correlations: {name!r} is not a configured "
                "teacher"
            )
    ev["scores"] = portable(path, working_dir)
    cfg["finetune_cells"] = []


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML config file and validate it; relative paths are relative to the file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(
            f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    return validate(raw, file=str(path), base_dir=path.resolve().parent)


LC_FILES = {
    "instruction_difficulty": "instruction_difficulty.csv",
    "gamed_baselines": "df_gamed.csv",
}


def _resolve_lc_files(
    lc: dict[str, Any], base_dir: Path, file: str, working_dir: Path | None
) -> None:
    """`evaluation.length_control.instruction_difficulty` and `.gamed_baselines`: AlpacaEval's
    published files, each a local CSV (read now, so a bad one stops the run before any job) or
    one file of a hub data set (fetched by rule alpaca_eval_lc_file)."""
    from teachergrid.evaluation.lengthcontrol import read_difficulty, read_gamed

    for key, published in LC_FILES.items():
        spec = lc.get(key)
        where = f"evaluation.length_control.{key}"
        if not spec:
            lc[key] = None
            continue
        if lc["mode"] != "joint":
            raise ConfigError(
                f"{file}: {where}: only the joint mode reads it (paper-comparable uses the "
                "alpaca-eval package's own)"
            )
        if "file" in spec:
            spec["local"] = False
            continue
        source = spec["source"]
        if not _is_local_path(source) and not source.endswith(".csv"):
            raise ConfigError(
                f"{file}: {where}.file: which file of the hub data set {source!r}? "
                f"(AlpacaEval's: {published})"
            )
        path = resolve_path(source, base_dir)
        if not path.is_file():
            raise ConfigError(f"{file}: {where}.source: local file {source!r} does not exist")
        try:
            (read_gamed if key == "gamed_baselines" else read_difficulty)(path)
        except ValueError as exc:
            raise ConfigError(f"{file}: {where}: {exc}") from None
        spec["source"] = portable(path, working_dir)
        spec["local"] = True


def unpinned(cfg: dict[str, Any]) -> list[str]:
    """Every hub model or data set a validated config reads without a `revision`, as
    `where: hub id`. Such a reference reads the hub's current main, so a rerun months later
    may read other weights or rows; `teachergrid check-config` lists them before a run."""
    found: list[str] = []

    def hub(section: dict[str, Any] | None, where: str, key: str = "source") -> None:
        if section and key in section and not section.get("local") and not section.get("revision"):
            found.append(f"{where}: {section[key]}")

    hub(cfg["instructions"], "instructions")
    hub(cfg["instructions"].get("eval"), "instructions.eval")
    for section in ("teachers", "bases", "reward_models"):
        for entry in cfg[section]:
            where = f"{section}[{entry['name']}]"
            if entry.get("backend") == "dataset":
                hub(entry["dataset"], f"{where}.dataset")
            elif entry.get("backend") != "openai":
                hub(entry, where, "model")
    hub(cfg["reference_model"], "reference_model", "model")
    ev = cfg.get("evaluation") or {}
    if (ev.get("judge") or {}).get("kind") == "reward_model":
        hub(ev["judge"], "evaluation.judge", "model")
    for bench in ("alpaca_eval", "arena_hard"):
        spec = ev.get(bench) or {}
        hub(spec.get("prompts"), f"evaluation.{bench}.prompts")
        hub(spec.get("reference"), f"evaluation.{bench}.reference")
    lc = ev.get("length_control") or {}
    for key in LC_FILES:
        hub(lc.get(key), f"evaluation.length_control.{key}")
    return found
