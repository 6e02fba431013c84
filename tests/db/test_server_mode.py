"""Many processes on one database: first starts migrate once, concurrent imports get
ordered seq values that search's catch-up never skips, server mode needs a shared key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import select, text

from paperwire.config import MissingSecretKey, Settings
from paperwire.db import Database
from paperwire.db.schema.catalog import papers
from tests.catalog.helpers import jsonl_record, write_jsonl


def start(home: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "paperwire", *args],
        env={**os.environ, "PAPERWIRE_HOME": str(home), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_all(procs: list[subprocess.Popen[str]], timeout: float = 240) -> list[str]:
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, f"exit {proc.returncode}: {err}"
        outs.append(out)
    return outs


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, home: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{home / 'paperwire.db'}"
    return request.getfixturevalue("postgres_url")


def test_concurrent_first_starts_migrate_once(database_url: str, tmp_path: Path) -> None:
    """Three processes at once against an empty database (own homes, as on three machines)."""
    homes = [tmp_path / f"machine{i}" for i in range(3)]
    env = {"PAPERWIRE_DATABASE_URL": database_url}
    procs = [start(h, "stats", "--json", **env) for h in homes]
    for out in wait_all(procs):
        assert json.loads(out)["papers"] == 0
    db = Database(database_url)
    with db.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    db.dispose()
    assert len(versions) == 1


def test_embedded_first_starts_share_one_new_key(home: Path) -> None:
    procs = [start(home, "stats", "--json") for _ in range(3)]
    wait_all(procs)
    key = (home / "secret_key").read_text()
    assert len(key) > 40 and (home / "secret_key").stat().st_mode & 0o077 == 0
    assert [p.name for p in home.iterdir() if p.name.startswith(".secret_key")] == []


def _records(tag: str, start_at: int, count: int) -> list[dict]:
    return [
        jsonl_record(n, title=f"Concurrent import {tag} number {n}: seqcheck")
        for n in range(start_at, start_at + count)
    ]


def test_concurrent_imports_get_ordered_seqs_and_the_catch_up_sees_them_all(
    database_url: str, home: Path, tmp_path: Path, run_cli
) -> None:
    env = {"PAPERWIRE_DATABASE_URL": database_url}
    seed = write_jsonl(tmp_path / "seed.jsonl", [jsonl_record(1)])
    assert run_cli("import", str(seed), env=env).returncode == 0  # builds the index
    files = {
        tag: write_jsonl(tmp_path / f"{tag}.jsonl", _records(tag, 1000 + i * 1000, 240))
        for i, tag in enumerate("abc")
    }
    imports = [
        start(home, "import", "--no-index", "--batch-size", "20", "--json", str(path), **env)
        for path in files.values()
    ]
    # Meanwhile another import keeps revising one paper; each of its runs updates the
    # search index, which then also catches up from the last seq it saw.
    version = 1

    def catch_up() -> None:
        nonlocal version
        version += 1
        ticker = jsonl_record(2, id=f"2601.00002v{version}", title=f"Ticker {version}")
        path = write_jsonl(tmp_path / "ticker.jsonl", [ticker])
        result = run_cli("import", str(path), "--json", env=env)
        assert (
            result.returncode == 0 and result.json()["inserted"] + result.json()["updated"] == 1
        ), result.stderr

    catch_up()
    while any(p.poll() is None for p in imports):
        catch_up()
    for out in wait_all(imports):
        assert json.loads(out)["inserted"] == 240
    catch_up()  # the last one, after every import committed

    db = Database(database_url)
    with db.connect() as conn:
        rows = conn.execute(select(papers.c.id, papers.c.seq, papers.c.title)).all()
    db.dispose()
    by_seq: dict[int, set[str]] = defaultdict(set)
    seqs_of: dict[str, list[tuple[str, int]]] = defaultdict(list)
    seed_seq = next(r.seq for r in rows if r.id == "2601.00001")
    for row in rows:
        if row.id in ("2601.00001", "2601.00002"):
            continue
        tag = row.title.split()[2]
        by_seq[row.seq].add(tag)
        seqs_of[tag].append((row.id, row.seq))
        assert row.seq > seed_seq
    # One seq per transaction: no value is shared by two imports ...
    assert all(len(tags) == 1 for tags in by_seq.values()), by_seq
    assert len(by_seq) == 3 * 240 // 20
    # ... and each import's batches (20 papers each, in file order) got increasing values.
    for tag, pairs in seqs_of.items():
        batches = [seq for _id, seq in sorted(pairs)]
        assert batches == sorted(batches), tag
    # Search saw every paper through catch-ups alone (no reindex).
    found = run_cli(
        "search", "seqcheck", "--limit", "1000", "--sort", "newest", "--json", env=env
    ).json()
    assert len({hit["id"] for hit in found}) == 3 * 240


def test_server_mode_refuses_to_start_without_a_shared_secret(
    postgres_url: str, run_cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAPERWIRE_SECRET_KEY")
    env = {"PAPERWIRE_DATABASE_URL": postgres_url}
    for args in (("serve", "--port", "0"), ("digest", "run"), ("stats",)):
        result = run_cli(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert "PAPERWIRE_SECRET_KEY is not set" in result.stderr
        assert "docs/deploy.md" in result.stderr
    assert not (home / "secret_key").exists()  # nothing made up per home
    short = run_cli("stats", env={**env, "PAPERWIRE_SECRET_KEY": "hunter2"})
    assert short.returncode == 2 and "at least 32" in short.stderr
    ok = run_cli("stats", "--json", env={**env, "PAPERWIRE_SECRET_KEY": "k" * 40})
    assert ok.returncode == 0, ok.stderr

    # An app built from explicit settings (tests, embedding apps) is refused the same way.
    from paperwire.web.app import create_app

    with pytest.raises(MissingSecretKey, match="PAPERWIRE_SECRET_KEY"):
        create_app(Settings(home=home, database_url=postgres_url, secret_key=""))


def test_a_home_key_is_named_when_switching_to_server_mode(
    postgres_url: str, run_cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAPERWIRE_SECRET_KEY")
    assert run_cli("stats").returncode == 0  # embedded: the home gets its key
    result = run_cli("stats", env={"PAPERWIRE_DATABASE_URL": postgres_url})
    assert result.returncode == 2
    assert f"PAPERWIRE_SECRET_KEY=$(cat {home / 'secret_key'})" in result.stderr
