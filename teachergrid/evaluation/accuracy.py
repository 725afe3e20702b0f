"""Ground truth: the share of responses that give a task's exact answer.

Where the instructions carry their exact answers (the tiny world's do), the study can be checked
against the truth instead of a judge: each teacher's accuracy on the screening split, and each
fine-tuned cell's on the evaluation split. A benchmark score that does not rank cells as their
accuracy does is measuring something else, which is the point of computing both.

`accuracy: {checker, column}` in the config: `column` is the instruction files' field holding
the exact answer; `checker` decides whether a response gives it:

* `tiny`: the tiny world's answers, in any family's dialect (`teachergrid.tiny.tasks.correct`);
  the whole response must be one well-formed answer;
* `exact`: the response, stripped and case-folded, equals the answer.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from teachergrid.core.jsonl import read_jsonl

Checker = Callable[[dict[str, Any], str], bool]
K = TypeVar("K")


def _exact(task: dict[str, Any], response: str) -> bool:
    return response.strip().casefold() == str(task["answer"]).strip().casefold()


# A data source's own checker is named where it lives, not imported: the tiny world supplies
# the tiny checker as it supplies the tiny instruction files, and production code does not
# depend on it.
CHECKERS: dict[str, Checker | str] = {"tiny": "teachergrid.tiny.tasks:correct", "exact": _exact}


def checker_for(name: str) -> Checker:
    """The function behind a checker's name (`accuracy.checker`)."""
    found = CHECKERS[name]
    if isinstance(found, str):
        module, function = found.split(":")
        found = getattr(importlib.import_module(module), function)
    return found


def load_truth(path: str | Path, column: str) -> dict[str, dict[str, Any]]:
    """Instruction text -> its record, with the exact answer under `answer`."""
    from teachergrid.core.datafiles import read_file_records

    truth = {}
    for number, record in enumerate(read_file_records(Path(path)), 1):
        if column not in record:
            raise ValueError(f"{path}: record {number}: no answer field {column!r}")
        truth[record["instruction"]] = {**record, "answer": record[column]}
    return truth


def _check(
    truth: Mapping[str, dict[str, Any]], instruction: str, response: str, check: Checker
) -> bool:
    task = truth.get(instruction)
    if task is None:
        raise ValueError(f"no exact answer for instruction {instruction[:60]!r}")
    return check(task, response)


def accuracy(
    truth: Mapping[str, dict[str, Any]], pairs: Iterable[tuple[str, str]], checker: str
) -> float:
    """Percent of (instruction, response) pairs whose response gives the exact answer; every
    instruction must be one whose answer is known."""
    flags = [_check(truth, i, r, checker_for(checker)) for i, r in pairs]
    if not flags:
        raise ValueError("no responses to check")
    return 100.0 * sum(flags) / len(flags)


def checked_files(
    truth_path: str | Path, column: str, checker: str, files: Mapping[K, Path], field: str
) -> dict[K, dict[str, bool]]:
    """For each JSON-lines file of responses (a teacher's responses, a cell's answers), whether
    each record's `field` gives the exact answer, by record id. What the report's accuracy
    columns and the bootstrap's replicates are both computed from."""
    truth = load_truth(truth_path, column)
    check = checker_for(checker)
    return {
        key: {r["id"]: _check(truth, r["instruction"], r[field], check) for r in read_jsonl(path)}
        for key, path in files.items()
    }


def percent(flags: Mapping[str, bool]) -> float:
    if not flags:
        raise ValueError("no responses to check")
    return 100.0 * sum(flags.values()) / len(flags)
