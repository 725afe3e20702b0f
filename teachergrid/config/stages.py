"""The fine-tuning and evaluation sections: which cells are fine-tuned, the batch each job can
make, and what the benchmarks' prompts, references and judge refer to. Their defaults come
from the schema; what is checked here refers to other sections or to files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from teachergrid.config.inputs import (
    check_benchmark_file,
    check_published_scores,
    portable,
    resolve_lc_files,
    resolve_path,
    resolve_source,
)
from teachergrid.config.models import resolve_model, stage_resources
from teachergrid.config.schema import ConfigError


def normalize_finetune(cfg: dict[str, Any], file: str) -> None:
    """`finetune`: the cells it covers (`finetune_cells`, kept apart from the training
    settings, so that editing the filter reruns no fine-tuning job that stays), its resources,
    and whether its effective batch divides on the GPUs each job gets."""
    ft = cfg["finetune"]
    resources = stage_resources(cfg, "finetune", None, file, "finetune")
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
    ft["resources"] = resources
    try:  # the check each job makes, made before any job
        accumulation_steps(ft, resources["gpu"])
    except ValueError as exc:
        raise ConfigError(f"{file}: finetune.effective_batch_size: {exc}") from None


def normalize_evaluation(
    cfg: dict[str, Any], base_dir: Path, file: str, working_dir: Path | None
) -> None:
    """`evaluation`: published scores, or the benchmarks' prompts and references, the judge,
    and the files of the length control."""
    ev = cfg.get("evaluation")
    if not ev:
        return
    if "scores" in ev:
        check_published_scores(cfg, ev, base_dir, file, working_dir)
        return
    if "judge" not in ev:
        raise ConfigError(
            f"{file}: evaluation.judge: who judges the answers? (or evaluation.scores: a table "
            "of published scores, and nothing is fine-tuned)"
        )
    if "length_penalty" in ev:
        raise ConfigError(
            f"{file}: evaluation.length_penalty: remove it; the length-controlled win rate is "
            "now a joint fit over the cells, set by evaluation.length_control "
            "(mode, difficulty_l2, length_l2)"
        )
    resolve_lc_files(ev["length_control"], base_dir, file, working_dir)
    if ev["decoding"] not in cfg["decodings"]:
        raise ConfigError(
            f"{file}: evaluation.decoding: {ev['decoding']!r} is not defined under decodings"
        )
    teachers = {t["name"] for t in cfg["teachers"]}
    for bench in ("alpaca_eval", "arena_hard"):
        spec = ev[bench]
        where = f"evaluation.{bench}"
        if "prompts" not in spec:
            if "eval" not in cfg["instructions"]:
                raise ConfigError(f"{file}: {where}.prompts: no prompts and no instructions.eval")
            spec["prompts"] = dict(cfg["instructions"]["eval"])
        else:
            prompts = spec["prompts"]
            resolve_source(prompts, base_dir, f"{where}.prompts", file, working_dir)
            if prompts["local"]:
                check_benchmark_file(prompts, f"{where}.prompts", file)
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
            resolve_source(ref, base_dir, f"{where}.reference", file, working_dir)
            if ref["local"]:
                check_benchmark_file(ref, f"{where}.reference", file)
        elif spec["prompts"]["local"]:
            check_benchmark_file(
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
        judge.setdefault("family", judge["name"])
        resolve_model(judge, "evaluation.judge", "reward", cfg, base_dir, file, working_dir)
    elif "api" not in judge:
        raise ConfigError(f"{file}: evaluation.judge.api: an openai judge needs an api section")
    else:
        prompts = judge["prompts"]
        for bench, source in prompts.items():
            if source != "builtin" and not source.startswith(("http://", "https://")):
                path = resolve_path(source, base_dir)
                if not path.is_file():
                    raise ConfigError(
                        f"{file}: evaluation.judge.prompts.{bench}: {source!r} is not a file, "
                        "a URL or 'builtin'"
                    )
                prompts[bench] = portable(path, working_dir)
    ev["resources"] = stage_resources(cfg, "evaluation", None, file, "evaluation")


def accumulation_steps(cfg: dict[str, Any], world_size: int) -> int:
    """Gradient accumulation that keeps the effective batch size whatever the GPU count."""
    per_step = int(cfg["per_device_batch_size"]) * max(1, world_size)
    steps = int(cfg["effective_batch_size"]) // per_step
    if steps < 1 or steps * per_step != int(cfg["effective_batch_size"]):
        raise ValueError(
            f"{cfg['effective_batch_size']} is not a multiple of per_device_batch_size x GPUs "
            f"= {cfg['per_device_batch_size']} x {max(1, world_size)}"
        )
    return steps
