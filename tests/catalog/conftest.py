"""Fixtures for catalog tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.catalog.helpers import write_jsonl


@pytest.fixture
def make_jsonl(tmp_path: Path):
    """Write records (dicts or raw lines) to a JSON-lines file in tmp_path."""

    def make(name: str, records: list, gz: bool = False) -> Path:
        return write_jsonl(tmp_path / name, records, gz=gz)

    return make
