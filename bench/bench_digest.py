"""Benchmark: compose and deliver 10,000 digests vs. sending pre-rendered mail (the floor).

    .venv/bin/python bench/bench_digest.py [--subscribers 10000] [--at 2026-06-16T12:00:00Z]

Imports the shared 80k-paper corpus (../shared/data/arxiv-cs-2025-2026.jsonl.gz)
once into a cached home under .cache/bench-digest/ (with synthetic, Zipf-like
upvotes, since the corpus has none, and the keyword search index), copies it
to a temporary home, adds confirmed subscribers with mixed preferences
(daily/weekly, eight time zones, trending, categories, search topics, some
accounts with upvotes), and then, in the same run and against the same local
SMTP sink (aiosmtpd in its own process):

- floor: one connection sends N identical, pre-rendered digests with smtplib;
- paperwire: ``paperwire.inbox.runner.run`` composes every due digest (writing
  the digests and outbox rows) and delivers the outbox, marking each message sent.

Target: paperwire within 3x of the floor.  Results also go to bench/out/.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import smtplib
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "data" / "arxiv-cs-2025-2026.jsonl.gz"
CACHE = ROOT / ".cache" / "bench-digest"
OUT = ROOT / "bench" / "out"

TIMEZONES = [
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Pacific/Auckland",
]
CATEGORIES = ["cs.CV", "cs.CL", "cs.AI", "cs.LG", "cs.RO", "cs.IR", "cs.CR", "cs.HC"]
TOPICS = [
    "diffusion models",
    "large language models",
    "retrieval augmented generation",
    "reinforcement learning",
    "graph neural networks",
    "vision transformer",
    "speculative decoding",
    "mixture of experts",
    "3D gaussian splatting",
    "autonomous driving",
    "medical image segmentation",
    "federated learning",
    "knowledge distillation",
    "chain of thought",
    "text to image",
    "video generation",
    "point cloud",
    "adversarial robustness",
    "code generation",
    "multimodal reasoning",
    "hallucination",
    "quantization",
    "contrastive learning",
    "object detection",
    "machine translation",
    "speech recognition",
    "recommendation",
    "anomaly detection",
    "neural radiance fields",
    "agents",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sink(port: int, ready, counter) -> None:
    """A minimal aiosmtpd server that accepts and counts everything."""
    import asyncio

    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            with counter.get_lock():
                counter.value += 1
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        asyncio.run(asyncio.sleep(10**6))
    finally:
        controller.stop()


def prepare_base(env: dict[str, str]) -> Path:
    """The cached home with the corpus imported and upvotes assigned."""
    base = CACHE / "base"
    marker = base / "ready"
    if marker.exists():
        return base
    if not CORPUS.exists():
        sys.exit(f"corpus not found: {CORPUS}")
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    import subprocess

    print("importing the corpus once (cached in .cache/bench-digest/) ...", flush=True)
    subprocess.run(
        [sys.executable, "-m", "paperwire", "import", "--no-index", "--no-progress", str(CORPUS)],
        env={**env, "PAPERWIRE_HOME": str(base)},
        check=True,
    )
    from sqlalchemy import select, update

    from paperwire.config import load_settings
    from paperwire.db import open_database
    from paperwire.db.schema.catalog import papers

    settings = load_settings({**env, "PAPERWIRE_HOME": str(base)})
    db = open_database(settings)
    rng = random.Random(7)
    with db.begin() as conn:
        ids = conn.execute(select(papers.c.id)).scalars().all()
        rows = [{"pid": i, "votes": int(rng.paretovariate(1.3)) - 1} for i in ids]
        from sqlalchemy import bindparam

        conn.execute(
            update(papers)
            .where(papers.c.id == bindparam("pid"))
            .values(upvotes=bindparam("votes"), external_upvotes=bindparam("votes")),
            rows,
        )
    db.dispose()
    # The keyword index, so topics go through the real search service (no embeddings:
    # computing them for 80k papers takes over an hour on CPU; see the shared README).
    subprocess.run(
        [sys.executable, "-m", "paperwire", "reindex", "--no-progress"],
        env={**env, "PAPERWIRE_HOME": str(base)},
        check=True,
    )
    marker.write_text("ok")
    return base


def add_subscribers(db, n: int, now: datetime, seed: int = 1) -> int:
    """Confirmed subscribers with mixed preferences; returns how many have accounts."""
    from sqlalchemy import insert, select

    from paperwire.db.schema.accounts import upvotes, users
    from paperwire.db.schema.catalog import papers
    from paperwire.db.schema.inbox import subscriptions

    rng = random.Random(seed)
    with db.begin() as conn:
        paper_ids = (
            conn.execute(select(papers.c.id).where(papers.c.upvotes > 5).limit(2000))
            .scalars()
            .all()
        )
        rows, accounts = [], []
        for i in range(n):
            email = f"reader{i}@bench.example"
            has_account = rng.random() < 0.05
            cats = rng.sample(CATEGORIES, k=rng.choice([0, 0, 1, 1, 2]))
            topics = rng.sample(TOPICS, k=rng.choice([0, 0, 1, 1, 2]))
            rows.append(
                {
                    "email": email,
                    "status": "active",
                    "frequency": "weekly" if rng.random() < 0.2 else "daily",
                    "timezone": rng.choice(TIMEZONES),
                    "trending": rng.random() < 0.7 or not (cats or topics),
                    "similar_to_upvotes": has_account,
                    "categories": cats,
                    "topics": topics,
                    "nonce": f"{i:016x}",
                    "failure_count": 0,
                    "created_at": now,
                    "updated_at": now,
                    "confirmed_at": now,
                }
            )
            if has_account:
                accounts.append(email)
        conn.execute(insert(subscriptions), rows)
        for email in accounts:
            uid = conn.execute(
                insert(users).values(
                    email=email, password_hash="x", display_name="", created_at=now
                )
            ).inserted_primary_key[0]
            conn.execute(
                insert(upvotes),
                [
                    {"user_id": uid, "paper_id": pid, "created_at": now}
                    for pid in rng.sample(paper_ids, k=5)
                ],
            )
    return len(accounts)


def floor(port: int, message: bytes, n: int) -> float:
    """Seconds to send ``message`` ``n`` times over one connection (the floor)."""
    start = time.perf_counter()
    conn = smtplib.SMTP("127.0.0.1", port)
    for i in range(n):
        conn.sendmail("digests@bench.example", [f"reader{i}@bench.example"], message)
    conn.quit()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--at", default="2026-06-16T12:00:00Z")
    args = parser.parse_args()
    at = datetime.fromisoformat(args.at.replace("Z", "+00:00")).astimezone(UTC)

    port = free_port()
    ready, counter = mp.Event(), mp.Value("q", 0)
    sink = mp.Process(target=_sink, args=(port, ready, counter), daemon=True)
    sink.start()
    ready.wait(30)

    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERWIRE_")}
    base = prepare_base(env)
    tmp = Path(tempfile.mkdtemp(prefix="bench-digest-"))
    try:
        home = tmp / "home"
        shutil.copytree(base, home)
        env.update(
            PAPERWIRE_HOME=str(home),
            PAPERWIRE_SMTP_HOST="127.0.0.1",
            PAPERWIRE_SMTP_PORT=str(port),
            PAPERWIRE_BASE_URL="https://paperwire.example",
            PAPERWIRE_MAIL_FROM="Paperwire <digests@bench.example>",
        )
        os.environ.update(env)
        from paperwire.config import load_settings
        from paperwire.db import open_database
        from paperwire.inbox import runner
        from paperwire.inbox.compose import Composer
        from paperwire.inbox.subscriptions import Preferences

        settings = load_settings()
        db = open_database(settings)
        n_accounts = add_subscribers(db, args.subscribers, at)

        # The floor's message: a real, typical digest (trending + one topic), rendered once.
        sample = runner.preview(
            db, settings, now=at, prefs=Preferences(topics=("large language models",))
        )
        from paperwire.inbox.render import Renderer

        renderer = Renderer(settings)
        _mid, message = renderer.digest(
            subscription_id=1,
            email="reader0@bench.example",
            period=sample.period,
            content=sample.content,
            now=at,
        )

        # The machine may be shared: measure the floor before and after, use the mean.
        counter.value = 0
        floor_before = floor(port, message, args.subscribers)
        assert counter.value == args.subscribers

        counter.value = 0
        started = time.perf_counter()
        report = runner.run(db, settings, at, composer=Composer(db, settings))
        total_s = time.perf_counter() - started
        delivered = counter.value
        assert delivered == report.sent == report.composed, (delivered, report)
        counter.value = 0
        floor_after = floor(port, message, args.subscribers)
        floor_s = (floor_before + floor_after) / 2

        from sqlalchemy import func, select

        from paperwire.db.schema.inbox import outbox_messages

        with db.connect() as conn:
            avg_size = conn.execute(
                select(func.avg(func.length(outbox_messages.c.message)))
            ).scalar()
        db.dispose()
    finally:
        sink.terminate()
        shutil.rmtree(tmp, ignore_errors=True)

    floor_rate = args.subscribers / floor_s
    rate = delivered / total_s
    # Compare per email: some subscribers had nothing new (recorded, not sent).
    ratio = (total_s / max(delivered, 1)) / (floor_s / args.subscribers)
    rows = [
        ("subscribers (confirmed)", f"{args.subscribers:,} ({n_accounts} with accounts)"),
        ("as of", args.at),
        ("digests composed / empty", f"{report.composed:,} / {report.empty:,}"),
        (
            "emails delivered",
            f"{delivered:,} (typical {len(message) / 1024:.1f} KiB; "
            f"stored zlib avg {avg_size / 1024:.1f} KiB)",
        ),
        (
            "floor: pre-rendered, same SMTP path",
            f"{floor_s:.2f} s  ({floor_rate:,.0f} emails/s; "
            f"before {floor_before:.1f} s, after {floor_after:.1f} s)",
        ),
        (
            "paperwire: compose + enqueue + deliver",
            f"{total_s:.2f} s  ({rate:,.0f} emails/s)",
        ),
        ("  of which compose + enqueue", f"{report.seconds['compose']:.2f} s"),
        ("  of which deliver + mark sent", f"{report.seconds['deliver']:.2f} s"),
        ("time per email vs floor", f"{ratio:.2f}x  (target <= 3x)"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"\n{'measure':<{width}} | value")
    print(f"{'-' * width}-|-{'-' * 40}")
    for key, value in rows:
        print(f"{key:<{width}} | {value}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_digest.json").write_text(
        json.dumps(
            {
                "subscribers": args.subscribers,
                "at": args.at,
                "composed": report.composed,
                "empty": report.empty,
                "delivered": delivered,
                "floor_seconds": floor_s,
                "floor_before_seconds": floor_before,
                "floor_after_seconds": floor_after,
                "paperwire_seconds": total_s,
                "compose_seconds": report.seconds["compose"],
                "deliver_seconds": report.seconds["deliver"],
                "ratio_per_email": ratio,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
