"""Load, validate and normalise a study configuration.

Every check that can fail on the user's input runs here, before Snakemake builds a single job:
a bad key found after a 20-hour generation job is a wasted GPU day. Each problem becomes one
`ConfigError` whose message names the file and the key (or the line of a data file).

The order is: the schema's checks on the file as written (all problems at once), the schema's
defaults (`schema.fill_defaults`), then what the schema cannot say: names that refer to other
sections, files that must exist and parse, and the defaults that are another key's value.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml

from teachergrid.config.inputs import (
    LC_FILES,
    check_instruction_file,
    portable,
    resolve_path,
    resolve_source,
)
from teachergrid.config.models import (
    check_names,
    completed,
    resolve_entry,
    resolve_model,
    scoring_settings,
    stage_resources,
)
from teachergrid.config.schema import ConfigError, entry_name, fill_defaults, schema_problems
from teachergrid.config.stages import normalize_evaluation, normalize_finetune
from teachergrid.support.resources import DEFAULT_RESOURCES


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
    ev = raw.get("evaluation") if isinstance(raw.get("evaluation"), dict) else {}
    if "length_penalty" in ev and "scores" not in ev:
        raise ConfigError(
            f"{file}: evaluation.length_penalty: remove it; the length-controlled win rate is "
            "now a joint fit over the cells, set by evaluation.length_control "
            "(mode, difficulty_l2, length_l2)"
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
    cfg.setdefault("decodings", {}).setdefault("greedy", {})  # always defined
    fill_defaults(cfg)
    paths = {"base_dir": base_dir, "file": file, "working_dir": working_dir}

    _tiny_world(cfg, base_dir, file, working_dir)
    _instructions(cfg, base_dir, file, working_dir)
    for name, setting in cfg["decodings"].items():
        if setting["temperature"] == 0 and setting["n"] > 1:
            raise ConfigError(
                f"{file}: decodings.{name}: n > 1 needs temperature > 0 "
                "(greedy decoding gives n identical answers)"
            )

    # every model entry is resolved on its own: the problems of all of them are reported
    # together (a study moved to another cluster has several model paths to fix at once)
    model_problems: list[str] = []
    sections = {
        "teachers": (cfg["teachers"], "teacher"),
        "bases": (cfg["bases"], "base"),
        "reward_models": (cfg["reward_models"], "reward"),
        "screen.bases": (cfg["screen"]["bases"], "base"),
    }
    for section, (entries, role) in sections.items():
        check_names(entries, section, file)
        for i, entry in enumerate(entries):
            try:
                resolve_entry(entry, entry_name(section, i, entry), role, cfg, **paths)
            except ConfigError as exc:
                model_problems.append(str(exc))
    if model_problems:
        raise ConfigError("\n".join(model_problems))
    for i, teacher in enumerate(cfg["teachers"]):
        _teacher(cfg, teacher, entry_name("teachers", i, teacher), file)
    ref = cfg["reference_model"]
    ref.setdefault("family", ref["name"])
    resolve_model(ref, "reference_model", "reference", cfg, **paths)
    for i, rm in enumerate(cfg["reward_models"]):
        where = entry_name("reward_models", i, rm)
        rm["resources"] = stage_resources(cfg, "reward", rm.get("resources"), file, where)
    _car(cfg, file)
    _compatibility(cfg, file)
    normalize_finetune(cfg, file)
    normalize_screen(cfg, file)
    normalize_evaluation(cfg, **paths)
    tiny = cfg.get("tiny_world")
    if tiny:
        tiny["resources"] = stage_resources(
            cfg, "tiny", {"threads": tiny["threads"]}, file, "tiny_world"
        )
    return cfg


def normalize_screen(cfg: dict[str, Any], file: str) -> None:
    """`screen.teachers`: the teachers a new base is screened against, listed or by default
    every teacher not answered through an API (whose responses to every instruction would be
    paid calls): the paper's study screens the Generator Zoo's 19 without GPT-4."""
    screen = cfg["screen"]
    names = [t["name"] for t in cfg["teachers"]]
    for name in screen["teachers"]:
        if name not in names:
            raise ConfigError(f"{file}: screen.teachers: {name!r} is not a configured teacher")
    if not screen["teachers"]:
        screen["teachers"] = [t["name"] for t in cfg["teachers"] if t["backend"] != "openai"]
    if len(screen["teachers"]) < 2:
        raise ConfigError(f"{file}: screen.teachers: a ranking needs at least two teachers")


def _tiny_world(cfg: dict[str, Any], base_dir: Path, file: str, working_dir: Path | None) -> None:
    tiny = cfg.get("tiny_world")
    if not tiny:
        return
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


def _instructions(cfg: dict[str, Any], base_dir: Path, file: str, working_dir: Path | None) -> None:
    """The instruction files; with ground truth (`accuracy`), each task's exact answer is
    checked in the same pass as the instructions themselves."""
    acc = cfg.get("accuracy")
    answers = {"answers": acc["column"], "answers_key": f"{file}: accuracy.column"} if acc else {}
    inst = cfg["instructions"]
    resolve_source(inst, base_dir, "instructions", file, working_dir)
    if inst["local"]:
        check_instruction_file(Path(inst["source"]), inst["column"], **answers)
    if "eval" in inst:
        ev = inst["eval"]
        ev.setdefault("column", inst["column"])
        ev.setdefault("seed", inst["seed"])
        resolve_source(ev, base_dir, "instructions.eval", file, working_dir)
        if ev["local"]:
            check_instruction_file(Path(ev["source"]), ev["column"], **answers)
    if acc is None:
        return
    for where, section in (("instructions", inst), ("instructions.eval", inst.get("eval"))):
        if section is not None and not section["local"]:
            raise ConfigError(
                f"{file}: accuracy: {where} must be a local file that carries the answers"
            )
    acc["screening"] = inst["source"]
    acc["evaluation"] = inst["eval"]["source"] if "eval" in inst else None


def _teacher(cfg: dict[str, Any], teacher: dict[str, Any], where: str, file: str) -> None:
    if teacher["decoding"] not in cfg["decodings"]:
        raise ConfigError(
            f"{file}: {where}.decoding: {teacher['decoding']!r} is not defined under decodings"
        )
    if teacher["backend"] == "openai":
        if "api" not in teacher:
            raise ConfigError(f"{file}: {where}.api: backend 'openai' needs an api section")
        if teacher.get("tiny"):
            raise ConfigError(f"{file}: {where}: a tiny model cannot use backend 'openai'")
    # An API or published teacher needs no GPU; a vLLM teacher one per tensor-parallel rank.
    res = {**DEFAULT_RESOURCES["generation"], **(cfg["generation"].get("resources") or {})}
    if teacher["backend"] in ("openai", "dataset"):
        res.update(gpu=0, gpu_model=None, cpus_per_gpu=None)
    elif res["gpu"]:
        res["gpu"] = teacher["tensor_parallel_size"]
    res.update(teacher.get("resources") or {})
    teacher["resources"] = completed(res, file, where)


def _car(cfg: dict[str, Any], file: str) -> None:
    car = cfg["car"]
    rm_names = [rm["name"] for rm in cfg["reward_models"]]
    if car["reward_model"] not in rm_names:
        raise ConfigError(
            f"{file}: car.reward_model: {car['reward_model']!r} is not one of the reward_models "
            f"({', '.join(rm_names)})"
        )
    mapping = car["reward_mapping"]
    if mapping["kind"] == "shift" and "offset" not in mapping:
        raise ConfigError(f"{file}: car.reward_mapping: kind 'shift' needs an offset")
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


def _compatibility(cfg: dict[str, Any], file: str) -> None:
    """The bases' and the reference model's scoring settings and resources."""
    compat = cfg["compatibility"]
    entries = [
        *((b, entry_name("bases", i, b)) for i, b in enumerate(cfg["bases"])),
        *((b, entry_name("screen.bases", i, b)) for i, b in enumerate(cfg["screen"]["bases"])),
        (cfg["reference_model"], "reference_model"),
    ]
    for entry, where in entries:
        scoring_settings(entry, compat)
        entry["resources"] = stage_resources(
            cfg, "compatibility", entry.get("resources"), file, where
        )


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
