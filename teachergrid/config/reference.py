"""The config reference (`docs/config.md`), printed from the schema: every key, its type, its
default and its description, so that the manual cannot say anything the validator does not do.
`teachergrid config-reference > docs/config.md` writes it; a test fails when they differ."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from teachergrid.config.schema import schema

HEADER = """# Configuration reference

Generated from `teachergrid/config/schema.yaml` by `teachergrid config-reference >
docs/config.md`; do not edit by hand. A config is checked against this schema before any job
(`teachergrid check-config FILE` runs the same checks alone), and every default below is
written into the validated config, so that no job guesses a value. Relative paths are relative
to the config file. `NAME` stands for a name you choose, `[]` for each entry of a list.
"""


# what an absent JSON-schema keyword means: nothing of that kind
ABSENT: dict[str, Any] = {
    "allOf": [],
    "properties": {},
    "if": {},
    "then": {},
    "else": {},
    "type": "",
    "items": {},
    "description": "",
}


def _kw(node: dict[str, Any], keyword: str) -> Any:
    """A schema node's keyword, or what its absence means (`ABSENT`)."""
    return node[keyword] if keyword in node else ABSENT[keyword]


# definitions shared by several sections, listed once at the end rather than under each
FOLDED = {"#/$defs/resources": "resources", "#/$defs/model_common": "model keys"}


def _folded(node: dict[str, Any]) -> list[str]:
    refs = [node.get("$ref"), *(part.get("$ref") for part in _kw(node, "allOf"))]
    out = [FOLDED[r] for r in refs if r in FOLDED]
    ref = node.get("$ref")
    if isinstance(ref, str) and ref not in FOLDED:  # a definition that itself folds one in
        out += _folded(schema()["$defs"][ref.removeprefix("#/$defs/")])
    return out


def _node(node: dict[str, Any]) -> dict[str, Any]:
    """A node with its `$ref` and `allOf` parts merged in (their properties included), except
    the folded definitions."""
    out = dict(node)
    parts = [node.get("$ref")] if "$ref" in node and node["$ref"] not in FOLDED else []
    merged: dict[str, Any] = {}
    for ref in parts:
        merged.update(_node(schema()["$defs"][ref.removeprefix("#/$defs/")]))
    for part in _kw(node, "allOf"):
        if part.get("$ref") not in FOLDED:
            merged.update(_node(part))
    if merged:
        props = {**_kw(merged, "properties"), **_kw(node, "properties")}
        out = {**merged, **node, "properties": props}
    return out


def _conditional_defaults(node: dict[str, Any]) -> dict[str, tuple[Any, str]]:
    """Defaults given under `if`/`then`/`else`, with the condition they hold under."""
    found: dict[str, tuple[Any, str]] = {}
    condition = _kw(node, "if")
    for branch in ("then", "else"):
        for key, sub in _kw(_kw(node, branch), "properties").items():
            if "default" in sub:
                found[key] = (sub["default"], _condition(condition, branch == "then"))
    return found


def _condition(condition: dict[str, Any], holds: bool) -> str:
    if "required" in condition:
        key = condition["required"][0]
        return f"without `{key}`" if not holds else f"with `{key}`"
    ((key, sub),) = _kw(condition, "properties").items()
    return f"{key} {'=' if holds else '!='} {sub.get('const')}"


def _type(node: dict[str, Any]) -> str:
    if _folded(node):
        return " + ".join(_folded(node) + ([node["type"]] if node.get("type") == "array" else []))
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    kind = _kw(node, "type")
    kinds = kind if isinstance(kind, list) else [kind]
    return " or ".join(k for k in kinds if k) or ("model reference" if "$ref" in node else "")


def _value(value: Any) -> str:
    return f"`{json.dumps(value)}`" if not isinstance(value, str) else f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def rows(node: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str, str, str]]:
    """(key, type, default, description) of every key under a node, depth first."""
    node = _node(node)
    conditional = _conditional_defaults(node)
    for key, sub in _kw(node, "properties").items():
        sub = _node(sub)
        path = f"{prefix}{key}"
        default = ""
        if "default" in sub:
            default = _value(sub["default"])
        elif key in conditional:
            value, when = conditional[key]
            default = f"{_value(value)} ({when})"
        kind = _type(sub)
        if sub.get("type") == "array" and _folded(_kw(sub, "items")):
            kind = f"list of ({_type(sub['items'])})"
        yield path, kind, default, _cell(_kw(sub, "description"))
        if sub.get("type") == "array" and isinstance(sub.get("items"), dict):
            yield from rows(sub["items"], f"{path}[].")
        elif "properties" in sub:
            yield from rows(sub, f"{path}.")
        elif isinstance(sub.get("additionalProperties"), dict):
            yield from rows(sub["additionalProperties"], f"{path}.NAME.")


def markdown() -> str:
    lines = [HEADER, "| key | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{k}` | {t} | {d} | {m} |" for k, t, d, m in rows(schema())]
    for ref, title in FOLDED.items():
        node = schema()["$defs"][ref.removeprefix("#/$defs/")]
        lines += ["", f"## {title}", "", _cell(_kw(node, "description")), ""]
        lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
        lines += [f"| `{k}` | {t} | {d} | {m} |" for k, t, d, m in rows(node)]
    return "\n".join(lines) + "\n"
