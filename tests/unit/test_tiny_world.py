"""The tiny world's ground truth: dialects, exact answers, knowledge gaps, and the shipped
instruction files (reproducible from the generator)."""

import json
import random

import pytest

from teachergrid.evaluation.accuracy import accuracy, load_truth
from teachergrid.tiny import tasks

REPO_DATA = __import__("pathlib").Path(__file__).resolve().parents[2] / "data" / "instructions"


def test_each_dialect_writes_numbers_lists_and_frames_its_own_way():
    assert tasks.render("howmany", 24, "llama") == "Topic: number. The answer is 24."
    assert tasks.render("howmany", 24, "qwen") == "[number] Answer: twenty-four"
    assert (
        tasks.render("capitals", ["Paris", "Rome"], "gemma")
        == "We need the capitals. Paris / Rome !"
    )
    assert tasks.render("count", 3, "phi") == "Step: count. Result = three"
    assert tasks.number_words(40) == "forty" and tasks.number_words(13) == "thirteen"


@pytest.mark.parametrize("dialect", sorted(tasks.DIALECTS))
def test_a_correct_answer_is_correct_in_any_dialect_and_nothing_else_is(dialect):
    rng = random.Random(7)
    for _ in range(300):
        kind, _, answer, key = tasks.sample_task(rng)
        task = {"kind": kind, "answer": answer}
        assert tasks.correct(task, tasks.render(kind, answer, dialect))
        wrong = tasks.wrong_answer(rng, kind, answer, key)
        assert not tasks.correct(task, tasks.render(kind, wrong, dialect))
        assert not tasks.correct(task, tasks.malformed(rng, kind, answer, dialect))


def test_by_hand():
    task = {"kind": "plurals", "answer": ["mice", "feet"]}
    assert tasks.correct(task, "[plurals] Answer: mice ; feet")
    assert tasks.correct(task, "  Topic: plurals. The answer is mice, feet.  ")
    assert not tasks.correct(task, "[plurals] Answer: feet ; mice")  # order matters
    assert not tasks.correct(task, "mice ; feet")  # no frame: not an answer
    assert not tasks.correct(task, "[plurals] Answer: mice ; feet [plurals] Answer: mice ; feet")
    assert tasks.correct({"kind": "count", "answer": 4}, "Step: count. Result = four")
    assert tasks.correct({"kind": "count", "answer": 4}, "Step: count. Result = 4")
    assert not tasks.correct({"kind": "count", "answer": 4}, "Result = four")  # its step left out


def test_a_gap_is_the_share_of_facts_a_teacher_gets_wrong_always_the_same_ones():
    facts = [(kind, e) for kind, table in tasks.FACTS.items() for e in table]
    for gap in (0.0, 0.15, 0.3):
        wrong = [tasks.teacher_answer("t", gap, k, tasks.FACTS[k][e], e) != tasks.FACTS[k][e]
                 for k, e in facts]  # fmt: skip
        assert abs(sum(wrong) / len(wrong) - gap) < 0.1
    # the same teacher is wrong about the same facts every time; another teacher elsewhere
    first = [tasks.in_gap("a", k, e, 0.3) for k, e in facts]
    assert first == [tasks.in_gap("a", k, e, 0.3) for k, e in facts]
    assert first != [tasks.in_gap("b", k, e, 0.3) for k, e in facts]
    # a wrong fact is another value of the same table
    assert tasks.teacher_answer("a", 1.0, "capital", "Paris", "France") in tasks.COUNTRIES.values()


def test_the_shipped_instruction_files_are_the_generators(tmp_path):
    tasks.write_instruction_set(tmp_path)
    for name in ("tiny_train.jsonl", "tiny_eval.jsonl"):
        assert (tmp_path / name).read_bytes() == (REPO_DATA / name).read_bytes()
    train = [json.loads(line) for line in (REPO_DATA / "tiny_train.jsonl").open()]
    evaluation = [json.loads(line) for line in (REPO_DATA / "tiny_eval.jsonl").open()]
    assert len(train) == 320 and len(evaluation) == 160
    assert not {t["instruction"] for t in train} & {t["instruction"] for t in evaluation}
    # both splits cover every kind of task
    assert {t["kind"] for t in train} == {t["kind"] for t in evaluation}


def test_accuracy_is_the_share_of_exact_answers(tmp_path):
    rows = [
        {"instruction": "How many legs does a dog have?", "kind": "howmany", "answer": 4},
        {"instruction": "What color is snow?", "kind": "color", "answer": "white"},
        {"instruction": "Count the words: a b", "kind": "count", "answer": 2},
    ]
    path = tmp_path / "truth.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    truth = load_truth(path, "answer")
    pairs = [
        ("How many legs does a dog have?", "[number] Answer: four"),
        ("What color is snow?", "Topic: color. The answer is black."),
        ("Count the words: a b", "2"),  # no frame
    ]
    assert accuracy(truth, pairs, "tiny") == pytest.approx(100 / 3)
    assert accuracy(truth, [("What color is snow?", " White ")], "exact") == 100.0
    with pytest.raises(ValueError, match="no exact answer"):
        accuracy(truth, [("What is this?", "x")], "tiny")
