"""Every command explains itself: `--help` works everywhere and says something useful."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from kgstore.cli import main


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += all_commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", all_commands(main), ids=lambda p: " ".join(p) or "kgstore")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    command = main
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert command.help and len(command.help.split()) >= 5, f"{path} has no real help text"
    assert command.help.split("\n")[0].rstrip(".") in " ".join(result.output.split())


def test_console_script_and_version() -> None:
    result = subprocess.run([sys.executable, "-m", "kgstore.cli", "--version"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "kgstore, version 0.1.0" in result.stdout


def test_light_package_never_imports_torch() -> None:
    code = ("import sys, kgstore, kgstore.cli, kgstore.server, kgstore.schema, kgstore.ogm, "
            "kgstore.driver; heavy = [m for m in ('torch', 'torch_geometric', 'open_clip', "
            "'fastapi', 'trainer') if m in sys.modules]; print(heavy); sys.exit(bool(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
