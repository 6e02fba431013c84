"""Fixtures for web tests: the bundled sample, a real server on it, HTTP clients.

Reusable by every web test module:

- ``sample_home`` (session): a PAPERWIRE_HOME with the bundled sample loaded as
  ``paperwire demo`` loads it.  Treat it as read-only.
- ``fresh_sample_home``: a private copy of it for a test that writes.
- ``web_server`` (session): ``paperwire serve`` (a real uvicorn process) on
  ``sample_home``; ``web_server.url`` is its base URL.  Read-only tests only.
- ``server_factory`` (session): ``server_factory(home, **env)`` starts another
  real server (e.g. on ``fresh_sample_home``); all are stopped at the end.
- ``web``: an ``httpx.Client`` for ``web_server`` (no redirects followed).
- ``sample_client``: a ``TestClient`` on an in-process app over a fresh copy of
  the sample, for tests that need to patch or write.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from paperwire.web.devserver import ServerProcess, make_sample_home

# Converted encoder models are shared by every test home (built once per checkout).
MODELS = Path(__file__).resolve().parents[2] / ".cache" / "models"


@pytest.fixture(scope="session")
def sample_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sample_home(tmp_path_factory.mktemp("web-sample") / "home")


@pytest.fixture
def fresh_sample_home(sample_home: Path, tmp_path: Path) -> Path:
    home = tmp_path / "sample-home"
    shutil.copytree(sample_home, home, ignore=shutil.ignore_patterns("*.log"))
    return home


@pytest.fixture(scope="session")
def server_factory() -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(home: Path, **env: str) -> ServerProcess:
        server = ServerProcess(home, env=env).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def web_server(sample_home: Path, server_factory: Callable[..., ServerProcess]) -> ServerProcess:
    server = server_factory(sample_home, PAPERWIRE_OFFLINE="1", PAPERWIRE_MODEL_DIR=str(MODELS))
    # The first search loads the query encoder (seconds, once): do it before any test.
    httpx.get(server.url + "/search", params={"q": "warm up"}, timeout=300)
    return server


@pytest.fixture
def web(web_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web_server.url, timeout=30, follow_redirects=False) as client:
        yield client


@pytest.fixture
def sample_client(fresh_sample_home: Path, monkeypatch: pytest.MonkeyPatch):
    from starlette.testclient import TestClient

    from paperwire.config import load_settings
    from paperwire.db.database import close_all
    from paperwire.web.app import create_app

    monkeypatch.setenv("PAPERWIRE_HOME", str(fresh_sample_home))
    monkeypatch.setenv("PAPERWIRE_OFFLINE", "1")
    monkeypatch.delenv("PAPERWIRE_DATABASE_URL", raising=False)
    monkeypatch.delenv("PAPERWIRE_CONFIG", raising=False)
    app = create_app(load_settings())
    with TestClient(app, follow_redirects=False) as client:
        yield client
    close_all()
