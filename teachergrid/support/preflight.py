"""Checks on the submitting host, before any GPU job: can every model be loaded the way the
config says?

A sweep that fails on its hundredth job because one teacher's architecture is missing from
vLLM, or a reward model's remote code no longer imports, has wasted every GPU hour before it.
The preflight reads what each backend itself supports (vLLM's model registry where vLLM is
installed, the installed transformers otherwise), each model's own config and tokenizer (from
a local folder, the hub, or the hub cache when offline) and reports, one line per problem, the
model and the fix:

* the architecture is one its backend can load (`serve X with backend hf` when vLLM lacks it);
* remote code (`trust_remote_code: true`) imports under the installed transformers;
* every chat model has a chat template, and the token that ends its turn is one generation
  stops at (its EOS, or a configured `stop` string);
* hub ids and revisions exist, and gated models have a token (`HF_TOKEN`);
* every API key the config names (`api_key_env`) is set where the API jobs run.

What cannot be checked here (no network, vLLM not installed) is reported as a note, not a pass.
"""

from __future__ import annotations

import os
from typing import Any

from teachergrid.support.model_checks import (
    TINY_ARCHITECTURES,
    Finding,
    Source,
    _architectures,
    check_model,
)


def vllm_architectures() -> tuple[set[str], str] | None:
    """The architectures vLLM's model registry can load, and vLLM's version; None where vLLM
    is not installed."""
    try:
        import vllm
        from vllm import ModelRegistry
    except ImportError:
        return None
    return set(ModelRegistry.get_supported_archs()), str(vllm.__version__)


def run(cfg: dict[str, Any], model_dir: Any, in_job_env: bool = False) -> list[Finding]:
    """Check every model of a validated config. `model_dir(entry)` is where a job loads the
    entry's model from (a hub id, a local folder, or a tiny model's build folder).

    `in_job_env`: the checks run in the environment the generation jobs will run in (the
    workflow's preflight job: the generation environment under `--sdm conda`, the driver's
    otherwise). There a vLLM teacher without vLLM is a problem, not a note: its job would
    fail the same way."""
    tiny = (cfg.get("tiny_world") or {"models": {}})["models"]
    evaluation = cfg.get("evaluation") or {}
    # vLLM's registry, read once (importing vLLM takes seconds) where anything runs in it
    in_vllm = any(t["backend"] == "vllm" for t in cfg["teachers"]) or (
        evaluation.get("backend") == "vllm" and not evaluation.get("scores")
    )
    vllm = vllm_architectures() if in_vllm else None
    jobs: list[tuple[dict[str, Any], str, str]] = []
    for teacher in cfg["teachers"]:
        # an API teacher loads nothing here; a published one is read, not loaded
        if teacher["backend"] not in ("openai", "dataset"):
            jobs.append((teacher, "teacher", teacher["backend"]))
    jobs += [(base, "base", "hf") for base in cfg["bases"]]
    jobs += [(rm, "reward", "hf") for rm in cfg["reward_models"]]
    jobs.append((cfg["reference_model"], "reference", "hf"))
    judge = (cfg.get("evaluation") or {}).get("judge") or {}
    if judge.get("kind") == "reward_model":
        jobs.append((judge, "reward", "hf"))
    findings: list[Finding] = []
    for entry, role, backend in jobs:
        if backend == "vllm" and vllm is None and in_job_env:
            findings.append(
                Finding(
                    "error",
                    entry["name"],
                    "backend vllm, but vLLM is not installed where its job runs: run with --sdm "
                    "conda (envs/generation.yaml holds vLLM), install vllm in this environment, "
                    "or serve it with backend hf",
                )
            )
            continue
        recipe = tiny.get(entry["tiny"]) if entry.get("tiny") else None
        findings += check_model(entry, model_dir(entry), role, backend, recipe, vllm)
    findings += check_evaluation_engine(cfg, model_dir, vllm, in_job_env)
    findings += check_engine_contexts(cfg, model_dir)
    return findings + check_api_keys(cfg)


def model_context(entry: dict[str, Any], path: str) -> int | None:
    """The longest sequence a model's config says it takes (None where it does not say)."""
    config = Source(entry, path).json("config.json") or {}
    text = config.get("text_config") or config
    value = text.get("max_position_embeddings") or text.get("max_sequence_length")
    return int(value) if value else None


def check_engine_contexts(cfg: dict[str, Any], model_dir: Any) -> list[Finding]:
    """How long a sequence each vLLM teacher's engine holds. Unset, the generation job sizes it
    from its longest prompt + the decoding's `max_new_tokens` (`backends.vllm.context_length`),
    not the model's whole context (128K for Llama-3.1), whose profiling and per-sequence
    limits a study never needs. Set, it must leave room for a prompt and fit the model."""
    out = []
    for teacher in cfg["teachers"]:
        if teacher["backend"] != "vllm":
            continue
        # (the preflight job's config carries the limit; a whole config, the decoding's)
        name, fixed = teacher["name"], teacher["max_model_len"]
        limit = teacher.get("max_new_tokens")
        new = int(limit or cfg["decodings"][teacher["decoding"]]["max_new_tokens"])
        try:
            model_max = None if teacher.get("tiny") else model_context(teacher, model_dir(teacher))
        except LookupError as exc:
            out.append(Finding("note", name, f"engine context not checked: {exc}"))
            continue
        own = f"the model's own: {model_max}" if model_max else "the model states none"
        if fixed and fixed <= new:
            problem = f"max_model_len {fixed} leaves no room for a prompt before {new} new tokens"
            out.append(Finding("error", name, f"{problem}: raise it or drop it"))
        elif fixed and model_max and fixed > model_max:
            problem = f"max_model_len {fixed} is longer than the model's context {model_max}"
            out.append(Finding("error", name, f"{problem}: lower it or drop it"))
        elif model_max and new >= model_max:
            problem = f"max_new_tokens {new} does not fit the model's context {model_max}"
            out.append(Finding("error", name, f"{problem}: lower the decoding's limit"))
        elif fixed:
            out.append(Finding("ok", name, f"vLLM engine context {fixed} tokens (set; {own})"))
        else:
            out.append(
                Finding(
                    "ok",
                    name,
                    f"vLLM engine context sized in its job: longest prompt + {new} new tokens, "
                    f"rounded up to 256 ({own})",
                )
            )
    return out


def check_evaluation_engine(
    cfg: dict[str, Any],
    model_dir: Any,
    vllm: tuple[set[str], str] | None,
    in_job_env: bool = False,
) -> list[Finding]:
    """With `evaluation.backend: vllm`, every base's students answer the benchmarks in vLLM: the
    base's architecture must be one vLLM's registry (`vllm`, None where it is not installed)
    loads; the fine-tuned model keeps it."""
    evaluation = cfg.get("evaluation") or {}
    if evaluation.get("backend") != "vllm" or evaluation.get("scores"):
        return []
    tiny = (cfg.get("tiny_world") or {"models": {}})["models"]
    out = []
    for base in cfg["bases"]:
        where = f"{base['name']} (evaluation.backend vllm)"
        if vllm is None:
            level = "error" if in_job_env else "note"
            fix = ": run with --sdm conda, or set evaluation.backend: hf" if in_job_env else ""
            out.append(Finding(level, where, f"vLLM is not installed here{fix}"))
            continue
        if base.get("tiny"):
            archs = [TINY_ARCHITECTURES[(tiny[base["tiny"]]["architecture"], False)]]
        else:
            try:
                archs = _architectures(Source(base, model_dir(base)).json("config.json") or {})
            except LookupError as exc:
                out.append(Finding("note", where, str(exc)))
                continue
        supported, version = vllm
        missing = [a for a in archs if a not in supported]
        if missing:
            out.append(
                Finding(
                    "error",
                    where,
                    f"vLLM {version} cannot load architecture {', '.join(missing)}, which its "
                    "fine-tuned students keep: set evaluation.backend: hf",
                )
            )
        else:
            out.append(Finding("ok", where, f"its students answer in vLLM {version}"))
    return out


def check_api_keys(cfg: dict[str, Any]) -> list[Finding]:
    """Every API key the config names (`api.api_key_env` of an API teacher or judge) is set in
    this environment: the jobs that call the API run here, on the submitting host. The key's
    value is never read into a message."""
    users = [t for t in cfg["teachers"] if t.get("backend") == "openai"]
    judge = (cfg.get("evaluation") or {}).get("judge") or {}
    if judge.get("api"):
        users.append({**judge, "name": judge.get("name") or "evaluation.judge"})
    out = []
    for entry in users:
        variable = (entry.get("api") or {}).get("api_key_env")
        if not variable:
            out.append(Finding("note", entry["name"], "API: no api_key_env, no key is sent"))
        elif os.environ.get(variable):
            out.append(Finding("ok", entry["name"], f"API key: ${variable} is set"))
        else:
            out.append(
                Finding(
                    "error",
                    entry["name"],
                    f"API key: ${variable} is not set here (export {variable}=... in the shell "
                    "that runs Snakemake; keys are read from the environment only)",
                )
            )
    return out


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "error"]


def summary(findings: list[Finding]) -> str:
    """One line: how many checks passed, how many are problems, how many could not be made."""
    count = {level: sum(f.level == level for f in findings) for level in ("ok", "error", "note")}
    return (
        f"preflight: {len(findings)} checks, {count['ok']} passed, {count['error']} problem(s), "
        f"{count['note']} not checkable here"
    )
