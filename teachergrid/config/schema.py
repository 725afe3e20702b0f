"""The config schema (`schema.yaml`): what a study may say, how a wrong key is reported, and
every setting's default.

The schema is the one place a default lives. `fill_defaults` writes the `default:` of every
key a config leaves out into it, in the same walk that validation takes, so that the code
downstream reads keys and never guesses them again; the config reference is printed
from the same file (`docs/config.md`, `teachergrid config-reference`).
"""

from __future__ import annotations

import copy
import difflib
import functools
from collections.abc import Iterator
from importlib import resources
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match


class ConfigError(ValueError):
    """A problem with the user's configuration or input data, phrased as one line (or several
    such lines, one per problem, where the schema finds more than one)."""


@functools.cache
def schema() -> dict[str, Any]:
    text = resources.files("teachergrid.config").joinpath("schema.yaml").read_text()
    return yaml.safe_load(text)


def _filling(validator_class: type) -> type:
    """A validator that, before checking an object's properties, gives each property the
    object lacks its schema `default` (a copy). Defaults under `if`/`then`/`else` are written
    only where that branch applies; those under `anyOf`/`oneOf` are not used by this schema."""
    check_properties = validator_class.VALIDATORS["properties"]

    def properties(validator: Any, props: dict, instance: Any, node: dict) -> Iterator[Any]:
        if validator.is_type(instance, "object"):
            for key, sub in props.items():
                if key not in instance and isinstance(sub, dict) and "default" in sub:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from check_properties(validator, props, instance, node)

    return validators.extend(validator_class, {"properties": properties})


_Filler = _filling(Draft202012Validator)


def fill_defaults(cfg: dict[str, Any], node: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write every default the schema (or one of its nodes) gives into a valid config, in
    place. The config was validated before: what the walk reports now is not looked at."""
    for _ in _Filler({"$defs": schema()["$defs"], **node} if node else schema()).iter_errors(cfg):
        pass
    return cfg


def section(name: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """One top-level section with its defaults (`section("finetune", {"epochs": 3})`), for a
    job run by hand or a test that builds one section rather than a whole study."""
    return fill_defaults({name: copy.deepcopy(given or {})})[name]


def default_of(*path: str) -> Any:
    """The schema's default of one key, by its properties' path (`"evaluation",
    "length_control", "difficulty_l2"`), for code that offers the same setting elsewhere
    (the command line)."""
    node = schema()
    for key in path:
        node = node["properties"][key]
    return node["default"]


def entry_name(section: str, index: int, entry: Any) -> str:
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
                out += entry_name("", part, entry)
        else:
            out += f".{part}" if out else str(part)
        node = node[part] if isinstance(node, (dict, list)) else None
    return out or "(top level)"


def _keys(node: Any) -> set[str]:
    """The keys a schema node allows: its own properties and those of the definitions it
    combines (`$ref`, `allOf`, `anyOf`, `oneOf`)."""
    if not isinstance(node, dict):
        return set()
    keys = set(node["properties"]) if "properties" in node else set()
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
