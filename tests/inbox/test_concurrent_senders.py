"""Several senders on one outbox: every message reaches its reader exactly once.

Each test runs on two PostgreSQL instances (separate homes, one database) and
on SQLite (two processes, one home).  The senders are real ``paperwire digest
run`` processes, the SMTP server a real aiosmtpd; its ``barrier`` holds every
message until two senders are connected, so they really send at the same time.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from paperwire.db.schema.inbox import digests, outbox

from .conftest import finish

AT = "2026-06-16T12:00:00Z"  # daily digests of Monday 15 June: two papers listed


def queue_digests(run_cli, activate, count: int, prefix: str = "reader") -> list[str]:
    """``count`` active subscribers, each with a digest composed and waiting in the outbox."""
    addresses = [f"{prefix}{i}@example.org" for i in range(count)]
    for address in addresses:
        activate(address)
    result = run_cli("digest", "run", "--at", AT, "--no-send", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json()["composed"] == count
    return addresses


def assert_each_once(smtp_sink, addresses: list[str]) -> None:
    ids = [m.message["Message-ID"] for m in smtp_sink.received]
    assert len(ids) == len(set(ids)) == len(addresses)
    for address in addresses:
        assert len(smtp_sink.to(address, kind="digest")) == 1, address


def outbox_states(db) -> dict[str, int]:
    with db.connect() as conn:
        rows = conn.execute(
            select(outbox.c.status, func.count())
            .where(outbox.c.kind == "digest")
            .group_by(outbox.c.status)
        ).all()
        claimed = conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.claimed_by.is_not(None))
        ).scalar()
    assert claimed == 0, "every outcome clears its claim"
    return dict(rows)


def test_two_senders_deliver_each_outbox_row_once(
    deployment, catalog, activate, smtp_sink, run_cli, inbox_db
) -> None:
    addresses = queue_digests(run_cli, activate, 40)
    smtp_sink.barrier = 2
    senders = [
        deployment.start(i, "digest", "run", "--at", AT, "--no-compose", "--json") for i in (0, 1)
    ]
    reports = [finish(p) for p in senders]
    assert all(r["sent"] > 0 for r in reports), reports  # both sent, at the same time
    assert sum(r["sent"] for r in reports) == 40
    assert_each_once(smtp_sink, addresses)
    assert outbox_states(inbox_db) == {"sent": 40}


def test_two_digest_runs_at_once_send_one_digest_per_subscriber(
    deployment, catalog, activate, smtp_sink, inbox_db
) -> None:
    addresses = [f"twin{i}@example.org" for i in range(40)]
    for address in addresses:
        activate(address)
    smtp_sink.barrier = 2
    runs = [deployment.start(i, "digest", "run", "--at", AT, "--json") for i in (0, 1)]
    reports = [finish(p) for p in runs]
    # One run composed everything while the other waited; then both delivered.
    assert sorted(r["composed"] for r in reports) == [0, 40]
    assert all(r["sent"] > 0 for r in reports), reports
    assert sum(r["sent"] for r in reports) == 40
    assert_each_once(smtp_sink, addresses)
    with inbox_db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(digests)).scalar() == 40
    assert outbox_states(inbox_db) == {"sent": 40}


def test_a_killed_sender_is_taken_over_and_nothing_is_sent_twice(
    deployment, catalog, activate, smtp_sink, run_cli, inbox_db
) -> None:
    addresses = queue_digests(run_cli, activate, 3)
    smtp_sink.hold_first = True  # the first message is never accepted
    first = deployment.start(0, "digest", "run", "--at", AT, "--no-compose")
    try:
        assert smtp_sink.holding.wait(120), "the first sender never reached DATA"
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    # Its claim runs for 300 s (the default lease), but its holder is gone: the
    # next sender takes the message over at once.
    report = finish(deployment.start(1, "digest", "run", "--at", AT, "--no-compose", "--json"))
    assert report["sent"] == 3 and report["resent"] == 1
    assert_each_once(smtp_sink, addresses)
    assert outbox_states(inbox_db) == {"sent": 3}
    with inbox_db.connect() as conn:
        notes = conn.execute(select(outbox.c.last_error).where(outbox.c.kind == "digest")).all()
    assert sum("stopped mid-send" in (n[0] or "") for n in notes) == 1


def test_a_hung_sender_keeps_its_claim_until_the_lease_ends(
    deployment, catalog, activate, smtp_sink, run_cli, inbox_db
) -> None:
    env = {"PAPERWIRE_OUTBOX_LEASE": "20", "PAPERWIRE_SMTP_TIMEOUT": "1"}
    addresses = queue_digests(run_cli, activate, 2)
    smtp_sink.hold_first = True
    hung = deployment.start(0, "digest", "run", "--at", AT, "--no-compose", **env)
    try:
        assert smtp_sink.holding.wait(120), "the first sender never reached DATA"
        os.kill(hung.pid, signal.SIGSTOP)  # alive (its locks held), but doing nothing
        args = ("digest", "run", "--at", AT, "--no-compose", "--json")
        before = finish(deployment.start(1, *args, **env))
        assert before["sent"] == 0  # it claimed both; its claims are respected
        with inbox_db.connect() as conn:
            until = conn.execute(
                select(func.max(outbox.c.claimed_until)).where(outbox.c.status == "pending")
            ).scalar()
        until = until if until.tzinfo else until.replace(tzinfo=UTC)
        time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1.0)
        after = finish(deployment.start(1, *args, **env))
        # Lease over: taken over; only the message it was sending is a resend.
        assert after["sent"] == 2 and after["resent"] == 1
    finally:
        os.kill(hung.pid, signal.SIGKILL)
        hung.wait()
    assert_each_once(smtp_sink, addresses)
    assert outbox_states(inbox_db) == {"sent": 2}


def test_a_kill_between_smtp_accept_and_commit_resends_under_the_same_message_id(
    deployment, catalog, activate, smtp_sink, run_cli, inbox_db
) -> None:
    """The one case SMTP cannot make exactly-once: documented, bounded, deduplicable."""
    (address,) = queue_digests(run_cli, activate, 1)
    holders = []

    def block_the_commit(_raw: bytes) -> None:
        # Lock the outbox row (the SQLite database) so the sender cannot record the send.
        conn = inbox_db.engine.connect()
        if inbox_db.is_sqlite:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(select(outbox.c.id).where(outbox.c.kind == "digest").with_for_update())
        holders.append(conn)

    smtp_sink.before_accept = block_the_commit
    sender = deployment.start(0, "digest", "run", "--at", AT, "--no-compose")
    try:
        smtp_sink.wait_for(1, timeout=120)  # accepted; the sender's commit is blocked
    finally:
        os.kill(sender.pid, signal.SIGKILL)
        sender.wait()
        for conn in holders:
            conn.rollback()
            conn.close()
    smtp_sink.before_accept = None
    report = finish(deployment.start(1, "digest", "run", "--at", AT, "--no-compose", "--json"))
    assert report["sent"] == 1 and report["resent"] == 1
    copies = smtp_sink.to(address, kind="digest")
    assert len(copies) == 2
    assert copies[0].message["Message-ID"] == copies[1].message["Message-ID"]
    with inbox_db.connect() as conn:
        row = conn.execute(select(outbox).where(outbox.c.kind == "digest")).one()
    assert row.status == "sent" and "stopped mid-send" in row.last_error
    # And no later run sends it a third time.
    assert finish(deployment.start(0, "digest", "run", "--at", AT, "--json"))["sent"] == 0
