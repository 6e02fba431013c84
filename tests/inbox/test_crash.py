"""kill -9 in the middle of sending, then a re-run: every digest exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import func, select

from paperwire.db.schema.inbox import digests, outbox

AT = "2026-06-16T12:00:00Z"


def test_kill_during_delivery_then_rerun_neither_duplicates_nor_skips(
    catalog, activate, smtp_sink, run_cli, home, inbox_db
) -> None:
    addresses = [f"reader{i}@example.org" for i in range(12)]
    for i, address in enumerate(addresses):
        activate(address, topics=["diffusion"] if i % 2 else None)
    smtp_sink.delay = 0.4  # each message takes 0.4 s to be accepted

    proc = subprocess.Popen(
        [sys.executable, "-m", "paperwire", "digest", "run", "--at", AT],
        env={**os.environ, "PAPERWIRE_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        smtp_sink.wait_for(4, timeout=120)
        time.sleep(0.2)  # land somewhere inside the next message's DATA
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    before = len(smtp_sink.received)
    assert 4 <= before < len(addresses), "the kill should interrupt the run midway"

    smtp_sink.delay = 0
    result = run_cli("digest", "run", "--at", AT, "--json")
    assert result.returncode == 0, result.stderr
    report = result.json()
    assert report["due"] == 0  # everything was composed before the kill: nothing recomposed

    for address in addresses:
        got = smtp_sink.to(address, kind="digest")
        ids = {m.message["Message-ID"] for m in got}
        assert len(ids) == 1, f"{address}: {len(ids)} distinct digests"
    # At-least-once edge: only a message accepted in the instant before the kill can
    # arrive twice, and then with the same Message-ID (receivers deduplicate on it).
    assert len(addresses) <= len(smtp_sink.received) <= len(addresses) + 1
    with inbox_db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(digests)).scalar() == 12
        states = conn.execute(
            select(outbox.c.status, func.count())
            .where(outbox.c.kind == "digest")
            .group_by(outbox.c.status)
        ).all()
    assert dict(states) == {"sent": 12}

    # And yet another run (a later cron tick) still sends nothing.
    assert run_cli("digest", "run", "--at", AT, "--json").json()["sent"] == 0


def test_two_runs_at_once_compose_each_digest_once(
    catalog, activate, smtp_sink, run_cli, home
) -> None:
    for i in range(6):
        activate(f"twin{i}@example.org")
    smtp_sink.delay = 0.1
    env = {**os.environ, "PAPERWIRE_HOME": str(home)}
    cmd = [sys.executable, "-m", "paperwire", "digest", "run", "--at", AT]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        proc.wait(timeout=120)
        assert proc.returncode == 0
    assert len(smtp_sink.received) == 6
