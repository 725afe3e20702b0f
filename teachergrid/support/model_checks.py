"""One model's preflight: its architecture against what its backend loads, its remote code,
its tokenizer's chat template and the token that ends its turn, read from a local folder, the
hub or the hub cache (`Source`). Each problem is a `Finding` that names the model and the fix."""

from __future__ import annotations

import functools
import json
import os
import socket
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The tiny world's architectures, as the classes transformers and vLLM know them by.
TINY_ARCHITECTURES = {
    ("llama", False): "LlamaForCausalLM",
    ("qwen2", False): "Qwen2ForCausalLM",
    ("gemma2", False): "Gemma2ForCausalLM",
    ("phi3", False): "Phi3ForCausalLM",
    ("llama", True): "LlamaForSequenceClassification",
    ("qwen2", True): "Qwen2ForSequenceClassification",
    ("gemma2", True): "Gemma2ForSequenceClassification",
    ("phi3", True): "Phi3ForSequenceClassification",
}


# Where a model's remote code is named in its config's auto_map, by what the job loads.
AUTO_CLASS = {"causal": "AutoModelForCausalLM", "reward": "AutoModelForSequenceClassification"}


@dataclass(frozen=True)
class Finding:
    """One result: `error` stops the run, `note` says what was not checked, `ok` passed."""

    level: str
    model: str
    message: str

    def line(self) -> str:
        return f"{self.level}: {self.model}: {self.message}"


@functools.cache
def _offline() -> bool:
    """Read the hub from its cache only: HF_HUB_OFFLINE is set, or the hub does not answer a
    connection within seconds (the hub client would otherwise retry every file for minutes)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return True
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
        with socket.create_connection((endpoint.hostname or "", port), timeout=5):
            return False
    except OSError:
        return True


class Source:
    """A model's files: a local folder, or a hub repository (downloaded, or read from the
    cache when offline). Raises `LookupError` with a one-line reason when a file cannot be
    had, and returns None for a file the model does not have."""

    def __init__(self, entry: dict[str, Any], path: str) -> None:
        self.entry = entry
        self.path = path
        self.local = bool(entry.get("local")) and not entry.get("tiny")

    def file(self, name: str) -> Path | None:
        if self.local:
            candidate = Path(self.path) / name
            if not Path(self.path).is_dir():
                raise LookupError(f"local model folder {self.path} does not exist")
            return candidate if candidate.is_file() else None
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            GatedRepoError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        try:
            return Path(
                hf_hub_download(
                    self.path,
                    name,
                    revision=self.entry.get("revision"),
                    token=os.environ.get("HF_TOKEN") or None,
                    local_files_only=_offline(),
                )
            )
        except GatedRepoError:
            raise LookupError(
                f"{self.path} is gated: accept its licence on the hub and export HF_TOKEN"
            ) from None
        except RepositoryNotFoundError:
            raise LookupError(
                f"{self.path} is not on the hub (or is private: export HF_TOKEN)"
            ) from None
        except RevisionNotFoundError:
            raise LookupError(
                f"{self.path} has no revision {self.entry.get('revision')!r}"
            ) from None
        except LocalEntryNotFoundError:  # (a subclass of EntryNotFoundError: first)
            raise LookupError(
                f"{self.path} is not in the hub cache and the hub is not reachable "
                "(or HF_HUB_OFFLINE is set): not checked"
            ) from None
        except EntryNotFoundError:
            return None
        except OSError as exc:  # no network, proxy errors
            raise LookupError(f"{self.path}: hub not reachable ({exc}): not checked") from None

    def json(self, name: str) -> dict[str, Any] | None:
        found = self.file(name)
        return json.loads(found.read_text(encoding="utf-8")) if found else None


def _architectures(config: dict[str, Any]) -> list[str]:
    return list(config.get("architectures") or [])


def check_model(
    entry: dict[str, Any],
    path: str,
    role: str,
    backend: str,
    tiny_recipe: dict[str, Any] | None,
    vllm: tuple[set[str], str] | None,
) -> Iterator[Finding]:
    """Every check of one model. `role`: teacher, base, reward or reference; `backend`: how
    it is loaded (hf, vllm; openai teachers are not loaded here)."""
    import transformers

    name = entry["name"]
    kind = "reward" if role == "reward" else "causal"
    if tiny_recipe is not None:
        arch = TINY_ARCHITECTURES[(tiny_recipe["architecture"], kind == "reward")]
        config: dict[str, Any] | None = {"architectures": [arch]}
        source = None
    else:
        source = Source(entry, path)
        try:
            config = source.json("config.json")
        except LookupError as exc:
            level = "note" if "not checked" in str(exc) else "error"
            yield Finding(level, name, str(exc))
            return
        if config is None:
            yield Finding("error", name, f"{path} has no config.json: not a transformers model")
            return

    archs = _architectures(config)
    remote = config.get("auto_map", {}).get(AUTO_CLASS[kind])
    if backend == "vllm":
        if vllm is None:
            yield Finding(
                "note", name, "vLLM is not installed on this host: architecture not checked"
            )
        else:
            supported, version = vllm
            missing = [a for a in archs if a not in supported]
            if missing:
                yield Finding(
                    "error",
                    name,
                    f"vLLM {version} cannot load architecture {', '.join(missing)}: "
                    f"serve {name} with backend hf",
                )
                return
    elif remote and entry.get("trust_remote_code"):
        yield from _check_remote_code(entry, path, remote, name)
    else:
        missing = [a for a in archs if not hasattr(transformers, a)]
        if missing:
            fix = (
                "its config names remote code: set trust_remote_code: true for it"
                if remote
                else "no remote code either; use a model transformers supports"
            )
            yield Finding(
                "error",
                name,
                f"transformers {transformers.__version__} has no architecture "
                f"{', '.join(missing)} ({fix})",
            )
            return
    if role == "teacher" and source is not None:
        yield from _check_turns(entry, path, name, source)
    if role == "base" and source is not None:
        yield from _name_template(entry, path, name)
    yield Finding("ok", name, f"{', '.join(archs) or 'model'} loads with backend {backend}")


def _check_remote_code(entry: dict[str, Any], path: str, ref: str, name: str) -> Iterator[Finding]:
    import transformers
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    try:
        get_class_from_dynamic_module(
            ref, path, revision=entry.get("revision"), local_files_only=_offline()
        )
    except Exception as exc:  # any import failure of third-party code is the finding
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        yield Finding(
            "error",
            name,
            f"its remote code ({ref}) does not import under transformers "
            f"{transformers.__version__}: {type(exc).__name__}: {first}",
        )


def _tokenizer(entry: dict[str, Any], path: str, name: str) -> Generator[Finding, None, Any]:
    """A model's tokenizer as its jobs load it, or None after an error finding."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(
            path,
            revision=entry.get("revision"),
            trust_remote_code=bool(entry.get("trust_remote_code")),
            local_files_only=_offline() or bool(entry.get("local")),
        )
    except Exception as exc:  # a tokenizer that does not load is the finding
        yield Finding("error", name, f"its tokenizer does not load: {type(exc).__name__}: {exc}")
        return None


def _name_template(entry: dict[str, Any], path: str, name: str) -> Iterator[Finding]:
    """Which chat template a base is fine-tuned and scored with: its tokenizer's own, a family's
    (`chat_template: llama3`, ...), a file's or the project's default."""
    from teachergrid.core.chat import family_template, template_name

    tokenizer = yield from _tokenizer(entry, path, name)
    if tokenizer is None:
        return
    own, family = bool(tokenizer.chat_template), family_template(tokenizer)
    yield Finding("note", name, f"chat: {template_name(entry.get('chat_template'), own, family)}")


def _check_turns(entry: dict[str, Any], path: str, name: str, source: Source) -> Iterator[Finding]:
    """A chat template, and an end-of-turn marker that generation stops at."""
    from teachergrid.core.chat import resolve_chat_template, turn_end

    tokenizer = yield from _tokenizer(entry, path, name)
    if tokenizer is None:
        return
    setting = entry.get("chat_template")
    if setting is None and not tokenizer.chat_template:
        yield Finding(
            "error",
            name,
            "its tokenizer has no chat template: set chat_template to its family's (llama3, "
            "chatml, gemma), default or a Jinja file",
        )
        return
    tokenizer.chat_template = resolve_chat_template(tokenizer, setting)
    marker = turn_end(tokenizer)
    stops = {tokenizer.eos_token, *entry.get("stop", [])}
    generation = source.json("generation_config.json") or {}
    eos_ids = generation.get("eos_token_id")
    for token_id in eos_ids if isinstance(eos_ids, list) else [eos_ids]:
        if isinstance(token_id, int):
            stops.add(tokenizer.convert_ids_to_tokens(token_id))
    stops.discard(None)
    if marker is None:
        yield Finding(
            "error", name, "its chat template marks no end of a turn: generation cannot stop"
        )
    elif (
        not any(marker.startswith(s) for s in stops if s)
        and len(tokenizer.encode(marker, add_special_tokens=False)) != 1
    ):
        # a one-token marker is a stop token of every backend (chat.stops); a longer one
        # must be a configured stop string
        yield Finding(
            "error",
            name,
            f"its template ends a turn with {marker!r}, which generation does not stop at "
            f"(EOS {tokenizer.eos_token!r}): add stop: [{marker!r}]",
        )
