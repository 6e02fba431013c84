"""Web latency and throughput at 50 concurrent clients on the 80k-paper corpus.

    .venv/bin/python bench/bench_web.py                      # 10 s per target
    .venv/bin/python bench/bench_web.py --duration 5 --connections 50

What is measured: p50/p95/p99 latency and requests/s of a real ``paperwire
serve`` (one uvicorn process, access log off) on loopback, for the home page
(latest day), a paper page, ``/api/daily_papers``, a search page, and a static
file served by the same server: the floor, measured in the same run.  Each
target runs twice: as deployed (anonymous pages shared for 5 s by the page
cache) and with the page cache off (``page_cache_seconds = 0``), which shows
what one uncached request costs.

Load: ``wrk`` (Debian package) with a small Lua reporter for p95; without wrk,
a bounded asyncio + httpx generator.  Only loopback targets; every run is
bounded by ``--duration``.  The catalog is the shared arXiv corpus (79,990
papers) plus the bundled Hugging Face sample (for real upvotes), imported once
into ``.cache/bench-web/home`` (git-ignored).  Results go to
``bench/out/bench_web.json``.  The box is shared: the load average is printed
next to the figures.
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

CORPUS = ROOT.parent / "shared" / "data" / "arxiv-cs-2025-2026.jsonl.gz"
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
    timings["index_sync_s"] = time.perf_counter() - started
    return timings


def wrk(url: str, connections: int, duration: float, threads: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(LUA)
        script = fh.name
    try:
        seconds = max(1, round(duration))
        cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
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


async def _httpx_load(url: str, connections: int, duration: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

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


def load(url: str, args: argparse.Namespace) -> dict[str, float]:
    if shutil.which("wrk") and not args.python_load:
        return wrk(url, args.connections, args.duration, args.threads)
    return asyncio.run(_httpx_load(url, args.connections, args.duration))


def targets(base: str) -> dict[str, str]:
    """The measured URLs: a paper from the latest day, the static stylesheet."""
    with httpx.Client(base_url=base, timeout=120) as client:
        item = client.get("/api/daily_papers", params={"limit": 1}).json()[0]
        home = client.get("/").text
        css = re.search(r'href="(/static/css/site\.css\?v=[0-9a-f]+)"', home).group(1)
    return {
        "static file (floor)": css,
        "/ (latest day)": "/",
        "paper page": f"/papers/{item['paper']['id']}",
        "/api/daily_papers": "/api/daily_papers",
        "search page": "/search?q=diffusion+models",
    }


def measure(home: Path, args: argparse.Namespace, cache: bool) -> dict[str, dict]:
    env = {}
    if not cache:
        config = OUT / "no-page-cache.toml"
        config.write_text("page_cache_seconds = 0\n")
        env["PAPERWIRE_CONFIG"] = str(config)
    results: dict[str, dict] = {}
    with ServerProcess(home, env=env, workers=args.workers, jobs=False) as server:
        urls = targets(server.url)
        with httpx.Client(base_url=server.url, timeout=120) as client:
            for path in urls.values():  # warm: query encoder, SQLite page cache
                for _ in range(3):
                    assert client.get(path).status_code == 200, path
        for name, path in urls.items():
            results[name] = {"path": path, **load(server.url + path, args)}
            r = results[name]
            print(
                f"  {name:22} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:7.1f} ms  "
                f"p95 {r['p95_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  errors {r['errors']}",
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
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    timings = prepare(args.home)
    tool = "wrk" if shutil.which("wrk") and not args.python_load else "httpx (asyncio)"
    print(
        f"bench_web: {args.connections} connections, {args.duration:g}s per target, "
        f"{args.workers} server process(es), load by {tool}; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs",
        flush=True,
    )
    print("page cache on (as deployed):", flush=True)
    report = {"args": vars(args) | {"home": str(args.home)}, "prepare": timings}
    report["cached"] = measure(args.home, args, cache=True)
    if not args.no_uncached:
        print("page cache off (every request renders):", flush=True)
        report["uncached"] = measure(args.home, args, cache=False)
    report["loadavg_after"] = os.getloadavg()
    (OUT / "bench_web.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"wrote {OUT / 'bench_web.json'}")


if __name__ == "__main__":
    main()
