"""The ``paperwire`` command: every subcommand is listed, and each loads only its own module."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click

from paperwire.cli import COMMANDS


def test_the_command_map_names_what_each_module_registers() -> None:
    registered: dict[str, str] = {}
    for module in sorted(set(COMMANDS.values())):
        group = click.Group()
        importlib.import_module(f"paperwire.cli.{module}").register(group)
        registered.update(dict.fromkeys(group.commands, module))
    assert registered == COMMANDS


def test_help_lists_every_command(run_cli) -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line}
    assert listed == set(COMMANDS)
    assert run_cli("no-such-command").returncode == 2


def test_a_catalog_command_leaves_the_mail_and_web_stacks_unloaded(home) -> None:
    probe = (
        "import sys; from paperwire.cli import cli\n"
        "try: cli(['stats'], prog_name='paperwire')\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in ('jinja2', 'fastapi', 'paperwire.inbox', 'paperwire.web')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
