"""A small, checkable instruction-following world for the offline tiny grid, with a planted
compatibility effect.

Every task has one exact answer (a word, a number, or a pair of words), so correctness is a
fact of each response, not a judge's opinion: `correct` is the ground truth the evaluation is
checked against. Each model family writes answers in its own *dialect*, at the level of content:
numbers as digits or as words, the separator between the items of a list, how the answer is
framed, and whether a short step comes first. A base is pre-trained mostly on its own family's
dialect, with a tokenizer trained on it, so its family's responses are the easiest for it to
learn from. A teacher's correctness is set apart from its size: each teacher has knowledge
*gaps* (a fraction of the facts it gets consistently wrong, drawn from its name), so a small
teacher can know more than a large one.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teachergrid.core.datafiles import stable_id
from teachergrid.tiny.facts import (
    COLORS,
    COUNTRIES,
    NUMBER_FACTS,
    OPPOSITES,
    PLURALS,
    TOPIC,
    WORD_NUMBERS,
    WORDS,
    number_words,
)

FACTS: dict[str, dict[str, str]] = {
    "capital": COUNTRIES,
    "opposite": OPPOSITES,
    "color": COLORS,
    "plural": PLURALS,
}
# Tasks whose answer is a pair of facts, written as a list in the dialect.
PAIRS: dict[str, tuple[str, str]] = {
    "capitals": ("capital", "What are the capitals of {a} and {b}?"),
    "plurals": ("plural", "Give the plurals of {a} and {b}."),
    "opposites": ("opposite", "What are the opposites of {a} and {b}?"),
}

Value = str | int | list[str]


@dataclass(frozen=True)
class Dialect:
    """How a family writes an answer: `numbers` (digits | words), the list separator `sep`,
    the `frame` around the answer ({x}), and the `step` before it that names what is asked
    ({topic}). Every dialect has a step, so none is easier to learn in itself: only a base's
    familiarity with it makes a difference."""

    numbers: str
    sep: str
    frame: str
    step: str = ""


DIALECTS: dict[str, Dialect] = {
    "llama": Dialect("digits", ", ", "The answer is {x}.", "Topic: {topic}. "),
    "qwen": Dialect("words", " ; ", "Answer: {x}", "[{topic}] "),
    "gemma": Dialect("digits", " / ", "{x} !", "We need the {topic}. "),
    "phi": Dialect("words", " then ", "Result = {x}", "Step: {topic}. "),
}


def written(value: Value, dialect: str) -> str:
    """The bare value as the dialect writes it (numbers, list separator; no frame)."""
    d = DIALECTS[dialect]

    def item(v: str | int) -> str:
        if isinstance(v, int):
            return str(v) if d.numbers == "digits" else number_words(v)
        return v

    return d.sep.join(item(v) for v in value) if isinstance(value, list) else item(value)


def render(kind: str, value: Value, dialect: str) -> str:
    """A whole response in the dialect: step, then the framed answer."""
    d = DIALECTS[dialect]
    return d.step.format(topic=TOPIC[kind]) + d.frame.format(x=written(value, dialect))


def _pattern(d: Dialect) -> re.Pattern[str]:
    step = re.escape(d.step).replace(re.escape("{topic}"), "[a-z]+") if d.step else ""
    return re.compile(step + re.escape(d.frame).replace(re.escape("{x}"), "(.+?)"))


_PATTERNS = {name: _pattern(d) for name, d in DIALECTS.items()}


def _atom(text: str) -> str | int:
    text = text.strip()
    if text.isdigit():
        return int(text)
    return WORD_NUMBERS.get(text, text)


def parse(kind: str, response: str) -> tuple[str, Value] | None:
    """(dialect, value) when the whole response is one dialect's answer, else None."""
    response = response.strip()
    for name, pattern in _PATTERNS.items():
        match = pattern.fullmatch(response)
        if match:
            x = match.group(1)
            if kind in PAIRS:
                return name, [str(_atom(p)) for p in x.split(DIALECTS[name].sep)]
            return name, _atom(x)
    return None


def correct(task: dict[str, Any], response: str) -> bool:
    """Is `response` exactly a correct answer to `task` (in any family's dialect)? The tiny
    world's ground truth: a response with the right value but a broken frame is wrong."""
    got = parse(task["kind"], response)
    return got is not None and got[1] == task["answer"]


# ---- tasks -------------------------------------------------------------------------------
# Each generator returns (kind, instruction, answer, key): `key` is what a knowledge gap is
# keyed on (the entity, or the count), so a teacher is wrong about the same thing every time.

Generated = tuple[str, str, Value, str]


def _fact(kind: str, templates: list[str]) -> Callable[[random.Random], Generated]:
    def make(rng: random.Random) -> Generated:
        entity = rng.choice(sorted(FACTS[kind]))
        return kind, rng.choice(templates).format(e=entity), FACTS[kind][entity], entity

    return make


def _howmany(rng: random.Random) -> Generated:
    what = rng.choice(sorted(NUMBER_FACTS))
    templates = [
        "How many {f}?",
        "Tell me how many {f}.",
        "Say how many {f}.",
        "Do you know how many {f}?",
    ]
    question = rng.choice(templates).format(f=what)
    return "howmany", question, NUMBER_FACTS[what], what


def _count(rng: random.Random) -> Generated:
    words = rng.sample(WORDS, rng.randint(2, 6))
    q = rng.choice(["How many words are in this list: {w}", "Count the words: {w}"])
    return "count", q.format(w=" ".join(words)), len(words), str(len(words))


def _pair(rng: random.Random) -> Generated:
    kind = rng.choice(sorted(PAIRS))
    fact, template = PAIRS[kind]
    a, b = rng.sample(sorted(FACTS[fact]), 2)
    return kind, template.format(a=a, b=b), [FACTS[fact][a], FACTS[fact][b]], f"{a}|{b}"


TASKS: dict[str, Callable[[random.Random], Generated]] = {
    "capital": _fact(
        "capital",
        [
            "What is the capital of {e}?",
            "Name the capital city of {e}.",
            "Which city is the capital of {e}?",
            "Tell me the capital of {e}.",
        ],
    ),
    "opposite": _fact(
        "opposite",
        [
            "What is the opposite of {e}?",
            "Give the antonym of the word {e}.",
            "What word means the opposite of {e}?",
            "Name the opposite of {e}.",
        ],
    ),
    "color": _fact(
        "color",
        [
            "What color is {e}?",
            "Tell me the usual color of {e}.",
            "Which color is {e}?",
            "Name the color of {e}.",
        ],
    ),
    "plural": _fact(
        "plural",
        [
            "What is the plural of {e}?",
            "Give the plural form of {e}.",
            "How do you write more than one {e}?",
            "Name the plural of {e}.",
        ],
    ),
    "howmany": _howmany,
    "count": _count,
    "pair": _pair,
}


def sample_task(rng: random.Random) -> Generated:
    return TASKS[rng.choice(sorted(TASKS))](rng)


def stream(seed: int) -> Iterator[Generated]:
    rng = random.Random(seed)
    while True:
        yield sample_task(rng)


# ---- teachers' knowledge gaps --------------------------------------------------------------


def in_gap(teacher: str, topic: str, key: str, gap: float) -> bool:
    """Whether `teacher` gets `key` wrong: a fixed draw from (teacher, topic, key), so a gap of
    0.3 makes the teacher wrong about about 30% of the facts, always the same ones."""
    digest = hashlib.sha1(f"{teacher}|{topic}|{key}".encode()).hexdigest()
    return int(digest[:8], 16) / 2**32 < gap


def _wrong_fact(fact: str, entity: str) -> str:
    values = sorted(set(FACTS[fact].values()))
    shift = 1 + len(entity) % (len(values) - 1)  # never a whole turn: always another value
    return values[(values.index(FACTS[fact][entity]) + shift) % len(values)]


def teacher_answer(teacher: str, gap: float, kind: str, value: Value, key: str) -> Value:
    """The answer `teacher` has learnt for a task: the true one, or where the fact falls in
    its gaps a consistent wrong one (another entity's value; a count off by one)."""
    if kind in FACTS:
        return _wrong_fact(kind, key) if in_gap(teacher, kind, key, gap) else value
    if kind in PAIRS:
        fact = PAIRS[kind][0]
        return [
            _wrong_fact(fact, e) if in_gap(teacher, fact, e, gap) else FACTS[fact][e]
            for e in key.split("|")
        ]
    if isinstance(value, int) and in_gap(teacher, kind, key, gap):
        return value - 1 if value > 2 else value + 1
    return value


def wrong_answer(rng: random.Random, kind: str, value: Value, key: str) -> Value:
    """Some wrong answer to a task (for reward-model training): another value of the same
    kind, a number off by a little, a pair swapped or half wrong."""
    if kind in FACTS:
        return _wrong_fact(kind, key) if rng.random() < 0.5 else _other(rng, kind, value)
    if kind in PAIRS:
        assert isinstance(value, list)
        fact = PAIRS[kind][0]
        choice = rng.randrange(3)
        if choice == 0:
            return value[::-1] if value[0] != value[1] else [value[0], _other(rng, fact, value[1])]
        i = choice - 1
        out = list(value)
        out[i] = _other(rng, fact, value[i])
        return out
    assert isinstance(value, int)
    return max(1, min(99, value + rng.choice([-2, -1, 1, 2])))


def _other(rng: random.Random, fact: str, value: Value) -> str:
    return rng.choice(sorted(v for v in set(FACTS[fact].values()) if v != value))


def malformed(rng: random.Random, kind: str, value: Value, dialect: str) -> str:
    """A response that is not an answer (for reward-model training): the value without its
    frame, a frame repeated, or the value with trailing words."""
    choice = rng.randrange(3)
    if choice == 0:
        return written(value, dialect)
    if choice == 1:
        return render(kind, value, dialect) + " " + render(kind, value, dialect)
    return render(kind, value, dialect) + " " + " ".join(rng.sample(WORDS, 3))


# ---- the shipped instruction files --------------------------------------------------------


def unique_tasks(seed: int, count: int, exclude: set[str] | None = None) -> list[dict[str, Any]]:
    """`count` tasks with distinct instructions, none of them in `exclude`: `id`, `kind`,
    `instruction`, `answer` (the exact value: a word, a number, or a list of two words) and
    `key` (what the answer is about)."""
    exclude = set(exclude or ())
    out: list[dict[str, Any]] = []
    for kind, question, answer, key in stream(seed):
        if question in exclude:
            continue
        exclude.add(question)
        out.append(
            {
                "id": stable_id(question),
                "kind": kind,
                "instruction": question,
                "answer": answer,
                "key": key,
            }
        )
        if len(out) == count:
            return out
    raise AssertionError("unreachable")


def write_instruction_set(
    directory: Path, n_train: int = 320, n_eval: int = 160, seed: int = 2024
) -> None:
    """Write the shipped instruction set: a screening split and a disjoint evaluation split,
    drawn together and then divided, so both follow the same mix of tasks."""
    directory.mkdir(parents=True, exist_ok=True)
    drawn = unique_tasks(seed, n_train + n_eval)
    random.Random(seed).shuffle(drawn)
    for name, rows in (("tiny_train.jsonl", drawn[:n_train]), ("tiny_eval.jsonl", drawn[n_train:])):
        with (directory / name).open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
