"""The ``paperwire`` command.  Each domain adds its subcommands from its own module."""

from __future__ import annotations

import click

from .. import __version__
from . import catalog, digest, jobs, search, sync, users, web


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="paperwire")
def cli() -> None:
    """Paperwire: self-hosted research-paper discovery.

    Data lives in $PAPERWIRE_HOME (SQLite by default); set
    PAPERWIRE_DATABASE_URL to use PostgreSQL instead.
    """


for module in (catalog, sync, search, web, digest, users, jobs):
    module.register(cli)


def main() -> None:
    cli(prog_name="paperwire")


__all__ = ["cli", "main"]
