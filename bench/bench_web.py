"""Web throughput and latency for anonymous and logged-in viewers, cached and uncached.

    .venv/bin/python bench/bench_web.py                      # 10 s per target
    .venv/bin/python bench/bench_web.py --duration 8 --connections 50 --workers 2

What is measured: requests/s, p50/p95/p99 latency and the server's CPU time
per request (user + system, from /proc, all its processes) of a real ``paperwire
serve`` (uvicorn, access log off, ``--workers`` processes) on loopback, for the
home page (latest day), a paper page, a search page and ``/api/daily_papers``,
each by an anonymous client and by a logged-in one (a session cookie of a user
who has upvoted and saved some of the papers shown), and a static file served
by the same server: the floor, measured in the same run.  Everything runs
twice: as deployed (pages shared for 5 s by the page cache) and with the page
cache off (``page_cache_seconds = 0``), which shows what a cache miss costs.
Before measuring, the logged-in pages are checked to mark exactly the user's
votes and saves.

Load: ``wrk`` (Debian package) with a small Lua reporter for p95; without wrk,
a bounded asyncio + httpx generator.  Only loopback targets; every run is
bounded by ``--duration``.  The catalog is the shared arXiv corpus (79,990
papers) plus the bundled Hugging Face sample (for real upvotes), imported once
into ``.cache/bench-web/home`` (git-ignored).  Results go to
``bench/out/bench_web.json``.  The box is shared: the load average is printed
next to the figures, and the CPU time per request, which other work on the
machine barely changes, is the figure to compare between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paperwire.web.devserver import SAMPLE, ServerProcess, home_env  # noqa: E402

# The shared data folder sits beside the checkout (or beside the worktrees' folder).
CORPUS = next(
    (
        base / "shared" / "data" / "arxiv-cs-2025-2026.jsonl.gz"
        for base in (ROOT.parent, ROOT.parent.parent)
        if (base / "shared" / "data" / "arxiv-cs-2025-2026.jsonl.gz").exists()
    ),
    ROOT.parent / "shared" / "data" / "arxiv-cs-2025-2026.jsonl.gz",
)
SAMPLE_EMBEDDINGS = ROOT / "paperwire" / "samples" / "hf-daily-papers.embeddings.npz"
OUT = ROOT / "bench" / "out"
LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"p50\\":%d,\\"p95\\":%d,\\"p99\\":%d,"
    .. "\\"errors\\":%d,\\"non2xx\\":%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def run(cmd: list[str], env: dict[str, str], timeout: float = 3600) -> str:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def prepare(home: Path) -> dict[str, float]:
    """Import the corpus and sample once; bring the search indexes up to date."""
    env = home_env(home)
    timings: dict[str, float] = {}
    count = "from paperwire.catalog.store import count_papers; from paperwire.cli.common import database; print(count_papers(database()))"  # noqa: E501
    home.mkdir(parents=True, exist_ok=True)
    papers = int(run([sys.executable, "-c", count], env).strip() or 0)
    if papers < 80_000:
        if not CORPUS.exists():
            sys.exit(f"missing {CORPUS}")
        started = time.perf_counter()
        cmd = [sys.executable, "-m", "paperwire", "import", str(CORPUS), str(SAMPLE)]
        run([*cmd, "--no-index", "--no-progress"], env)
        timings["import_s"] = time.perf_counter() - started
    started = time.perf_counter()
    seed_and_index(env)
    timings["index_sync_s"] = time.perf_counter() - started
    return timings


def seed_and_index(env: dict[str, str]) -> None:
    """Store the sample's precomputed vectors, then bring the search index up to date."""
    script = (
        "from pathlib import Path\n"
        "from paperwire.cli.common import database, settings\n"
        "from paperwire.pipeline import catalog_changed\n"
        "cfg = settings(); db = database(cfg)\n"
        "from paperwire.search import embeddings\n"
        f"embeddings.seed_embeddings(db, Path({str(SAMPLE_EMBEDDINGS)!r}))\n"
        "catalog_changed(cfg, db, [])\n"
    )
    run([sys.executable, "-c", script], env)


VIEWER = """
import json, sys
from datetime import UTC, datetime
from paperwire import feed
from paperwire.accounts import collections as colls, sessions, upvotes, users
from paperwire.accounts.errors import NotFound
from paperwire.cli.common import database
from paperwire.accounts.upvotes import paper_ids_upvoted_by

now = datetime.now(UTC)
db = database()
email = "bench-reader@example.org"
user = users.get_user_by_email(db, email) or users.create_user(
    db, email, "bench reader password", now=now, display_name="Bench Reader"
)
day = feed.latest_day(db)
if not paper_ids_upvoted_by(db, user.id):  # once per bench home: votes move the ranking
    cards = feed.ranked(db, day, day, limit=30).items
    for card in cards[0:12:2]:
        upvotes.set_vote(db, user.id, card.id, True, now=now)
    coll = colls.create(db, user.id, "Bench", now=now)
    for card in cards[1:12:3]:
        colls.add_paper(db, user.id, coll.slug, card.id, now=now)
token, _ = sessions.create_session(db, user.id, now=now)
print(json.dumps({
    "token": token,
    "voted": sorted(paper_ids_upvoted_by(db, user.id)),
    "saved": sorted(colls.paper_ids_in_collections(db, user.id)),
    "name": user.name,
}))
"""


def make_viewer(home: Path) -> dict:
    """A logged-in user with a few votes and saves on the home page: its session token."""
    return json.loads(run([sys.executable, "-c", VIEWER], home_env(home)).strip())


TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of ``pid`` and its descendants (``--workers``), from /proc."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        stats[int(entry.name)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        fields = stats.get(current)
        if fields:
            total += (int(fields[11]) + int(fields[12])) / TICKS
        todo.extend(children.get(current, []))
    return total


def wrk(
    url: str, connections: int, duration: float, threads: int, cookie: str | None = None
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(LUA)
        script = fh.name
    try:
        seconds = max(1, round(duration))
        cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
        if cookie:
            cmd += ["-H", f"Cookie: {cookie}"]
        out = subprocess.run(
            [*cmd, "-s", script, url],
            capture_output=True,
            text=True,
            timeout=duration + 60,
        ).stdout
    finally:
        os.unlink(script)
    match = re.search(r"WRKJSON (\{.*\})", out)
    if not match:
        raise RuntimeError(f"wrk gave no report:\n{out}")
    data = json.loads(match.group(1))
    seconds = data["duration_us"] / 1e6
    return {
        "rps": data["requests"] / seconds,
        "p50_ms": data["p50"] / 1000,
        "p95_ms": data["p95"] / 1000,
        "p99_ms": data["p99"] / 1000,
        "requests": data["requests"],
        "errors": data["errors"] + data["non2xx"],
    }


async def _httpx_load(
    url: str, connections: int, duration: float, cookie: str | None = None
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"Cookie": cookie} if cookie else {}
    async with httpx.AsyncClient(limits=limits, timeout=10, headers=headers) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    r = await client.get(url)
                    if r.status_code >= 400:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100)
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": q[49] * 1000,
        "p95_ms": q[94] * 1000,
        "p99_ms": q[98] * 1000,
        "requests": len(latencies),
        "errors": errors,
    }


def load(
    url: str, args: argparse.Namespace, cookie: str | None = None, pid: int | None = None
) -> dict[str, float]:
    """Load ``url``; with the server's ``pid``, also its CPU time per request."""
    cpu = server_cpu_seconds(pid) if pid else 0.0
    if shutil.which("wrk") and not args.python_load:
        result = wrk(url, args.connections, args.duration, args.threads, cookie)
    else:
        result = asyncio.run(_httpx_load(url, args.connections, args.duration, cookie))
    if pid:
        used = server_cpu_seconds(pid) - cpu
        result["cpu_ms"] = 1000 * used / max(result["requests"], 1)
    return result


def targets(base: str, viewer: dict) -> dict[str, str]:
    """The measured URLs: a paper the viewer upvoted, the static stylesheet."""
    with httpx.Client(base_url=base, timeout=120) as client:
        home = client.get("/").text
        css = re.search(r'href="(/static/css/site\.css\?v=[0-9a-f]+)"', home).group(1)
    return {
        "static file (floor)": css,
        "/ (latest day)": "/",
        "paper page": f"/papers/{viewer['voted'][0]}",
        "search page": "/search?q=diffusion+models+for+video",
        "/api/daily_papers": "/api/daily_papers",
    }


_MARKED = re.compile(
    r'<form class="upvote[^"]*is-voted[^"]*" method="post" action="/papers/([^"]+)/upvote"'
)


def check_viewer(base: str, viewer: dict, cookie: str) -> str:
    """The logged-in home page marks the viewer's votes (and saves, where shown)."""
    with httpx.Client(base_url=base, timeout=120, headers={"Cookie": cookie}) as client:
        page = client.get("/").text
    if viewer["name"] not in page:
        return "the logged-in page does not show the user's name"
    shown = set(re.findall(r'action="/papers/([^"]+)/upvote"', page))
    marked = set(_MARKED.findall(page))
    if marked != shown & set(viewer["voted"]):
        return f"votes marked {sorted(marked)}, expected {sorted(shown & set(viewer['voted']))}"
    saved = set(re.findall(r'data-saved="([^"]+)"', page))
    if saved and saved != shown & set(viewer["saved"]):
        return f"saves marked {sorted(saved)}, expected {sorted(shown & set(viewer['saved']))}"
    return "ok" + ("" if saved else " (this version marks no saves on cards)")


VIEWERS = ("anonymous", "logged-in")


def measure(home: Path, args: argparse.Namespace, cache: bool, viewer: dict) -> dict[str, dict]:
    env = {}
    if not cache:
        config = OUT / "no-page-cache.toml"
        config.write_text("page_cache_seconds = 0\n")
        env["PAPERWIRE_CONFIG"] = str(config)
    cookie = f"paperwire_session={viewer['token']}"
    results: dict[str, dict] = {}
    with ServerProcess(home, env=env, workers=args.workers, jobs=False) as server:
        urls = targets(server.url, viewer)
        for jar in ({}, {"Cookie": cookie}):
            with httpx.Client(base_url=server.url, timeout=120, headers=jar) as client:
                for path in urls.values():  # warm: query encoder, SQLite page cache
                    for _ in range(3):
                        assert client.get(path).status_code == 200, path
        results["check"] = {"logged_in_marks": check_viewer(server.url, viewer, cookie)}
        print(f"  logged-in page marks the user's votes: {results['check']['logged_in_marks']}")
        for name, path in urls.items():
            if args.only and not re.search(args.only, name) and not path.startswith("/static/"):
                continue
            for who in VIEWERS[:1] if path.startswith("/static/") else VIEWERS:
                label = f"{name} [{who}]"
                jar = cookie if who == "logged-in" else None
                measured = load(server.url + path, args, jar, server.proc.pid)
                results[label] = r = {"path": path, "viewer": who, **measured}
                print(
                    f"  {label:34} {r['rps']:7.0f} req/s  p50 {r['p50_ms']:6.1f} ms  "
                    f"p95 {r['p95_ms']:6.1f} ms  server CPU {r['cpu_ms']:5.2f} ms/req  "
                    f"errors {r['errors']}",
                    flush=True,
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=ROOT / ".cache" / "bench-web" / "home")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per target")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--python-load", action="store_true", help="use httpx, not wrk")
    parser.add_argument("--no-uncached", action="store_true", help="skip the cache-off pass")
    parser.add_argument("--no-cached", action="store_true", help="skip the cache-on pass")
    parser.add_argument("--only", help="measure only the targets whose name matches (regex)")
    parser.add_argument("--out", type=Path, default=OUT / "bench_web.json", help="JSON report")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    timings = prepare(args.home)
    viewer = make_viewer(args.home)
    tool = "wrk" if shutil.which("wrk") and not args.python_load else "httpx (asyncio)"
    print(
        f"bench_web: {args.connections} connections, {args.duration:g}s per target, "
        f"{args.workers} server process(es), load by {tool}; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs",
        flush=True,
    )
    print("page cache on (as deployed):" if not args.no_cached else "", flush=True)
    report = {"args": vars(args) | {"home": str(args.home)}, "prepare": timings}
    if not args.no_cached:
        report["cached"] = measure(args.home, args, cache=True, viewer=viewer)
    if not args.no_uncached:
        print(
            "page cache off (every request renders); load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}:",
            flush=True,
        )
        report["uncached"] = measure(args.home, args, cache=False, viewer=viewer)
    report["loadavg_after"] = os.getloadavg()
    args.out.write_text(json.dumps(report, indent=2, default=str))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
