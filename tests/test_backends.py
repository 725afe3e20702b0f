"""Backends around the engine call: vLLM request construction and parsing, and the
OpenAI-compatible client against a real HTTP server on loopback."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import ClassVar

import pytest

from teachergrid.backends import openai_api, vllm
from teachergrid.backends.base import Decoding


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


class FlakyChatServer(BaseHTTPRequestHandler):
    """OpenAI-compatible /chat/completions that fails the first request of each prompt."""

    seen: ClassVar[dict] = {}
    auth: ClassVar[list] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FlakyChatServer.auth.append(self.headers.get("Authorization"))
        prompt = body["messages"][-1]["content"]
        count = FlakyChatServer.seen.get(prompt, 0)
        FlakyChatServer.seen[prompt] = count + 1
        if count == 0:
            self.send_response(429)
            self.end_headers()
            return
        payload = {
            "choices": [
                {"index": i, "message": {"content": f"{prompt} #{i}"}} for i in range(body["n"])
            ]
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_openai_backend_retries_over_real_http(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyChatServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(openai_api.time, "sleep", lambda s: None)
    monkeypatch.setenv("TEST_TEACHER_KEY", "sk-test-secret")
    try:
        teacher = {
            "api": {
                "model": "gpt-x",
                "api_key_env": "TEST_TEACHER_KEY",
                "base_url": f"http://127.0.0.1:{server.server_port}/v1",
                "max_concurrency": 4,
                "max_retries": 3,
                "timeout_s": 5,
            }
        }
        backend = openai_api.OpenAIBackend(teacher, Decoding(temperature=0.5, n=2))
        answers = backend.generate([f"q{i}" for i in range(6)])
    finally:
        server.shutdown()
    assert answers == [[f"q{i} #0", f"q{i} #1"] for i in range(6)]
    assert all(v == 2 for v in FlakyChatServer.seen.values())
    assert set(FlakyChatServer.auth) == {"Bearer sk-test-secret"}


def test_openai_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("NOT_SET_KEY", raising=False)
    with pytest.raises(openai_api.APIKeyMissing, match="NOT_SET_KEY is not set"):
        openai_api.OpenAIBackend({"api": {"model": "m", "api_key_env": "NOT_SET_KEY"}}, Decoding())


def test_openai_request_body():
    body = openai_api.request_body("hi", {"model": "m"}, Decoding(max_new_tokens=5), "sys")
    assert body == {
        "model": "m",
        "max_tokens": 5,
        "temperature": 0.0,
        "n": 1,
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
    }
