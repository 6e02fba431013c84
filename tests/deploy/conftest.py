"""Fixtures for deployment tests: server mode on the session's PostgreSQL, a real SMTP sink."""

from __future__ import annotations

from pathlib import Path

import pytest

# The inbox tests' SMTP server and small catalog, reused here.
from tests.inbox.conftest import catalog, inbox_env, smtp_sink  # noqa: F401


@pytest.fixture
def server_db(postgres_url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Server mode for everything started after it: ``PAPERWIRE_DATABASE_URL`` is set.

    Request it before ``catalog`` so that the catalog goes into PostgreSQL (it
    comes after ``home``, which clears the variable).
    """
    monkeypatch.setenv("PAPERWIRE_DATABASE_URL", postgres_url)
    return postgres_url
