"""Pairwise judges behind one interface: which of two answers to an instruction is better.

`prefer(instructions, first, second)` returns, per instruction, the preference for `first` in
[0, 1] (1: first better, 0.5: tie) with a weight (Arena-Hard counts a decisive verdict, A>>B,
as three battles), or None when the judge gave no usable verdict: such a judgement is dropped
and counted, never read as a tie (Arena-Hard's rule; AlpacaEval likewise leaves out
annotations without a preference).

Two LLM-judge protocols, one per benchmark, each as its benchmark publishes it:
- `alpaca_eval` (AlpacaEval 2's `weighted_alpaca_eval_gpt4_turbo` annotator): the two outputs
  are labelled `m` (first) and `M` (second); the judge answers with one token, and the
  preference is read from that token's log-probabilities, P(M) / (P(m) + P(M)) for the second
  output, rather than from the sampled token. Without log-probabilities (some servers do not
  return them) the answer's text decides (`m` or `M`), anything else is no verdict.
- `arena_hard` (Arena-Hard v0.1): a system prompt in which the judge writes its own answer
  first, then compares, and ends with one of five verdicts, [[A>>B]] ... [[B>>A]]. A reply with
  no verdict, or with two different ones, is no verdict (arena-hard-auto's parser).

The prompts are the benchmarks' own for real runs (fetched from their published configuration
by the `judge_prompts` rule and cached beside the results); the repo's templates below follow the
same protocols in its own words and serve offline runs and tests.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

Verdict = tuple[float, float] | None


class Judge(Protocol):
    def prefer(
        self, instructions: Sequence[str], first: Sequence[str], second: Sequence[str]
    ) -> list[Verdict]: ...


class RewardModelJudge:
    """Offline judge: a reward model scores both answers; P(first) = sigmoid(r1 - r2), the
    Bradley-Terry probability the reward model was trained to express. Position-free."""

    def __init__(self, model_path: str, entry: dict[str, Any], threads: int | None = None):
        self.model_path, self.entry, self.threads = model_path, entry, threads

    def prefer(self, instructions, first, second):
        from teachergrid.screening.reward import score

        rows = [{"instruction": q, "response": a} for q, a in zip(instructions, first, strict=True)]
        rows += [
            {"instruction": q, "response": b} for q, b in zip(instructions, second, strict=True)
        ]
        scores = score(self.model_path, self.entry, rows, threads=self.threads)
        n = len(instructions)
        return [(1.0 / (1.0 + math.exp(-(scores[i] - scores[n + i]))), 1.0) for i in range(n)]


# --- prompts ----------------------------------------------------------------------------------

ALPACA_EVAL_BUILTIN = """<|im_start|>system
You rank the answers of language models to instructions, so that a leaderboard of the models \
reflects which answers people would prefer.
<|im_end|>
<|im_start|>user
Two models answered the instruction below. Decide which answer a careful human reader would \
prefer.

## Instruction

{instruction}

## Answers

Answer of model m:
{output_1}

Answer of model M:
{output_2}

## Your reply

Reply with the identifier of the model whose answer is better, and nothing else: m or M.
<|im_end|>"""

ARENA_HARD_BUILTIN_SYSTEM = """You are an impartial judge of two AI assistants' answers to the \
user prompt shown below (assistant A's and assistant B's). First write your own answer to the \
prompt. Then compare both assistants' answers with yours: point out and correct mistakes or \
inaccurate information, and weigh how helpful (does it answer the prompt or follow its \
instructions; asking for clarification is better than guessing when the prompt is ambiguous), \
relevant and concise each answer is, its creativity where that matters, and what important \
information it leaves out.

After your explanation, end with exactly one of these final verdicts:

1. Assistant A is significantly better: [[A>>B]]
2. Assistant A is slightly better: [[A>B]]
3. Tie, relatively the same: [[A=B]]
4. Assistant B is slightly better: [[B>A]]
5. Assistant B is significantly better: [[B>>A]]

For example: "My final verdict is tie: [[A=B]]"."""

ARENA_HARD_BUILTIN_TEMPLATE = (
    "<|User Prompt|>\n{question_1}\n\n"
    "<|The Start of Assistant A's Answer|>\n{answer_1}\n<|The End of Assistant A's Answer|>\n\n"
    "<|The Start of Assistant B's Answer|>\n{answer_2}\n<|The End of Assistant B's Answer|>"
)


@dataclass(frozen=True)
class JudgePrompt:
    """A judge's chat: (role, text) turns whose text holds the benchmark's placeholders."""

    turns: tuple[tuple[str, str], ...]

    def render(self, **fields: str) -> list[dict[str, str]]:
        """The messages for one comparison. Only the named placeholders are replaced (the
        templates hold JSON braces that are not placeholders), in one pass, so an answer that
        itself contains `{output_2}` is not expanded."""
        pattern = re.compile("|".join(re.escape("{" + name + "}") for name in fields))
        return [
            {"role": role, "content": pattern.sub(lambda m: fields[m.group(0)[1:-1]], text)}
            for role, text in self.turns
        ]


def parse_chat_markup(text: str) -> JudgePrompt:
    """AlpacaEval's prompt files: `<|im_start|>ROLE\\n...<|im_end|>` turns (a file without
    markup is one user turn)."""
    turns = re.findall(r"<\|im_start\|>(\w+)\n(.*?)\n?<\|im_end\|>", text, flags=re.S)
    if not turns:
        return JudgePrompt((("user", text.strip()),))
    return JudgePrompt(tuple((role, body.strip("\n")) for role, body in turns))


def alpaca_eval_prompt(path: str | Path | None) -> JudgePrompt:
    text = ALPACA_EVAL_BUILTIN if path is None else Path(path).read_text(encoding="utf-8")
    prompt = parse_chat_markup(text)
    body = "".join(t for _, t in prompt.turns)
    for field in ("{instruction}", "{output_1}", "{output_2}"):
        if field not in body:
            raise ValueError(f"{path}: the AlpacaEval judge prompt has no {field} placeholder")
    return prompt


def arena_hard_prompt(path: str | Path | None) -> JudgePrompt:
    """Arena-Hard's judge configuration (`judge_config.yaml`: `system_prompt`,
    `prompt_template`), or the repo's own."""
    if path is None:
        system, template = ARENA_HARD_BUILTIN_SYSTEM, ARENA_HARD_BUILTIN_TEMPLATE
    else:
        import yaml

        cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        system, template = cfg.get("system_prompt"), cfg.get("prompt_template")
        if isinstance(template, list):
            template = template[0] if template else None
        if not system or not template:
            raise ValueError(f"{path}: needs system_prompt and prompt_template (Arena-Hard's)")
    for field in ("{question_1}", "{answer_1}", "{answer_2}"):
        if field not in template:
            raise ValueError(f"{path}: the Arena-Hard prompt template has no {field} placeholder")
    return JudgePrompt((("system", system), ("user", template)))


# The benchmarks' published judge configurations, pinned to the commits whose files this
# project's parsers were checked against.
OFFICIAL_PROMPTS = {
    "alpaca_eval": "https://raw.githubusercontent.com/tatsu-lab/alpaca_eval/"
    "19f9bf34e92401edab469ebdccb7ab851d3dffc6/src/alpaca_eval/evaluators_configs/"
    "alpaca_eval_clf_gpt4_turbo/alpaca_eval_clf.txt",
    "arena_hard": "https://raw.githubusercontent.com/lmarena/arena-hard-auto/"
    "7f1b7f5dd6ce53e1f8530220ceb452b7019a8056/config/judge_config.yaml",
}


def builtin_prompt_text(bench: str) -> str:
    """The repo's own prompt of a benchmark, in the benchmark's file format."""
    if bench == "alpaca_eval":
        return ALPACA_EVAL_BUILTIN + "\n"
    import yaml

    return yaml.safe_dump(
        {
            "system_prompt": ARENA_HARD_BUILTIN_SYSTEM,
            "prompt_template": [ARENA_HARD_BUILTIN_TEMPLATE],
        },
        sort_keys=False,
        width=100,
    )


def fetch_prompt(source: str, bench: str, out: Path, timeout: float = 30.0) -> str:
    """Write a benchmark's judge prompt file to `out`: `builtin` (the repo's), a local path, or
    a URL (the benchmark's published configuration, fetched on the submitting host). The file
    is parsed before it is kept, so a wrong URL fails here, not in every evaluation job.
    Returns the text's sha256."""
    import hashlib
    import urllib.request

    if source == "builtin":
        text = builtin_prompt_text(bench)
    elif source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=timeout) as response:
                text = response.read().decode("utf-8")
        except OSError as exc:
            raise RuntimeError(
                f"evaluation.judge.prompts.{bench}: cannot fetch {source} ({exc}); run where "
                "the URL is reachable, or point the key at a local copy or at 'builtin'"
            ) from None
    else:
        text = Path(source).read_text(encoding="utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    try:
        (alpaca_eval_prompt if bench == "alpaca_eval" else arena_hard_prompt)(tmp)
    except ValueError:
        tmp.unlink()
        raise
    tmp.replace(out)
    return hashlib.sha256(text.encode()).hexdigest()


# --- verdicts ---------------------------------------------------------------------------------

# The five labels Arena-Hard v0.1's result script (show_result.py) turns into battles; any
# other label the judge writes (`[[B=A]]`, `[[A<B]]`, ...) is a judgement it drops.
VERDICTS = {
    "A>>B": (1.0, 3.0),
    "A>B": (1.0, 1.0),
    "A=B": (0.5, 1.0),
    "B>A": (0.0, 1.0),
    "B>>A": (0.0, 3.0),
}
# Arena-Hard v0.1's judge (gen_judgment.py, number_of_judgment_attempts 2): a reply with no
# verdict label at all gets this one more turn, and the two replies are read together.
ARENA_HARD_ATTEMPTS = 2
ARENA_HARD_CONTINUE = "continue your judgment and finish by outputting a final verdict label"


def verdict_labels(text: str) -> set[str]:
    """The distinct `[[...]]` labels of a judge's reply (Arena-Hard's regex)."""
    return {m.strip() for m in re.findall(r"\[\[([AB<>=]+)\]\]", text) if m.strip()}


def parse_verdict(text: str) -> Verdict:
    """Arena-Hard's verdict: exactly one distinct label that its result script counts is a
    verdict (preference for A, weight); none, an uncounted one or several different ones are
    None."""
    found = verdict_labels(text)
    if len(found) != 1:
        return None
    return VERDICTS.get(found.pop())


def identifier_preference(
    top_logprobs: dict[str, float] | None, text: str, first: str = "m", second: str = "M"
) -> Verdict:
    """AlpacaEval's weighted preference for the *first* output: P(m) / (P(m) + P(M)) from the
    log-probabilities of the reply's first token (tokens compared after stripping spaces). As
    AlpacaEval's `logprob_parser` does, a reply whose top log-probabilities hold neither token
    has no verdict (None: dropped and counted). A server that returns no log-probabilities at
    all is read from the reply's text."""
    if top_logprobs is not None:
        p_first = sum(math.exp(v) for k, v in top_logprobs.items() if k.strip() == first)
        p_second = sum(math.exp(v) for k, v in top_logprobs.items() if k.strip() == second)
        if p_first + p_second > 0:
            return (p_first / (p_first + p_second), 1.0)
        return None
    reply = text.strip()
    if reply == first:
        return (1.0, 1.0)
    if reply == second:
        return (0.0, 1.0)
    return None


# --- LLM judges -------------------------------------------------------------------------------


class OpenAIJudge:
    """An LLM judge behind an OpenAI-compatible endpoint, speaking one benchmark's protocol
    (`alpaca_eval` or `arena_hard`)."""

    def __init__(
        self,
        api: dict[str, Any],
        protocol: str,
        prompt_path: str | Path | None = None,
        cache_path: Path | None = None,
    ):
        from teachergrid.screening.backends.base import Decoding
        from teachergrid.screening.backends.openai_api import OpenAIBackend

        self.protocol = protocol
        if protocol == "alpaca_eval":
            self.prompt = alpaca_eval_prompt(prompt_path)
            # one token; its log-probabilities carry the verdict (temperature does not matter)
            decoding = Decoding(temperature=1.0, n=1, max_new_tokens=1)
            self.extra = {"logprobs": True, "top_logprobs": 5}
        elif protocol == "arena_hard":
            self.prompt = arena_hard_prompt(prompt_path)
            decoding = Decoding(temperature=0.0, n=1, max_new_tokens=int(api["max_tokens"]))
            self.extra = {}
        else:
            raise ValueError(f"unknown judge protocol {protocol!r}")
        self.backend = OpenAIBackend({"api": api}, decoding, cache_path)

    def messages(self, instruction: str, first: str, second: str) -> list[dict[str, str]]:
        if self.protocol == "alpaca_eval":
            return self.prompt.render(instruction=instruction, output_1=first, output_2=second)
        return self.prompt.render(question_1=instruction, answer_1=first, answer_2=second)

    def prefer(self, instructions, first, second):
        chats = [
            self.messages(q, a, b) for q, a, b in zip(instructions, first, second, strict=True)
        ]
        replies = self.backend.complete(chats, self.extra)
        if self.protocol == "alpaca_eval":
            return [identifier_preference(r[0].top_logprobs, r[0].text) for r in replies]
        return [parse_verdict(text) for text in self._arena_hard_judgments(chats, replies)]

    def _arena_hard_judgments(
        self, chats: list[list[dict[str, str]]], replies: list[list[Any]]
    ) -> list[str]:
        """Each judgement's text as Arena-Hard's judge builds it: a reply without any verdict
        label is continued (the reply, then `ARENA_HARD_CONTINUE`), up to its number of
        attempts, and the replies are joined, each after a newline."""
        latest = [r[0].text for r in replies]
        texts = ["\n" + text for text in latest]
        chats = [list(c) for c in chats]
        for _ in range(ARENA_HARD_ATTEMPTS - 1):
            again = [i for i, t in enumerate(texts) if not verdict_labels(t)]
            if not again:
                break
            for i in again:
                chats[i] += [
                    {"role": "assistant", "content": latest[i]},
                    {"role": "user", "content": ARENA_HARD_CONTINUE},
                ]
            more = self.backend.complete([chats[i] for i in again], self.extra)
            for i, r in zip(again, more, strict=True):
                latest[i] = r[0].text
                texts[i] += "\n" + latest[i]
        return texts


def make_judge(
    spec: dict[str, Any],
    model_path: str | None,
    protocol: str,
    threads: int | None = None,
    prompt_path: str | Path | None = None,
    cache_path: Path | None = None,
) -> Judge:
    """The judge a config's `evaluation.judge` names, speaking `protocol` (the benchmark's)."""
    if spec["kind"] == "reward_model":
        assert model_path is not None
        return RewardModelJudge(model_path, spec, threads)
    if spec["kind"] == "openai":
        return OpenAIJudge(spec["api"], protocol, prompt_path, cache_path)
    raise ValueError(f"unknown judge kind {spec['kind']!r}")
