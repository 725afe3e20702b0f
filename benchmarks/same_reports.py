"""Are two runs of a study byte-identical where it matters? Compares every file under
`report/` and `exports/` of two study folders (results/<study>/), byte for byte, and prints one
line per file that differs or exists in one only.

    python benchmarks/same_reports.py OLD/results/tiny-offline-grid NEW/results/tiny-offline-grid

Used to check that a change of the code's structure changes no result: run `make demo` on
the commit before and the commit after (each in its own clone), then compare. Exit status 0
when every file is the same. A text file that differs is compared cell by cell (split at
commas, tabs, spaces and `|`): where only numbers differ, the line says by how much at most."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import sys
from pathlib import Path

FOLDERS = ("report", "exports")


def digests(study: Path) -> dict[str, str]:
    return {
        str(path.relative_to(study)): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in FOLDERS
        for path in sorted((study / folder).rglob("*"))
        if path.is_file()
    }


def largest_difference(a: Path, b: Path) -> str:
    """How two text files differ: the largest absolute difference of numbers in the same
    place, or that something other than a number differs."""
    import re

    split = re.compile(r"[,\t |]+")
    one, two = a.read_text().splitlines(), b.read_text().splitlines()
    if len(one) != len(two):
        return f"{len(one)} vs {len(two)} lines"
    largest = 0.0
    for x, y in zip(one, two, strict=True):
        cx, cy = split.split(x), split.split(y)
        if len(cx) != len(cy):
            return "a line's cells differ"
        for u, v in zip(cx, cy, strict=True):
            if u == v:
                continue
            try:
                largest = max(largest, abs(float(u) - float(v)))
            except ValueError:
                return f"text differs ({u[:30]!r} vs {v[:30]!r})"
    return f"numbers differ by at most {largest:.3g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="a study folder, results/<study>/")
    parser.add_argument("after", type=Path, help="the same study from another run")
    args = parser.parse_args(argv)
    before, after = digests(args.before), digests(args.after)
    if not before:
        print(f"{args.before}: no report or export files", file=sys.stderr)
        return 2
    differ = [f for f in sorted(before.keys() | after.keys()) if before.get(f) != after.get(f)]
    for name in differ:
        where = (
            "differs"
            if name in before and name in after
            else ("only in before" if name in before else "only in after")
        )
        if where == "differs":
            with contextlib.suppress(UnicodeDecodeError):
                where += ": " + largest_difference(args.before / name, args.after / name)
        print(f"{name}: {where}")
    print(f"{len(before) - len(differ)} of {len(before | after)} files byte-identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
