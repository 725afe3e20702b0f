"""A small, checkable instruction-following world for the offline tiny grid.

Each task has one correct answer, so a teacher's quality is visible (an under-trained teacher
answers wrongly or rambles) and a reward model can learn what a good answer is. Each model
family answers in its own *style*; a base model pre-trained on one style finds that family's
responses easier, which is what makes compatibility differ by teacher for each base.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

COUNTRIES = {
    "France": "Paris",
    "Spain": "Madrid",
    "Italy": "Rome",
    "Japan": "Tokyo",
    "Egypt": "Cairo",
    "Peru": "Lima",
    "Kenya": "Nairobi",
    "Canada": "Ottawa",
    "Chile": "Santiago",
    "Norway": "Oslo",
    "Greece": "Athens",
    "Cuba": "Havana",
    "Poland": "Warsaw",
    "Ireland": "Dublin",
    "Austria": "Vienna",
    "Portugal": "Lisbon",
    "Sweden": "Stockholm",
    "Germany": "Berlin",
    "China": "Beijing",
    "India": "Delhi",
}
OPPOSITES = {
    "hot": "cold",
    "big": "small",
    "fast": "slow",
    "happy": "sad",
    "light": "dark",
    "old": "young",
    "early": "late",
    "hard": "soft",
    "high": "low",
    "rich": "poor",
    "strong": "weak",
    "wet": "dry",
    "full": "empty",
    "loud": "quiet",
    "open": "closed",
    "long": "short",
    "clean": "dirty",
    "near": "far",
    "first": "last",
    "cheap": "expensive",
}
COLORS = {
    "grass": "green",
    "the sky": "blue",
    "snow": "white",
    "coal": "black",
    "a banana": "yellow",
    "a tomato": "red",
    "an orange": "orange",
    "a plum": "purple",
    "milk": "white",
    "a lemon": "yellow",
    "blood": "red",
    "a crow": "black",
    "the sea": "blue",
    "a leaf": "green",
}
PLURALS = {
    "cat": "cats",
    "box": "boxes",
    "child": "children",
    "mouse": "mice",
    "city": "cities",
    "leaf": "leaves",
    "man": "men",
    "foot": "feet",
    "tooth": "teeth",
    "bus": "buses",
    "baby": "babies",
    "knife": "knives",
    "dog": "dogs",
    "wish": "wishes",
    "person": "people",
}
WORDS = [
    "apple",
    "river",
    "stone",
    "cloud",
    "green",
    "table",
    "music",
    "light",
    "water",
    "tiger",
    "paper",
    "horse",
    "chair",
    "dream",
    "smile",
    "bread",
    "plant",
    "ocean",
    "train",
    "night",
    "house",
    "sugar",
    "magic",
    "pilot",
    "robot",
    "queen",
    "lemon",
    "piano",
    "storm",
    "glass",
]


def _capital(rng: random.Random) -> tuple[str, str]:
    country = rng.choice(sorted(COUNTRIES))
    q = rng.choice(
        [
            "What is the capital of {c}?",
            "Name the capital city of {c}.",
            "Which city is the capital of {c}?",
        ]
    ).format(c=country)
    return q, f"The capital of {country} is {COUNTRIES[country]}."


def _add(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(1, 49), rng.randint(1, 49)
    q = rng.choice(["Add {a} and {b}.", "What is {a} plus {b}?", "Compute {a} + {b}."])
    return q.format(a=a, b=b), f"{a} plus {b} is {a + b}."


def _reverse_words(rng: random.Random) -> tuple[str, str]:
    words = rng.sample(WORDS, rng.randint(3, 4))
    q = rng.choice(["Reverse the order of these words: {w}", "Write these words backwards: {w}"])
    return q.format(w=" ".join(words)), " ".join(reversed(words))


def _opposite(rng: random.Random) -> tuple[str, str]:
    word = rng.choice(sorted(OPPOSITES))
    q = rng.choice(["What is the opposite of {w}?", "Give the antonym of the word {w}."])
    return q.format(w=word), f"The opposite of {word} is {OPPOSITES[word]}."


def _color(rng: random.Random) -> tuple[str, str]:
    thing = rng.choice(sorted(COLORS))
    q = rng.choice(["What color is {t}?", "Tell me the usual color of {t}."])
    return q.format(t=thing), f"{thing[0].upper() + thing[1:]} is {COLORS[thing]}."


def _sort(rng: random.Random) -> tuple[str, str]:
    nums = rng.sample(range(1, 60), rng.randint(3, 5))
    q = rng.choice(["Sort these numbers from small to large: {n}", "Put in increasing order: {n}"])
    return q.format(n=" ".join(map(str, nums))), " ".join(map(str, sorted(nums)))


def _plural(rng: random.Random) -> tuple[str, str]:
    noun = rng.choice(sorted(PLURALS))
    q = rng.choice(["What is the plural of {w}?", "Give the plural form of {w}."])
    return q.format(w=noun), f"The plural of {noun} is {PLURALS[noun]}."


def _count(rng: random.Random) -> tuple[str, str]:
    words = rng.sample(WORDS, rng.randint(2, 6))
    q = rng.choice(["How many words are in this list: {w}", "Count the words: {w}"])
    return q.format(w=" ".join(words)), f"There are {len(words)} words."


def _larger(rng: random.Random) -> tuple[str, str]:
    a, b = rng.sample(range(1, 100), 2)
    q = rng.choice(["Which is larger, {a} or {b}?", "Which number is bigger: {a} or {b}?"])
    return q.format(a=a, b=b), f"{max(a, b)} is larger than {min(a, b)}."


def _upper(rng: random.Random) -> tuple[str, str]:
    words = rng.sample(WORDS, 2)
    q = rng.choice(["Write in capital letters: {w}", "Uppercase these words: {w}"])
    return q.format(w=" ".join(words)), " ".join(words).upper()


TASKS: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "capital": _capital,
    "add": _add,
    "reverse": _reverse_words,
    "opposite": _opposite,
    "color": _color,
    "sort": _sort,
    "plural": _plural,
    "count": _count,
    "larger": _larger,
    "upper": _upper,
}

# How each family phrases a correct answer. Styles stay short: the tiny models have 64-token
# budgets, and the point is a consistent, learnable difference between families.
STYLES: dict[str, str] = {
    "plain": "{answer}",
    "chatty": "Sure! {answer} Hope this helps.",
    "formal": "Answer: {answer}",
    "steps": "Let me think. {answer} Done.",
}


def styled(answer: str, style: str) -> str:
    return STYLES[style].format(answer=answer)


def sample_task(rng: random.Random) -> tuple[str, str, str]:
    kind = rng.choice(sorted(TASKS))
    question, answer = TASKS[kind](rng)
    return kind, question, answer


def stream(seed: int) -> Iterator[tuple[str, str, str]]:
    rng = random.Random(seed)
    while True:
        yield sample_task(rng)


def stable_id(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def unique_tasks(seed: int, count: int, exclude: set[str] | None = None) -> list[dict[str, str]]:
    """`count` tasks with distinct instructions, none of them in `exclude`."""
    exclude = set(exclude or ())
    out: list[dict[str, str]] = []
    for kind, question, answer in stream(seed):
        if question in exclude:
            continue
        exclude.add(question)
        out.append(
            {"id": stable_id(question), "kind": kind, "instruction": question, "answer": answer}
        )
        if len(out) == count:
            return out
    raise AssertionError("unreachable")


def write_instruction_set(
    directory: Path, n_train: int = 320, n_eval: int = 80, seed: int = 2024
) -> None:
    """Write the shipped instruction set: a screening split and a disjoint evaluation split."""
    directory.mkdir(parents=True, exist_ok=True)
    train = unique_tasks(seed, n_train)
    evaluation = unique_tasks(seed + 1, n_eval, exclude={t["instruction"] for t in train})
    for name, rows in (("tiny_train.jsonl", train), ("tiny_eval.jsonl", evaluation)):
        with (directory / name).open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
