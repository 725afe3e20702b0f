"""The command line behaves like one: a version, help on every command and argument."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

import teachergrid
from teachergrid import cli


def test_version_is_the_packages(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"teachergrid {teachergrid.__version__}"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


COMMANDS = (
    "check-config",
    "config-reference",
    "plan",
    "preflight",
    "analyze",
    "screen",
    "screen-convergence",
    "winrates",
    "worker",
)


def test_every_command_and_argument_has_help():
    commands = _subparsers(cli.build_parser())
    assert set(commands) == set(COMMANDS)
    for name, parser in commands.items():
        assert parser.description, name
        for action in parser._actions:
            assert action.help, (name, action.dest)


def test_the_top_level_help_lists_each_command_on_its_own_line():
    out = subprocess.run(
        [sys.executable, "-m", "teachergrid.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in COMMANDS:
        assert any(line.strip().startswith(name) for line in out.splitlines()), name
        assert f"teachergrid {name}" in out
