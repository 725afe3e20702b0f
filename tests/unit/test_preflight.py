"""The preflight on real model folders: architectures against transformers and against a vLLM
registry, remote code that does not import, chat templates and their end-of-turn token."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from teachergrid.cli import main
from teachergrid.support.preflight import check_model, errors


def model_folder(root: Path, architecture: str, tokenizer: Path | None = None, **config) -> Path:
    """A model folder as the hub has it: config.json (and a tokenizer when given)."""
    root.mkdir(parents=True)
    if tokenizer is not None:
        for item in tokenizer.iterdir():
            shutil.copy(item, root / item.name)
    (root / "config.json").write_text(json.dumps({"architectures": [architecture], **config}))
    return root


def teacher(path: Path, **extra) -> dict:
    return {"name": "t", "model": str(path), "local": True, "stop": [], **extra}


def findings(entry: dict, role: str = "teacher", backend: str = "hf", vllm=None) -> list:
    return list(check_model(entry, entry["model"], role, backend, None, vllm))


def test_an_architecture_transformers_lacks_is_named_with_the_fix(tmp_path):
    path = model_folder(tmp_path / "phi3-small", "Phi3SmallForCausalLM")
    [problem] = errors(findings(teacher(path)))
    assert problem.model == "t"
    assert "has no architecture Phi3SmallForCausalLM" in problem.message
    assert "no remote code either" in problem.message
    # with remote code named in its config, the fix is to allow it
    path = model_folder(
        tmp_path / "phi3-small-remote",
        "Phi3SmallForCausalLM",
        auto_map={"AutoModelForCausalLM": "modeling_phi3_small.Phi3SmallForCausalLM"},
    )
    [problem] = errors(findings(teacher(path)))
    assert "set trust_remote_code: true" in problem.message


def test_vllm_teacher_checked_against_the_engines_registry(tmp_path, tokenizer_dirs):
    path = model_folder(tmp_path / "m", "Phi3SmallForCausalLM", tokenizer_dirs["chatml"])
    registry = ({"LlamaForCausalLM", "Qwen2ForCausalLM"}, "0.32.0")
    [problem] = errors(findings(teacher(path), backend="vllm", vllm=registry))
    assert problem.message == (
        "vLLM 0.32.0 cannot load architecture Phi3SmallForCausalLM: serve t with backend hf"
    )
    ok = model_folder(tmp_path / "q", "Qwen2ForCausalLM", tokenizer_dirs["chatml"])
    assert errors(findings(teacher(ok), backend="vllm", vllm=registry)) == []
    # where vLLM is not installed, the check is a note, not a pass
    notes = [f for f in findings(teacher(ok), backend="vllm") if f.level == "note"]
    assert [n.message for n in notes] == [
        "vLLM is not installed on this host: architecture not checked"
    ]


def test_remote_code_that_does_not_import_is_reported(tmp_path):
    path = model_folder(
        tmp_path / "rm",
        "BrokenForSequenceClassification",
        auto_map={"AutoModelForSequenceClassification": "modeling_broken.BrokenRM"},
    )
    (path / "modeling_broken.py").write_text("import a_module_nobody_has\n")
    entry = {"name": "armorm", "model": str(path), "local": True, "trust_remote_code": True}
    [problem] = errors(findings(entry, role="reward"))
    assert "its remote code (modeling_broken.BrokenRM) does not import" in problem.message
    assert "a_module_nobody_has" in problem.message


def test_a_turn_must_end_with_a_token_generation_stops_at(tmp_path, tokenizer_dirs):
    from transformers import AutoTokenizer

    # a Llama-3-style template (turns end with <|eot_id|>) whose EOS is another token, as the
    # base Llama-3 tokenizers ship: every backend stops at the one-token marker (chat.stops)
    tok = AutoTokenizer.from_pretrained(tokenizer_dirs["llama3"])
    tok.eos_token = "<|begin_of_text|>"
    saved = tmp_path / "tok"
    tok.save_pretrained(saved)
    path = model_folder(tmp_path / "llama", "LlamaForCausalLM", saved)
    assert errors(findings(teacher(path))) == []
    # a turn closed by plain text of several tokens is a stop string the config must name
    tok.chat_template = tok.chat_template.replace("<|eot_id|>", "###END-OF-TURN###")
    tok.save_pretrained(saved)
    path = model_folder(tmp_path / "llama-text", "LlamaForCausalLM", saved)
    [problem] = errors(findings(teacher(path)))
    assert problem.message == (
        "its template ends a turn with '###END-OF-TURN###', which generation does not stop at "
        "(EOS '<|begin_of_text|>'): add stop: ['###END-OF-TURN###']"
    )
    assert errors(findings(teacher(path, stop=["###END-OF-TURN###"]))) == []


def test_a_chat_model_needs_a_template(tmp_path, tokenizer_dirs):
    path = model_folder(tmp_path / "plain", "LlamaForCausalLM", tokenizer_dirs["plain"])
    [problem] = errors(findings(teacher(path)))
    assert problem.message == (
        "its tokenizer has no chat template: set chat_template to its family's (llama3, "
        "chatml, gemma), default or a Jinja file"
    )
    assert errors(findings(teacher(path, chat_template="default"))) == []
    # a base is scored with the project's default template: no template is fine there, and
    # the preflight says which template each base gets
    base = findings(teacher(path), role="base")
    assert errors(base) == []
    assert [f.message for f in base if f.message.startswith("chat:")] == [
        "chat: the project's default template"
    ]
    named = findings(teacher(path, chat_template="llama3"), role="base")
    assert [f.message for f in named if f.message.startswith("chat:")] == [
        "chat: the llama3 template"
    ]


def test_preflight_command_on_a_config(tmp_path, capsys):
    from helpers import tiny_config

    cfg = tiny_config()
    assert main(["preflight", str(write(tmp_path / "ok.yaml", cfg))]) == 0
    assert "ok: llama-s: LlamaForCausalLM loads with backend hf" in capsys.readouterr().out
    path = model_folder(tmp_path / "phi3-small", "Phi3SmallForCausalLM")
    cfg["teachers"].append({"name": "phi3-small", "model": str(path)})
    assert main(["preflight", str(write(tmp_path / "bad.yaml", cfg))]) == 1
    err = capsys.readouterr().err
    assert "error: phi3-small: transformers" in err and "Phi3SmallForCausalLM" in err
    assert err.strip().endswith("1 model(s) cannot be loaded as configured")


def test_an_api_key_the_config_names_must_be_set_and_is_never_shown(tmp_path, capsys, monkeypatch):
    from helpers import tiny_config

    cfg = tiny_config()
    cfg["teachers"].append(
        {"name": "closed", "model": "gpt-x", "backend": "openai", "params_b": 1000,
         "api": {"model": "gpt-x", "api_key_env": "TG_PREFLIGHT_KEY"}}
    )  # fmt: skip
    path = write(tmp_path / "api.yaml", cfg)
    monkeypatch.delenv("TG_PREFLIGHT_KEY", raising=False)
    assert main(["preflight", str(path)]) == 1
    out = capsys.readouterr()
    assert "error: closed: API key: $TG_PREFLIGHT_KEY is not set here" in out.err
    # the summary counts every check: the 19 tiny models' and the key's
    assert "1 problem(s)" in out.out and "checks" in out.out
    monkeypatch.setenv("TG_PREFLIGHT_KEY", "sk-secret-value")
    assert main(["preflight", str(path)]) == 0
    out = capsys.readouterr()
    assert "ok: closed: API key: $TG_PREFLIGHT_KEY is set" in out.out
    assert "sk-secret-value" not in out.out + out.err
    assert "0 problem(s)" in out.out


def test_students_answering_in_vllm_need_vllm_where_their_jobs_run():
    from helpers import tiny_config

    from teachergrid.support.preflight import check_evaluation_engine

    cfg = tiny_config()
    assert check_evaluation_engine(cfg, lambda e: e["model"], None) == []  # hf: nothing to check
    cfg["evaluation"]["backend"] = "vllm"
    # no vLLM (vllm=None): by hand a note, in the workflow's preflight job an error per base
    by_hand = check_evaluation_engine(cfg, lambda e: e["model"], None)
    in_job = check_evaluation_engine(cfg, lambda e: e["model"], None, in_job_env=True)
    assert [f.level for f in by_hand] == ["note"] * 4
    assert [f.level for f in in_job] == ["error"] * 4
    assert in_job[0].line() == (
        "error: base-llama (evaluation.backend vllm): vLLM is not installed here: run with "
        "--sdm conda, or set evaluation.backend: hf"
    )


def write(path: Path, cfg: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_vllm_engine_context_is_reported_and_checked(tmp_path):
    """An unset max_model_len is reported as sized per job (not the model's 131072); a set
    one must leave room for a prompt and fit the model; a token limit past the model's
    context is an error whatever is set."""
    from teachergrid.support.preflight import check_engine_contexts

    path = model_folder(tmp_path / "m", "LlamaForCausalLM", max_position_embeddings=131072)

    def check(max_model_len, max_new_tokens=1024):
        entry = teacher(path, backend="vllm", decoding="d", max_model_len=max_model_len)
        cfg = {"teachers": [entry], "decodings": {"d": {"max_new_tokens": max_new_tokens}}}
        [finding] = check_engine_contexts(cfg, lambda e: e["model"])
        return finding.level, finding.message

    assert check(None) == (
        "ok",
        "vLLM engine context sized in its job: longest prompt + 1024 new tokens, rounded up "
        "to 256 (the model's own: 131072)",
    )
    assert check(8192) == ("ok", "vLLM engine context 8192 tokens (set; the model's own: 131072)")
    assert check(1024)[0] == "error" and "leaves no room for a prompt" in check(1024)[1]
    assert check(262144)[0] == "error" and "longer than the model's context" in check(262144)[1]
    assert check(None, 131072)[1] == (
        "max_new_tokens 131072 does not fit the model's context 131072: lower the decoding's limit"
    )
