"""How fast a new day becomes searchable, and what an idle scheduler costs.

    .venv/bin/python bench/bench_jobs.py              # a day of 250 papers, 60 s idle window
    .venv/bin/python bench/bench_jobs.py --papers 250 --idle 60

1. **A new day.**  A local server (``tests/jobs/upstream.py``) plays arXiv's
   OAI-PMH endpoint and Hugging Face's ``daily_papers``, with a day of real
   papers from the shared corpus (``--papers`` of one announcement day, 30 of
   them also on Daily Papers).  Measured, each on a fresh home that already
   holds the previous day:

   - ``jobs run`` (cron): ``paperwire jobs run`` from process start to exit;
     it harvests, indexes, embeds and indexes the vectors;
   - ``worker``: a running ``paperwire worker`` (``PAPERWIRE_JOBS_INTERVAL=5``)
     from the moment the day is published upstream to the end of the embed
     run that made it searchable with vectors (the run's recorded end);
   - baseline: ``paperwire import --no-index`` of the same records as a
     JSON-lines file (no HTTP, no index, no vectors), and ``paperwire embed``
     of them alone.

   Politeness is real: ``PAPERWIRE_ARXIV_DELAY=3`` and ``PAPERWIRE_HF_DELAY=1``
   (the recorded pages hold 100 records, so 250 papers are three requests).

2. **Idle CPU.**  CPU seconds per minute of an idle ``paperwire worker``
   (default interval, and a 10 s interval) beside an idle ``python -c sleep``,
   read from ``/proc/PID/stat`` over the same window.

The encoder is built once in ``.cache/models`` (shared with the tests).
Results go to ``bench/out/jobs.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.jobs.upstream import Upstream, hf_item, raw_record, rfc2822  # noqa: E402

CORPUS = (
    next(
        (p for p in (ROOT.parent / "shared", ROOT.parents[1] / "shared") if p.exists()),
        ROOT.parent / "shared",
    )
    / "data"
    / "arxiv-cs-2025-2026.jsonl.gz"
)
OUT = ROOT / "bench" / "out"
MODELS = ROOT / ".cache" / "models"
WANTED = {"cs.AI", "cs.CL", "cs.CV", "cs.LG"}
PREVIOUS, DAY = "2025-06-23", "2025-06-24"  # Mon and Tue; Tuesday's listing has 929 papers
PAGE_SIZE = 100
TICKS = os.sysconf("SC_CLK_TCK")


def corpus_day(day: str, limit: int) -> list[dict]:
    out = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["announced"] == day and rec["id"].startswith("2506.") and rec["categories"]:
                if WANTED & set(rec["categories"]) and len(out) < limit:
                    out.append(rec)
            elif rec["announced"] > day:
                break
    return out


def publish_day(upstream: Upstream, day: str, records: list[dict]) -> None:
    submitted = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
    versions = [("v1", rfc2822(submitted, 14))]
    xml = [raw_record({**r, "versions": versions}, day) for r in records]
    items = [hf_item(r, day, 50 - i, i + 1, repo=None) for i, r in enumerate(records[:30])]
    upstream.add_day(day, xml, items)
    upstream.publish(day)


def env_for(home: Path, upstream: Upstream, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PAPERWIRE_HOME": str(home), **upstream.env(delay=3.0)}
    env.pop("PAPERWIRE_DATABASE_URL", None)
    env.update(
        PAPERWIRE_HF_DELAY="1",
        PAPERWIRE_MODEL_DIR=str(MODELS),
        PAPERWIRE_OFFLINE="0",
        PAPERWIRE_SYNC_START=PREVIOUS,
        PAPERWIRE_DIGEST_SCHEDULER="0",
        **extra,
    )
    return env


def note(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cli(env: dict[str, str], *args: str, timeout: float = 1800) -> tuple[float, str]:
    note("paperwire " + " ".join(args))
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "paperwire", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"paperwire {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def check_searchable(env: dict[str, str], records: list[dict]) -> None:
    """The day's last paper is found by its title and has neighbours by meaning."""
    target = records[-1]
    _, out = cli(env, "search", " ".join(target["title"].split()), "--json", "--limit", "3")
    assert json.loads(out)[0]["id"] == target["id"], out[:500]
    _, out = cli(env, "similar", target["id"], "--json")
    assert json.loads(out), f"no vectors for {target['id']}"


def prepared_home(base: Path, name: str, source: str = "previous") -> Path:
    """A copy of a home made earlier (``previous``: yesterday harvested and embedded)."""
    home = base / name
    shutil.copytree(base / source, home)
    return home


def runs_since(home: Path, job: str, since: float) -> list[dict]:
    """``job``'s finished runs that ended after ``since`` (a Unix time), from the catalog."""
    import sqlite3
    from datetime import UTC, datetime

    con = sqlite3.connect(home / "paperwire.db")
    rows = con.execute(
        "SELECT status, finished_at, counts FROM job_runs"
        " WHERE job = ? AND finished_at IS NOT NULL",
        (job,),
    ).fetchall()
    con.close()
    out = []
    for status, finished, counts in rows:
        end = datetime.fromisoformat(finished).replace(tzinfo=UTC).timestamp()
        if end >= since:
            out.append({"status": status, "end": end, "counts": json.loads(counts)})
    return out


def measure_day(base: Path, upstream: Upstream, records: list[dict]) -> dict[str, float]:
    results: dict[str, float] = {}
    # Baselines: the bare import of the same records, and embedding them alone.
    home = base / "import"
    home.mkdir()
    path = base / "day.jsonl"
    with path.open("w") as fh:
        for r in records:
            fh.write(json.dumps({**r, "announced": DAY}) + "\n")
    env = env_for(home, upstream)
    results["baseline: import --no-index"], _ = cli(env, "import", str(path), "--no-index")
    results["baseline: embed (same papers)"], _ = cli(env, "embed", "--no-progress")

    # Cron: one `jobs run` after the day appeared.
    publish_day(upstream, DAY, records)
    home = prepared_home(base, "cron")
    env = env_for(home, upstream)
    results["jobs run (cron), day -> searchable"], out = cli(
        env, "jobs", "run", "--at", f"{DAY}T06:00:00Z", "--json"
    )
    for outcome in json.loads(out):
        counts = outcome["counts"]
        detail = f", {counts['requests']} requests" if "requests" in counts else ""
        results[f"  of which job {outcome['job']}{detail}"] = outcome["seconds"]
    check_searchable(env, records)

    # A running worker: the day appears while it waits.
    upstream.published.discard(DAY)
    home = prepared_home(base, "worker")
    env = env_for(home, upstream, PAPERWIRE_JOBS_INTERVAL="5")
    worker = subprocess.Popen(
        [sys.executable, "-m", "paperwire", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(20)  # started, first (empty) pass done, waiting
        published = time.time()
        upstream.publish(DAY)
        deadline = time.monotonic() + 600
        done = None
        while done is None and time.monotonic() < deadline:
            time.sleep(0.5)
            for run in runs_since(home, "embed", published):
                if run["status"] == "ok" and run["counts"].get("embedded", 0) >= len(records):
                    done = run
        if done is None:
            raise SystemExit("the worker did not make the day searchable within 10 minutes")
        results["worker (interval 5 s), day -> searchable"] = done["end"] - published
        note(f"worker: searchable after {done['end'] - published:.1f}s")
    finally:
        worker.terminate()
        worker.wait(60)
    check_searchable(env, records)
    return results


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def measure_idle(base: Path, upstream: Upstream, window: float) -> dict[str, float]:
    procs: dict[str, subprocess.Popen] = {}
    for label, interval in (("worker, default interval (300 s)", None), ("worker, 10 s", "10")):
        # Up to date with the new day: a pass re-reads its records, and changes nothing.
        home = prepared_home(base, f"idle-{interval or 'default'}", source="cron")
        extra = {"PAPERWIRE_JOBS_INTERVAL": interval} if interval else {}
        procs[label] = subprocess.Popen(
            [sys.executable, "-m", "paperwire", "worker"],
            env=env_for(home, upstream, **extra),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    procs["baseline: python -c sleep"] = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(100000)"]
    )
    note(f"idle: {', '.join(procs)}")
    try:
        time.sleep(30)  # start-up and each worker's first pass are not idle time
        before = {k: cpu_seconds(p.pid) for k, p in procs.items()}
        time.sleep(window)
        after = {k: cpu_seconds(p.pid) for k, p in procs.items()}
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(60)
    return {k: (after[k] - before[k]) * 60.0 / window for k in procs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=250, help="papers in the new day")
    parser.add_argument("--idle", type=float, default=60.0, help="idle window, seconds")
    args = parser.parse_args()
    if not CORPUS.exists():
        raise SystemExit(f"the shared corpus is missing: {CORPUS}")
    load_before = os.getloadavg()
    records = corpus_day(DAY, args.papers)
    previous = corpus_day(PREVIOUS, args.papers)
    base = Path(tempfile.mkdtemp(prefix="paperwire-bench-jobs-"))
    upstream = Upstream(Path("/nonexistent"), page_size=PAGE_SIZE).start()
    try:
        # The home every measurement starts from: yesterday harvested and embedded.
        publish_day(upstream, PREVIOUS, previous)
        home = base / "previous"
        home.mkdir()
        seconds_prev, _ = cli(env_for(home, upstream), "jobs", "run", "--at", f"{PREVIOUS}T06:00Z")
        day = measure_day(base, upstream, records)
        idle = measure_idle(base, upstream, args.idle)
    finally:
        upstream.stop()
        shutil.rmtree(base, ignore_errors=True)
    load_after = os.getloadavg()

    print(f"new day: {len(records)} papers of {DAY} (30 on Daily Papers); home holds {PREVIOUS}")
    print(
        f"cpus: {os.cpu_count()}  load average before/after: {load_before[0]:.1f} / "
        f"{load_after[0]:.1f}  (the machine is shared: ratios hold, absolute times don't)"
    )
    print(f"(first harvest of {PREVIOUS} into an empty home: {seconds_prev:.1f}s)")
    base_import = day["baseline: import --no-index"]
    print(f"{'day -> searchable with vectors':44} {'seconds':>8} {'x import':>9}")
    for label, seconds in day.items():
        print(f"{label:44} {seconds:8.1f} {seconds / base_import:9.1f}")
    sleep = idle["baseline: python -c sleep"]
    print(f"{'idle, CPU seconds per minute':44} {'cpu s':>8} {'- sleep':>9}")
    for label, cpu in idle.items():
        print(f"{label:44} {cpu:8.3f} {cpu - sleep:9.3f}")
    per_poll = (idle["worker, 10 s"] - sleep) / 6
    print(
        f"one poll with nothing new costs {per_poll:.2f} CPU s (it re-reads the last day's "
        f"{len(records)} records), so the default interval averages "
        f"{per_poll * 60 / 300:.3f} CPU s per minute; between polls a worker uses no CPU "
        f"(/proc resolution: {1 / TICKS:.2f} s)"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "jobs.json").write_text(
        json.dumps(
            {
                "papers": len(records),
                "load": [load_before, load_after],
                "day_seconds": day,
                "idle_cpu_per_minute": idle,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
