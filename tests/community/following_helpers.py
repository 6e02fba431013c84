"""A live site with search for the following / "For you" tests, on SQLite and PostgreSQL.

The accounts suite's ``site`` imports with ``--no-index`` (no search, no
embeddings); "For you" needs both.  This one imports the bundled sample (753
papers, with deterministic categories), stores its precomputed real embeddings
and indexes them, then serves it with the shared ONNX encoder (topics are
encoded queries).  Built once per session and backend.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from paperwire.web.devserver import ServerProcess
from tests.accounts.conftest import (
    TOKEN_RE,
    Site,
    database_url_for,
    register,
    site_env,
    token,
    unique,
)
from tests.inbox.conftest import SmtpSink
from tests.search.conftest import MODEL_DIR, SAMPLE, SAMPLE_NPZ, write_categories

__all__ = ["TOKEN_RE", "register", "serve_sample_with_search", "token", "unique"]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "paperwire", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def serve_sample_with_search(
    backend: str,
    mail_sink: SmtpSink,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Site]:
    home = tmp_path_factory.mktemp(f"follow-{backend}") / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        "[paperwire]\nsignups_per_ip = 100000\nlogin_failures_per_ip = 100000\n"
    )
    url = database_url_for(backend, home, request)
    env = site_env(backend, home, url, mail_sink, {"PAPERWIRE_MODEL_DIR": MODEL_DIR})
    _cli(env, "import", "--no-index", "--no-progress", str(SAMPLE))
    cats = write_categories(home.parent / "categories.jsonl")
    _cli(env, "import", "--no-index", "--no-progress", "--format", "paperwire-jsonl", str(cats))
    seed = (
        "from paperwire.config import load_settings\n"
        "from paperwire.db import open_database\n"
        "from paperwire.search.embeddings import seed_embeddings\n"
        f"print(seed_embeddings(open_database(load_settings()), {str(SAMPLE_NPZ)!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", seed], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "753", done.stderr[-2000:]
    report = json.loads(_cli(env, "reindex", "--json").stdout)
    assert report["vectors"] == 753, report
    server = ServerProcess(home, env={k: v for k, v in env.items() if k.startswith("PAPERWIRE_")})
    server.start()
    site = Site(server, backend, url, mail_sink, {**env, "PAPERWIRE_BASE_URL": server.url})
    try:
        yield site
    finally:
        server.stop()


def csrf(client: httpx.Client, path: str = "/account") -> str:
    return token(client, path)


def member(site: Site, name: str) -> httpx.Client:
    """A new, confirmed, logged-in user's client."""
    client = site.client()
    register(site, client, unique(name))
    return client


def upvote(client: httpx.Client, paper_id: str) -> None:
    done = client.post(
        f"/papers/{paper_id}/upvote",
        data={"csrf_token": csrf(client), "next": f"/papers/{paper_id}"},
    )
    assert done.status_code in (200, 303), done.text[:300]


def reasons(html: str) -> list[str]:
    return re.findall(r'<p class="why muted" data-reason="[a-z]+">([^<]*)</p>', html)


def titles(html: str) -> list[str]:
    return re.findall(r'class="card-title math" id="[^"]+"><a href="/papers/([^"]+)"', html)
