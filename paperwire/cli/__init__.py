"""The ``paperwire`` command.  Each domain adds its subcommands from its own module.

A command imports only its own module: ``paperwire stats`` need not load the
mail, web and source stacks, which made every command start about twice as slowly.
"""

from __future__ import annotations

import importlib

import click

from .. import __version__

# Each subcommand and the module (in this package) whose ``register`` adds it.
# tests/test_cli_structure.py checks this against what the modules register.
COMMANDS: dict[str, str] = {
    "import": "catalog",
    "stats": "catalog",
    "show": "catalog",
    "sync": "sync",
    "embed": "search",
    "reindex": "search",
    "search": "search",
    "similar": "search",
    "serve": "web",
    "demo": "web",
    "digest": "digest",
    "users": "users",
    "jobs": "jobs",
    "worker": "jobs",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module the first time it is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"{__name__}.{COMMANDS[cmd_name]}").register(self)
        return self.commands.get(cmd_name)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="paperwire")
def cli() -> None:
    """Paperwire: self-hosted research-paper discovery.

    Data lives in $PAPERWIRE_HOME (SQLite by default); set
    PAPERWIRE_DATABASE_URL to use PostgreSQL instead.
    """


def main() -> None:
    cli(prog_name="paperwire")


__all__ = ["COMMANDS", "cli", "main"]
