"""Helpers shared by the CLI modules: settings, database, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..config import Settings, load_settings
from ..db import Database, open_database


def settings() -> Settings:
    try:
        return load_settings()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def database(cfg: Settings | None = None) -> Database:
    return open_database(cfg or settings())


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
