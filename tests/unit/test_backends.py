"""Backends around the engine call: vLLM request construction and parsing, and the
OpenAI-compatible client against a real HTTP server on loopback."""

import json
from types import SimpleNamespace

import pytest
from fake_openai import FakeOpenAI
from helpers import model_entry

from teachergrid.screening.backends import openai_api, vllm
from teachergrid.screening.backends.base import Decoding


def test_vllm_engine_and_sampling_arguments():
    teacher = {
        "tensor_parallel_size": 4,
        "max_model_len": 4096,
        "trust_remote_code": False,
        "gpu_memory_utilization": 0.85,
        "dtype": "bfloat16",
        "stop": ["<|eot_id|>"],
        "revision": "abc123",
    }
    kwargs = vllm.engine_kwargs("/models/llama", teacher)
    assert kwargs == {
        "model": "/models/llama",
        "tensor_parallel_size": 4,
        "trust_remote_code": False,
        "gpu_memory_utilization": 0.85,
        "dtype": "bfloat16",
        "revision": "abc123",
        "max_model_len": 4096,
    }
    greedy = vllm.sampling_kwargs(Decoding(max_new_tokens=2048, top_p=0.9), teacher)
    assert greedy == {
        "n": 1,
        "max_tokens": 2048,
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": 0,
        "stop": ["<|eot_id|>"],
    }
    sampled = vllm.sampling_kwargs(Decoding(temperature=0.7, top_p=0.9, n=4, seed=3), {})
    assert sampled == {"n": 4, "max_tokens": 1024, "temperature": 0.7, "top_p": 0.9, "seed": 3}


def test_vllm_output_parsing_keeps_order_and_checks_counts():
    def out(*texts):
        return SimpleNamespace(outputs=[SimpleNamespace(text=t) for t in texts])

    parsed = vllm.parse_outputs([out(" a<|end|>x", "b "), out("c", "d")], 2, ["<|end|>"])
    assert parsed == [["a", "b"], ["c", "d"]]
    with pytest.raises(RuntimeError, match="prompt 1"):
        vllm.parse_outputs([out("a"), out()], 1, [])
    assert vllm.conversations(["q"], "be brief") == [
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "q"}]
    ]


FAULTS = [
    ["429"],
    ["500", "503"],
    ["timeout"],
    ["garbage"],
    ["no-choices"],
    ["429", "timeout"],
    [],
    ["501", "599"],
]


def plan(prompt: str) -> list[str]:
    return FAULTS[int(prompt.removeprefix("q")) % len(FAULTS)]


def api(server: FakeOpenAI) -> dict:
    return {
        "model": "gpt-x",
        "api_key_env": "TEST_TEACHER_KEY",
        "base_url": server.base_url,
        "max_concurrency": 4,
        "max_retries": 4,
        "timeout_s": 0.3,
        "backoff_s": 0.01,
    }


def test_openai_backend_survives_every_fault_with_each_answer_once(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("TEST_TEACHER_KEY", "sk-test-secret-123")
    prompts = [f"q{i}" for i in range(24)]
    cache = tmp_path / "api_cache.jsonl"
    with FakeOpenAI(plan, timeout_sleep=0.6) as server:
        backend = openai_api.OpenAIBackend(
            {"api": api(server)}, Decoding(temperature=0.7, n=2), cache_path=cache
        )
        answers = backend.generate(prompts)
        assert answers == [[f"{p} -> 0", f"{p} -> 1"] for p in prompts]
        # every prompt answered exactly once by the server; every fault retried
        assert all(server.answered[p] == 1 for p in prompts)
        assert backend.retries == sum(len(plan(p)) for p in prompts)
        assert server.auth == {"Bearer sk-test-secret-123"}
        assert backend.finish_reasons == {"stop": 48}
        # a rerun (a new process, same cache file) sends nothing
        sent = server.requests
        again = openai_api.OpenAIBackend(
            {"api": api(server)}, Decoding(temperature=0.7, n=2), cache_path=cache
        )
        assert again.generate(prompts) == answers
        assert server.requests == sent and again.requests_sent == 0
    assert "sk-test-secret-123" not in cache.read_text()
    assert "sk-test-secret-123" not in caplog.text


def test_openai_cache_ignores_a_torn_last_line(tmp_path):
    cache = tmp_path / "c.jsonl"
    cache.write_text('{"key": "a", "texts": ["x"]}\n{"key": "b", "te')
    loaded = openai_api.ResponseCache(cache)
    assert len(loaded) == 1 and loaded.get("b") is None
    assert loaded.get("a") == [openai_api.Completion("x")]


def test_openai_honours_retry_after_and_sends_stop(monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_TEACHER_KEY", "sk-test-secret-123")
    with FakeOpenAI(lambda p: ["429ra1"] if p == "q0" else []) as server:
        teacher = {"api": api(server), "stop": ["<|eot_id|>"]}
        backend = openai_api.OpenAIBackend(teacher, Decoding(), tmp_path / "c.jsonl")
        assert backend.generate(["q0", "a long one"]) == [["q0 -> 0"], ["a long one -> 0"]]
        first, second = server.times["q0"]
        # the server asked for 1 s; the client's own backoff would have waited <= 0.01 s
        assert second - first >= 0.95
        assert server.bodies["q0"]["stop"] == ["<|eot_id|>"]
        assert backend.finish_reasons == {"stop": 1, "length": 1}
    record = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert {r["completions"][0]["finish_reason"] for r in record} == {"stop", "length"}


def test_retry_after_forms():
    assert openai_api.retry_after({"retry-after": "2"}) == 2.0
    assert openai_api.retry_after({"retry-after-ms": "250"}) == 0.25
    assert openai_api.retry_after({}) is None
    date = "Wed, 21 Oct 2015 07:28:00 GMT"  # in the past: no wait
    assert openai_api.retry_after({"retry-after": date}) == 0.0


def test_openai_gives_up_after_max_retries_and_on_client_errors(monkeypatch):
    monkeypatch.setenv("TEST_TEACHER_KEY", "sk-test-secret-123")
    with FakeOpenAI(lambda p: ["500"] * 10) as server:
        backend = openai_api.OpenAIBackend({"api": api(server)}, Decoding())
        with pytest.raises(RuntimeError, match="failed 5 times") as info:
            backend.generate(["q0"])
        assert "sk-test" not in str(info.value)
    with FakeOpenAI(lambda p: ["401"]) as server:
        backend = openai_api.OpenAIBackend({"api": api(server)}, Decoding())
        with pytest.raises(RuntimeError, match="HTTP 401"):
            backend.generate(["q0"])
        assert server.requests == 1  # not retried


def test_openai_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("NOT_SET_KEY", raising=False)
    with pytest.raises(openai_api.APIKeyMissing, match="NOT_SET_KEY is not set"):
        teacher = model_entry(
            "teachers", name="t", api={"model": "m", "api_key_env": "NOT_SET_KEY"}
        )
        openai_api.OpenAIBackend(teacher, Decoding())


def test_openai_request_body():
    body = openai_api.request_body("hi", {"model": "m"}, Decoding(max_new_tokens=5), "sys")
    assert openai_api.request_key(body) == openai_api.request_key(dict(reversed(body.items())))
    assert body == {
        "model": "m",
        "max_tokens": 5,
        "temperature": 0.0,
        "n": 1,
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
    }
    judge = openai_api.request_body(
        [{"role": "user", "content": "which?"}],
        {"model": "m"},
        Decoding(max_new_tokens=1),
        stop=["<|im_end|>"],
        extra={"logprobs": True, "top_logprobs": 5},
    )
    assert judge["messages"] == [{"role": "user", "content": "which?"}]
    assert judge["stop"] == ["<|im_end|>"] and judge["top_logprobs"] == 5


def test_a_vllm_engine_is_sized_for_the_jobs_prompts(tokenizer_dirs):
    """The engine's context: the longest prompt as rendered (template and generation prompt)
    plus the answer's limit, rounded up to vLLM's block of 256, within the model's own."""
    from transformers import AutoTokenizer

    from teachergrid.core.chat import resolve_chat_template

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dirs["chatml"])
    template = resolve_chat_template(tokenizer, None)
    short, long = "Add 3 and 4.", "What is the capital of Peru? " * 20
    lengths = vllm.prompt_lengths(tokenizer, template, [short, long], None)
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": long}], chat_template=template,
        add_generation_prompt=True, tokenize=False,
    )  # fmt: skip
    assert lengths[1] == len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    assert lengths[0] < lengths[1]
    # a system prompt is part of every prompt
    assert vllm.prompt_lengths(tokenizer, template, [short], "Be brief.")[0] > lengths[0]
    assert vllm.context_length([100, 700], 1024, 131072) == 1792  # 1724 rounded up
    assert vllm.context_length([100], 156, None) == 256
    assert vllm.context_length([4000], 4096, 4096) == 4096  # never past the model's own
