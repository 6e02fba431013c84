"""Every way in goes through the pipeline: ``sync``, ``import`` and a user's submission
leave the papers indexed and, where asked, embedded."""

from __future__ import annotations

import json
import re
from datetime import date

from starlette.testclient import TestClient

from paperwire.config import load_settings
from paperwire.db.schema.search import paper_embeddings
from tests.sources.conftest import FakeArxiv

from .conftest import DAY1
from .test_days import NEW

TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_sync_embeds_and_import_embeds_when_asked(jobs, upstream, tmp_path) -> None:
    upstream.publish(DAY1)
    synced = jobs.cli("sync", "oai", "--set", "cs", "--from", DAY1, "--no-progress", "--json")
    assert synced.returncode == 0, synced.stderr
    assert synced.json()["inserted"] == 7 and synced.json()["embedded"] == 7  # no category filter
    assert jobs.pending() == 0 and jobs.similar(NEW[DAY1][0])
    assert jobs.paper(NEW[DAY1][0])["listed_on"] == date.fromisoformat(DAY1)  # the datestamp

    path = tmp_path / "two.jsonl"
    rows = [
        {
            "id": f"2601.0000{n}",
            "title": f"Paper {n} on graphs",
            "abstract": "Graphs.",
            "announced": "2026-01-02",
        }
        for n in (1, 2)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    plain = jobs.cli("import", str(path), "--json")
    assert plain.returncode == 0 and "embedded" not in plain.json()
    assert jobs.pending() == 2  # a bulk import leaves embedding to the embed job
    asked = jobs.cli("import", str(path), "--embed", "--json")
    assert asked.returncode == 0 and asked.json()["embedded"] == 2
    assert jobs.pending() == 0 and jobs.count(paper_embeddings) == 9


def test_a_submitted_paper_is_indexed_and_embedded(jobs, home) -> None:
    arxiv = FakeArxiv()
    arxiv.thread.start()
    env = {**jobs.env, **arxiv.env(delay=0.0), "PAPERWIRE_HOME": str(home)}
    try:
        from paperwire.web.app import create_app

        with TestClient(create_app(load_settings(env)), follow_redirects=False) as client:
            form = TOKEN_RE.search(client.get("/signup").text).group(1)
            signed = client.post(
                "/signup",
                data={
                    "email": "ada@example.org",
                    "password": "correct horse battery",
                    "csrf_token": form,
                },
            )
            assert signed.status_code == 303
            form = TOKEN_RE.search(client.get("/login").text).group(1)
            logged_in = client.post(
                "/login",
                data={
                    "email": "ada@example.org",
                    "password": "correct horse battery",
                    "csrf_token": form,
                },
            )
            assert logged_in.status_code == 303  # unverified: it may submit
            form = TOKEN_RE.search(client.get("/submit").text).group(1)
            reply = client.post("/submit", data={"paper": "2611.00456", "csrf_token": form})
            assert reply.status_code == 200 and "is on the feed of" in reply.text
    finally:
        arxiv.httpd.shutdown()
        arxiv.httpd.server_close()
    # The background task after the response: search index, then the embedding.
    assert jobs.pending() == 0 and jobs.count(paper_embeddings) == 1
    assert jobs.search(jobs.paper("2611.00456")["title"]) == ["2611.00456"]
