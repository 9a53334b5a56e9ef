"""The command line: every command explains itself; version prints."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from urbangis.api.cli import main

URBANGIS = str(Path(sys.executable).parent / "urbangis")


def _walk(command: click.Command, path: list[str]) -> list[list[str]]:
    """Every command path of the CLI, so a new command cannot ship without --help."""
    paths = [path]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            paths += _walk(sub, [*path, name])
    return paths


COMMANDS = _walk(main, [])


def test_the_documented_commands_exist():
    names = {" ".join(p) for p in COMMANDS}
    assert {"serve", "db init", "db start", "db stop", "db status", "db migrate", "db reset", "load",
            "version", "samples generate", "samples queries", "geocode", "reverse"} <= names


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "urbangis")
def test_help(args):
    out = subprocess.run([URBANGIS, *args, "--help"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("Usage: urbangis")
    # every command says what it does, beyond its usage line
    assert len([line for line in out.splitlines() if line.strip()]) >= 3


def test_version():
    out = subprocess.run([URBANGIS, "version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("urbangis 0.")


def test_db_status_reports_up():
    proc = subprocess.run([URBANGIS, "db", "status"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "up, PostGIS 3" in proc.stdout
