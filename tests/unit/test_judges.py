"""The benchmarks' judge protocols: prompts rendered as the benchmarks do, verdicts read as they
do (AlpacaEval's log-probability weighting, Arena-Hard's five labels), over real HTTP."""

import math

import pytest
from fake_openai import FakeOpenAI
from helpers import judge_entry

from teachergrid.evaluation import judges


def test_alpaca_eval_preference_from_logprobs_by_hand():
    # P(m) = 0.6, P(M) = 0.3 (other tokens ignored): preference for the first output 2/3
    top = {"m": math.log(0.6), " M": math.log(0.3), "The": math.log(0.1)}
    assert judges.identifier_preference(top, "m") == pytest.approx((2 / 3, 1.0))
    # only one of them: the other's probability is 0, as in AlpacaEval's logprob_parser
    assert judges.identifier_preference({" M": -0.1, "x": -3.0}, "M") == (0.0, 1.0)
    # neither m nor M among the top tokens: no verdict, whatever the text (AlpacaEval: NaN,
    # dropped), and an empty list of them alike
    assert judges.identifier_preference({"x": 0.0}, "M") is None
    assert judges.identifier_preference({}, "m") is None
    # a server that returns no log-probabilities at all: the reply's text decides
    assert judges.identifier_preference(None, "m") == (1.0, 1.0)
    assert judges.identifier_preference(None, "model m") is None


def test_prompts_render_placeholders_literally():
    prompt = judges.alpaca_eval_prompt(None)
    chat = prompt.render(instruction="Say {hi}", output_1="A {output_2}", output_2="B")
    assert [m["role"] for m in chat] == ["system", "user"]
    user = chat[1]["content"]
    # the first answer's text is not re-expanded; the second placeholder is filled once
    assert "Say {hi}" in user and "A {output_2}" in user and user.count("\nB\n") == 1
    arena = judges.arena_hard_prompt(None).render(question_1="Q", answer_1="a1", answer_2="a2")
    assert arena[0]["role"] == "system" and "[[A>>B]]" in arena[0]["content"]
    assert "<|User Prompt|>\nQ\n" in arena[1]["content"]


def test_published_prompt_files_are_read_in_their_formats(tmp_path):
    clf = tmp_path / "clf.txt"
    clf.write_text(
        "<|im_start|>system\nBe fair.\n<|im_end|>\n<|im_start|>user\n"
        '{\n  "instruction": """{instruction}""",\n}\n{output_1} vs {output_2}\n<|im_end|>\n'
    )
    chat = judges.alpaca_eval_prompt(clf).render(instruction="I", output_1="x", output_2="y")
    assert chat == [
        {"role": "system", "content": "Be fair."},
        {"role": "user", "content": '{\n  "instruction": """I""",\n}\nx vs y'},
    ]
    config = tmp_path / "judge_config.yaml"
    config.write_text(
        'system_prompt: "Judge. End with [[A>B]] or the like."\n'
        'prompt_template: ["Q: {question_1}\\nA: {answer_1}\\nB: {answer_2}"]\n'
    )
    chat = judges.arena_hard_prompt(config).render(question_1="q", answer_1="1", answer_2="2")
    assert chat[1]["content"] == "Q: q\nA: 1\nB: 2"
    config.write_text('system_prompt: "x"\nprompt_template: ["{question_1}"]\n')
    with pytest.raises(ValueError, match=r"no \{answer_1\} placeholder"):
        judges.arena_hard_prompt(config)


class JudgeServer(FakeOpenAI):
    """Answers like an LLM judge: AlpacaEval-style requests (one token, logprobs asked for) get
    `m` with P(m) = 0.8, P(M) = 0.2; Arena-Hard-style ones `[[A>B]]`, or by what an answer under
    judgement says: 'mute' no verdict ever, 'late' a verdict (`[[B>>A]]`) only when asked to
    continue, 'reversed' the label `[[B=A]]`."""

    def _answer(self, body, prompt, count):
        import json

        if body.get("logprobs"):
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": "m"},
                "finish_reason": "length",
                "logprobs": {
                    "content": [
                        {
                            "token": "m",
                            "logprob": math.log(0.8),
                            "top_logprobs": [
                                {"token": "m", "logprob": math.log(0.8)},
                                {"token": "M", "logprob": math.log(0.2)},
                            ],
                        }
                    ]
                },
            }
        else:
            judged = body["messages"][1]["content"]  # the user turn holding both answers
            continued = len(body["messages"]) > 2
            if "mute" in judged:
                text = "My answer ... no verdict"
            elif "late" in judged:
                text = "so, at last: [[B>>A]]" if continued else "My answer first, at length ..."
            elif "reversed" in judged:
                text = "My final verdict is [[B=A]]"
            else:
                text = "Thus: [[A>B]]"
            choice = {"index": 0, "message": {"role": "assistant", "content": text},
                      "finish_reason": "stop"}  # fmt: skip
        return json.dumps({"choices": [choice]}).encode()


def test_openai_judges_speak_each_benchmarks_protocol(monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sk-judge")
    with JudgeServer(lambda p: []) as server:
        api = {"model": "judge", "api_key_env": "JUDGE_KEY", "base_url": server.base_url}
        alpaca = judges.make_judge(judge_entry(kind="openai", api=api), None, "alpaca_eval")
        assert alpaca.prefer(["q"], ["one"], ["two"]) == [pytest.approx((0.8, 1.0))]
        body = next(iter(server.bodies.values()))
        assert body["max_tokens"] == 1 and body["top_logprobs"] == 5
        arena = judges.make_judge(judge_entry(kind="openai", api=api), None, "arena_hard")
        asked = server.requests
        verdicts = arena.prefer(["q"] * 4, ["one", "mute", "late", "reversed"], ["two"] * 4)
        # Arena-Hard v0.1: a reply with no label gets one more turn ('mute' and 'late'), read
        # with the first; a label its result script does not count ([[B=A]]) is dropped
        assert verdicts == [(1.0, 1.0), None, (0.0, 3.0), None]
        assert server.requests - asked == 6
        assert server.attempts[judges.ARENA_HARD_CONTINUE] == 2
        turns = server.bodies[judges.ARENA_HARD_CONTINUE]["messages"]
        assert [m["role"] for m in turns] == ["system", "user", "assistant", "user"]
        system = [b for b in server.bodies.values() if b["messages"][0]["role"] == "system"]
        assert any("[[B>>A]]" in b["messages"][0]["content"] for b in system)


def test_judge_prompts_are_fetched_checked_and_kept(tmp_path):
    import functools
    import http.server
    import threading

    site = tmp_path / "site"
    site.mkdir()
    (site / "judge_config.yaml").write_text(judges.builtin_prompt_text("arena_hard"))
    (site / "broken.yaml").write_text('system_prompt: "x"\nprompt_template: ["no fields"]\n')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        out = tmp_path / "kept" / "arena_hard.txt"
        digest = judges.fetch_prompt(f"{base}/judge_config.yaml", "arena_hard", out)
        assert len(digest) == 64
        chat = judges.arena_hard_prompt(out).render(question_1="q", answer_1="a", answer_2="b")
        assert "[[B>>A]]" in chat[0]["content"]
        # a file that does not parse is not kept
        bad = tmp_path / "kept" / "bad.txt"
        with pytest.raises(ValueError, match="placeholder"):
            judges.fetch_prompt(f"{base}/broken.yaml", "arena_hard", bad)
        assert not bad.exists() and not list((tmp_path / "kept").glob("*.part"))
    finally:
        server.shutdown()
    with pytest.raises(
        RuntimeError, match=r"evaluation\.judge\.prompts\.alpaca_eval: cannot fetch"
    ):
        judges.fetch_prompt(f"{base}/gone.txt", "alpaca_eval", tmp_path / "x.txt", timeout=2)
    judges.fetch_prompt("builtin", "alpaca_eval", tmp_path / "alpaca_eval.txt")
    assert judges.alpaca_eval_prompt(tmp_path / "alpaca_eval.txt") == judges.alpaca_eval_prompt(
        None
    )
