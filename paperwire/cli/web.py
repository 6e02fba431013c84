"""CLI commands of the web domain (registered by paperwire.cli)."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
