"""Latency of the "For you" page for a user with 50 upvotes, beside the plain day page.

    .venv/bin/python bench/bench_for_you.py                  # the 80k corpus
    .venv/bin/python bench/bench_for_you.py --papers 20000   # a smaller catalog

What is measured: p50/p95/max latency of sequential requests to a real
``paperwire serve`` on loopback (embedded search: SQLite, tantivy, usearch):

- ``/for-you`` for a logged-in user with ``--upvotes`` upvotes (papers of the
  catalog's last weeks): ``MAX_SEEDS`` similar-paper look-ups, the follow and
  topic signals, ranking and the cards (the page is never cached; each seed's
  neighbours are kept a few minutes per process, so the first request of a
  fresh server, printed separately, pays for all the look-ups);
- the plain day page (``/day/LATEST``) for the same logged-in user, as deployed
  (the shared page cache on), and with ``page_cache_seconds = 0`` on a second
  server: the baseline, measured in the same run.

The catalog is the shared arXiv corpus (``--papers`` of its records, default
all 79,990) plus the bundled Hugging Face sample, with the corpus embeddings
of ``bench/embed_corpus.py`` (``.cache/embeddings/``, or the main checkout's)
seeded, imported once into ``.cache/bench-for-you/home-N`` (git-ignored).
Results go to ``bench/out/bench_for_you.json``.  The box is shared: the load
average is printed with the figures.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_web import CORPUS, SAMPLE_EMBEDDINGS, run  # noqa: E402

from paperwire.web.devserver import SAMPLE, ServerProcess, home_env  # noqa: E402

OUT = ROOT / "bench" / "out"
EMBEDDINGS = next(
    (
        p
        for p in (
            ROOT / ".cache" / "embeddings" / "arxiv-cs-2025-2026.npz",
            ROOT.parent.parent / "main" / ".cache" / "embeddings" / "arxiv-cs-2025-2026.npz",
        )
        if p.exists()
    ),
    ROOT / ".cache" / "embeddings" / "arxiv-cs-2025-2026.npz",
)
MODELS = next(
    (
        p
        for p in (ROOT / ".cache" / "models", ROOT.parent.parent / "main" / ".cache" / "models")
        if p.is_dir()
    ),
    ROOT / ".cache" / "models",
)


def corpus_file(home: Path, papers: int | None) -> Path:
    """The corpus, or its first ``papers`` records in a file of their own."""
    if not papers:
        return CORPUS
    path = home.parent / f"corpus-{papers}.jsonl.gz"
    if not path.exists():
        with gzip.open(CORPUS, "rt") as src, gzip.open(path, "wt") as dst:
            for i, line in enumerate(src):
                if i >= papers:
                    break
                dst.write(line)
    return path


def prepare(home: Path, papers: int | None, env: dict[str, str]) -> dict[str, float]:
    """Import, seed the embeddings and index, once per home."""
    timings: dict[str, float] = {}
    home.mkdir(parents=True, exist_ok=True)
    marker = home / "prepared"
    if marker.exists():
        return json.loads(marker.read_text())
    started = time.perf_counter()
    source = corpus_file(home, papers)
    cmd = [sys.executable, "-m", "paperwire", "import", str(source), str(SAMPLE)]
    run([*cmd, "--no-index", "--no-progress"], env)
    timings["import_s"] = time.perf_counter() - started
    started = time.perf_counter()
    seeds = [str(p) for p in (EMBEDDINGS, SAMPLE_EMBEDDINGS) if p.exists()]
    script = (
        "from pathlib import Path\n"
        "from paperwire.cli.common import database, settings\n"
        "from paperwire.pipeline import catalog_changed\n"
        "from paperwire.search import embeddings\n"
        "cfg = settings(); db = database(cfg)\n"
        f"for p in {seeds!r}: print(embeddings.seed_embeddings(db, Path(p)))\n"
        "catalog_changed(cfg, db, [])\n"
    )
    print(run([sys.executable, "-c", script], env, timeout=7200).strip())
    timings["embed_and_index_s"] = time.perf_counter() - started
    marker.write_text(json.dumps(timings))
    return timings


VIEWER = """
import json
from datetime import UTC, datetime, timedelta
from sqlalchemy import select
from paperwire import feed
from paperwire.accounts import sessions, upvotes, users
from paperwire.accounts.upvotes import paper_ids_upvoted_by
from paperwire.cli.common import database
from paperwire.db.schema.search import paper_embeddings

now = datetime.now(UTC)
db = database()
email = "bench-for-you@example.org"
user = users.get_user_by_email(db, email) or users.create_user(
    db, email, "bench reader password", now=now, display_name="For You"
)
day = feed.latest_day(db)
if len(paper_ids_upvoted_by(db, user.id)) < UPVOTES:
    cards = feed.ranked(db, day - timedelta(days=30), day, limit=200).items
    with db.connect() as conn:
        embedded = set(conn.execute(select(paper_embeddings.c.paper_id)).scalars())
    chosen = [c.id for c in cards if c.id in embedded][::3][:UPVOTES]
    for i, pid in enumerate(chosen):
        upvotes.set_vote(db, user.id, pid, True, now=now - timedelta(minutes=len(chosen) - i))
token, _ = sessions.create_session(db, user.id, now=now)
print(json.dumps({"token": token, "day": day.isoformat(),
                  "upvotes": len(paper_ids_upvoted_by(db, user.id))}))
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=0, help="corpus records (0: all)")
    parser.add_argument("--upvotes", type=int, default=50)
    parser.add_argument("--requests", type=int, default=40, help="per target")
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=OUT / "bench_for_you.json")
    args = parser.parse_args()
    label = args.papers or "all"
    home = args.home or ROOT / ".cache" / "bench-for-you" / f"home-{label}"
    env = home_env(home, {"PAPERWIRE_MODEL_DIR": str(MODELS), "PAPERWIRE_OFFLINE": "1"})
    timings = prepare(home, args.papers or None, env)
    viewer = json.loads(
        run([sys.executable, "-c", f"UPVOTES = {args.upvotes}\n" + VIEWER], env).strip()
    )
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{home / 'paperwire.db'}")
    with engine.connect() as conn:
        papers = conn.execute(text("select count(*) from papers")).scalar_one()
        vectors = conn.execute(text("select count(*) from paper_embeddings")).scalar_one()
    engine.dispose()
    server_env = {k: v for k, v in env.items() if k.startswith("PAPERWIRE_")}
    from paperwire.web.security import SESSION_COOKIE

    results: dict[str, dict] = {}
    day_path = f"/day/{viewer['day']}"
    cold: list[float] = []  # the first /for-you of each server process
    for cache in (True, False):
        config = home / "config.toml"
        config.write_text("" if cache else "[paperwire]\npage_cache_seconds = 0\n")
        with ServerProcess(home, env=server_env) as server:
            name = "cached" if cache else "uncached"
            cookie = viewer["token"]
            with httpx.Client(base_url=server.url, cookies={SESSION_COOKIE: cookie}) as c:
                c.get(day_path, timeout=300)  # the connection, the session, the day's cards
                started = time.perf_counter()
                page = c.get("/for-you", timeout=300)  # a fresh process: no neighbours kept
                cold.append(round((time.perf_counter() - started) * 1000, 1))
                assert page.status_code == 200 and "because you upvoted" in page.text
            results[f"day page ({name})"] = _measure(server.url, day_path, cookie, args.requests)
            if cache:  # /for-you is never cached: once is enough
                results["/for-you"] = _measure(server.url, "/for-you", cookie, args.requests)
    (home / "config.toml").write_text("")
    report = {
        "papers": papers,
        "vectors": vectors,
        "upvotes": viewer["upvotes"],
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "prepare": timings,
        "results": results,
        "for_you_first_request_ms": cold,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"{papers:,} papers ({vectors:,} embedded), a user with {viewer['upvotes']} upvotes;")
    print(f"load average {report['load_average'][0]:.1f} on {os.cpu_count()} cores")
    for name, row in results.items():
        print(f"  {name:24s} p50 {row['p50_ms']:8.1f} ms   p95 {row['p95_ms']:8.1f} ms")
    print(f"  /for-you, first request of a fresh server (no neighbours kept): {cold} ms")


def _measure(base: str, path: str, cookie: str, requests: int) -> dict[str, float]:
    from paperwire.web.security import SESSION_COOKIE

    with httpx.Client(base_url=base, cookies={SESSION_COOKIE: cookie}, timeout=120) as client:
        for _ in range(3):  # warm-up: the encoder, caches, connections
            assert client.get(path).status_code == 200
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            answer = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, (path, answer.status_code)
    return {
        "requests": requests,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(percentile(times, 95), 1),
        "max_ms": round(max(times), 1),
    }


if __name__ == "__main__":
    main()
