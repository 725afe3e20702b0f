"""Sharded, resumable generation: a job killed mid-way resumes from its last finished shard."""

import json

import pytest
from helpers import model_entry

from teachergrid.screening import generate
from teachergrid.screening.backends.base import Decoding, truncate_at_stop
from teachergrid.screening.backends.factory import make_backend


class CountingBackend:
    """Answers deterministically and counts what it was asked; can die after k calls."""

    def __init__(self, die_after: int | None = None) -> None:
        self.calls: list[list[str]] = []
        self.die_after = die_after

    def generate(self, instructions):
        if self.die_after is not None and len(self.calls) == self.die_after:
            raise KeyboardInterrupt("killed")
        self.calls.append(list(instructions))
        return [[f"answer to {text}"] for text in instructions]

    def close(self):
        pass


ROWS = [{"id": f"id{i}", "instruction": f"question {i}"} for i in range(10)]


def run(tmp_path, backend, print_="fp"):
    return generate.run(
        ROWS, "t", lambda: backend, tmp_path / "t.jsonl", tmp_path / "t.shards", 3, print_
    )


def test_killed_job_resumes_from_last_finished_shard(tmp_path):
    first = CountingBackend(die_after=2)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, first)
    assert not (tmp_path / "t.jsonl").exists()  # no output that looks complete
    assert sorted(p.name for p in (tmp_path / "t.shards").glob("shard-*")) == [
        "shard-00000.jsonl",
        "shard-00001.jsonl",
    ]
    assert not list((tmp_path / "t.shards").glob(".*tmp"))  # no half-written shard left
    second = CountingBackend()
    stats = run(tmp_path, second)
    assert [len(c) for c in second.calls] == [3, 1]  # shards 2 and 3 only
    assert stats == {"shards": 4, "generated": 2, "responses": 10, "empty": 0}
    rows = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in ROWS]
    assert rows[4]["response"] == "answer to question 4"

    # identical to an uninterrupted run
    clean = tmp_path / "clean"
    clean.mkdir()
    run(clean, CountingBackend())
    assert (clean / "t.jsonl").read_text() == (tmp_path / "t.jsonl").read_text()


def test_finished_job_loads_no_engine_and_new_setting_discards_shards(tmp_path):
    run(tmp_path, CountingBackend())

    def no_engine():
        raise AssertionError("engine must not load when every shard exists")

    generate.run(ROWS, "t", no_engine, tmp_path / "t.jsonl", tmp_path / "t.shards", 3, "fp")
    again = CountingBackend()
    run(tmp_path, again, print_="other-decoding")
    assert sum(len(c) for c in again.calls) == 10


def test_fingerprint_depends_on_what_determines_the_answers():
    teacher = {"model": "org/m", "backend": "vllm"}
    base = generate.fingerprint(teacher, {"temperature": 0.0}, ["a", "b"], 100)
    assert base == generate.fingerprint(dict(teacher), {"temperature": 0.0}, ["a", "b"], 100)
    assert base != generate.fingerprint(teacher, {"temperature": 0.7}, ["a", "b"], 100)
    assert base != generate.fingerprint(teacher, {"temperature": 0.0}, ["a", "c"], 100)
    assert base != generate.fingerprint(
        {**teacher, "model": "org/n"}, {"temperature": 0.0}, ["a", "b"], 100
    )


def test_truncate_at_stop():
    assert truncate_at_stop("Paris.<|eot_id|>junk", ["<|eot_id|>"]) == "Paris."
    assert truncate_at_stop("a END b STOP", ["STOP", "END"]) == "a "
    assert truncate_at_stop("no stop", ["<|end|>"]) == "no stop"


def test_hf_backend_generates_with_the_teacher_template(tiny_llama):
    teacher = model_entry("teachers", name="t", batch_size=2, dtype="float32")
    backend = make_backend(teacher, str(tiny_llama), Decoding(max_new_tokens=12), threads=1)
    questions = ["What is the capital of Peru?", "Add 3 and 4.", "What color is snow?"]
    answers = backend.generate(questions)
    assert [len(a) for a in answers] == [1, 1, 1]
    # greedy and batched: identical to one prompt at a time
    assert [backend.generate([q])[0] for q in questions] == answers
    sampled = make_backend(
        teacher,
        str(tiny_llama),
        Decoding(temperature=1.0, top_p=0.9, n=3, max_new_tokens=8, seed=1),
    )
    out = sampled.generate(questions[:2])
    assert [len(a) for a in out] == [3, 3]
