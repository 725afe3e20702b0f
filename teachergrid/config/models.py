"""Model entries: where each model (or a published teacher's data) comes from, and the
scheduler resources of the jobs that load it. Defaults come from the schema; what is
resolved here depends on the file system or on another part of the config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from teachergrid.config.inputs import is_local_path, portable, resolve_path, resolve_source
from teachergrid.config.schema import ConfigError
from teachergrid.core.chat import NAMED_TEMPLATES
from teachergrid.core.published_format import PublishedDataError, score_keys
from teachergrid.support.resources import DEFAULT_RESOURCES, complete

TINY_PREFIX = "tiny:"
# Folder names the workflow writes beside a base's cells (results/eval/untuned/).
RESERVED_NAMES = {"bases": ("untuned",)}


def check_names(items: list[dict[str, Any]], section: str, file: str) -> None:
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


def resolve_entry(
    entry: dict[str, Any],
    where: str,
    role: str,
    cfg: dict[str, Any],
    base_dir: Path,
    file: str,
    working_dir: Path | None,
) -> None:
    """Where a model entry's model (or its published data) comes from."""
    entry.setdefault("family", entry["name"])
    if "dataset" in entry and "model" in entry and not cfg["generation"]["published"]:
        del entry["dataset"]  # generation.published: false regenerates it
    if "dataset" not in entry:
        resolve_model(entry, where, role, cfg, base_dir, file, working_dir)
        return
    # a published teacher: no model to resolve
    published = entry["dataset"]
    resolve_source(published, base_dir, f"{where}.dataset", file, working_dir)
    try:  # the scores a local file publishes are known before any job
        published["scores"] = score_keys(published)
    except PublishedDataError as exc:
        raise ConfigError(f"{file}: {where}.dataset: {exc}") from None
    entry["backend"] = "dataset"


def resolve_model(
    entry: dict[str, Any],
    where: str,
    role: str,
    cfg: dict[str, Any],
    base_dir: Path,
    file: str,
    working_dir: Path | None,
) -> None:
    """A `model` reference: a tiny model the workflow builds (of the right role), a local
    folder (which must exist), or a hub id; and a chat template file, where one is named."""
    ref = entry["model"]
    if ref.startswith(TINY_PREFIX):
        name = ref[len(TINY_PREFIX) :]
        recipe = ((cfg.get("tiny_world") or {}).get("models") or {}).get(name)
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
    elif is_local_path(ref):
        path = resolve_path(ref, base_dir)
        if not path.is_dir():
            raise ConfigError(f"{file}: {where}.model: local model path {ref!r} does not exist")
        entry["model"] = portable(path, working_dir)
        entry["local"] = True
    else:
        entry["local"] = False
    template = entry["chat_template"]
    if template not in (None, "default", *NAMED_TEMPLATES):
        path = resolve_path(template, base_dir)
        if not path.is_file():
            raise ConfigError(
                f"{file}: {where}.chat_template: template file {template!r} does not exist"
            )
        entry["chat_template"] = portable(path, working_dir)


def scoring_settings(entry: dict[str, Any], compat: dict[str, Any]) -> dict[str, Any]:
    """A scoring model (a base, the reference model) scores with the compatibility section's
    batch, token budget, truncation and metric definitions unless it sets its own (not the
    metric definitions: every scoring model's numbers are defined alike)."""
    entry.setdefault("batch_size", compat["batch_size"])
    entry.setdefault("tokens_per_batch", compat["tokens_per_batch"])
    entry.setdefault("max_length", compat["max_length"])
    entry["metrics"] = compat["metrics"]
    return entry


def stage_resources(
    cfg: dict[str, Any], stage: str, override: dict[str, Any] | None, file: str, where: str
) -> dict[str, Any]:
    """A job's resources: the stage's defaults, the stage's section, then the model's own."""
    merged = dict(DEFAULT_RESOURCES[stage])
    merged.update((cfg.get(stage) or {}).get("resources") or {})
    merged.update(override or {})
    return completed(merged, file, where)


def completed(resources: dict[str, Any], file: str, where: str) -> dict[str, Any]:
    """Resources with every scheduler key (`support.resources.complete`), or a ConfigError."""
    try:
        return complete(resources, f"{where}.resources")
    except ValueError as exc:
        raise ConfigError(f"{file}: {exc}") from None
