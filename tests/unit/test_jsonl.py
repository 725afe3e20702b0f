"""Atomic writes: the finished file appears whole, with an ordinary file's permissions."""

from __future__ import annotations

import os
import stat

import pytest

from teachergrid.core.jsonl import atomic_open, current_umask, read_jsonl, write_jsonl


@pytest.mark.parametrize(("umask", "mode"), [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_an_atomic_write_honours_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        assert current_umask() == umask
        write_jsonl(tmp_path / "rows.jsonl", [{"a": 1}])
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "rows.jsonl").stat().st_mode) == mode
    assert read_jsonl(tmp_path / "rows.jsonl") == [{"a": 1}]


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path):
    with pytest.raises(RuntimeError), atomic_open(tmp_path / "out.txt") as handle:
        handle.write("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
