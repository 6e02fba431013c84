"""Delivery semantics through the CLI and a real SMTP server: once per period,
nothing when nothing is new, retries on 4xx, failures and pausing on 5xx, time zones."""

from __future__ import annotations

from sqlalchemy import select

from paperwire.db.schema.inbox import digests, outbox, subscriptions


def run(run_cli, at: str, *extra: str):
    result = run_cli("digest", "run", "--at", at, "--json", *extra)
    assert result.returncode == 0, result.stderr + result.stdout
    return result.json()


def test_nothing_new_sends_nothing_and_is_recorded(catalog, activate, smtp_sink, run_cli, inbox_db):
    sid = activate("quiet@example.org", topics=["quantum chromodynamics"])
    report = run(run_cli, "2026-06-16T12:00:00Z")
    assert report["empty"] == 1 and report["composed"] == 0 and report["sent"] == 0
    assert smtp_sink.to("quiet@example.org", kind="digest") == []
    with inbox_db.connect() as conn:
        rows = conn.execute(select(digests).where(digests.c.subscription_id == sid)).all()
    assert [(r.period, r.status) for r in rows] == [("daily:2026-06-16", "empty")]
    # Recorded: the next run neither recomposes nor retries it.
    again = run(run_cli, "2026-06-16T18:00:00Z")
    assert again["due"] == 0 and again["empty"] == 0


def test_weekend_days_without_listings_send_nothing(catalog, activate, smtp_sink, run_cli):
    activate("daily@example.org")
    sent = []
    for day in ("13", "14", "15", "16"):  # Sat (Fri listing), Sun, Mon (weekend), Tue (Mon)
        report = run(run_cli, f"2026-06-{day}T10:00:00Z")
        sent.append((report["composed"], report["empty"]))
    assert sent == [(1, 0), (0, 1), (0, 1), (1, 0)]
    assert len(smtp_sink.to("daily@example.org", kind="digest")) == 2


def test_weekly_digest_goes_out_on_monday_covering_seven_days(
    catalog, activate, smtp_sink, run_cli
):
    activate("weekly@example.org", frequency="weekly")
    assert run(run_cli, "2026-06-20T12:00:00Z")["due"] == 1  # Sat: the period of Mon 15 June
    assert run(run_cli, "2026-06-21T12:00:00Z")["due"] == 0  # Sun: same period, done
    assert run(run_cli, "2026-06-22T12:00:00Z")["composed"] == 1  # Mon 22: 15..21 June
    mails = smtp_sink.to("weekly@example.org", kind="digest")
    assert [m.message["X-Paperwire-Period"] for m in mails] == [
        "weekly:2026-06-15",
        "weekly:2026-06-22",
    ]
    text = mails[1].message.get_body(("plain",)).get_content()
    for title in ("Self-supervised video diffusion", "Sparse attention kernels"):
        assert title in text  # listed 15 and 19 June
    assert "Efficient diffusion samplers" not in text  # 12 June: the week before


def test_time_zones_decide_the_day(catalog, activate, smtp_sink, run_cli):
    # 2026-06-15T20:00Z is already Tuesday 08:00 in Auckland, still Monday in Los Angeles.
    activate("nz@example.org", timezone="Pacific/Auckland")
    activate("la@example.org", timezone="America/Los_Angeles")
    activate("utc@example.org")
    run(run_cli, "2026-06-15T20:00:00Z")
    nz = smtp_sink.to("nz@example.org", kind="digest")
    assert [m.message["X-Paperwire-Period"] for m in nz] == ["daily:2026-06-16"]
    assert "Self-supervised video diffusion" in nz[0].message.get_body(("plain",)).get_content()
    assert smtp_sink.to("la@example.org") == []  # Monday in LA: Sunday had no listings
    assert smtp_sink.to("utc@example.org") == []  # Monday 20:00 UTC, same
    # Before 07:00 local nothing is due yet: 2026-06-16T13:00Z is 06:00 in Los Angeles.
    run(run_cli, "2026-06-16T13:00:00Z")
    assert smtp_sink.to("la@example.org") == []
    assert len(smtp_sink.to("utc@example.org", kind="digest")) == 1
    run(run_cli, "2026-06-16T14:30:00Z")
    (la,) = smtp_sink.to("la@example.org", kind="digest")
    assert la.message["X-Paperwire-Period"] == "daily:2026-06-16"


def test_temporary_failure_is_retried_with_backoff(catalog, activate, smtp_sink, run_cli, inbox_db):
    activate("flaky@example.org")
    smtp_sink.rcpt_reply = lambda rcpt, n: "451 4.3.0 Try again later" if n == 1 else None
    first = run(run_cli, "2026-06-16T12:00:00Z")
    assert first["composed"] == 1 and first["deferred"] == 1 and first["sent"] == 0
    with inbox_db.connect() as conn:
        row = conn.execute(select(outbox).where(outbox.c.kind == "digest")).one()
    assert row.status == "pending" and row.attempts == 1 and "451" in row.last_error
    # Not before its next attempt time (5 minutes later by default)...
    assert run(run_cli, "2026-06-16T12:01:00Z")["sent"] == 0
    # ...then delivered once.
    assert run(run_cli, "2026-06-16T12:06:00Z")["sent"] == 1
    assert run(run_cli, "2026-06-16T13:00:00Z")["sent"] == 0
    assert len(smtp_sink.to("flaky@example.org", kind="digest")) == 1
    with inbox_db.connect() as conn:
        row = conn.execute(select(outbox).where(outbox.c.kind == "digest")).one()
    assert row.status == "sent" and row.attempts == 2


def test_permanent_failures_are_recorded_and_pause_the_address(
    catalog, activate, smtp_sink, run_cli, inbox_db
):
    activate("gone@example.org")
    activate("fine@example.org")
    smtp_sink.rcpt_reply = lambda rcpt, n: (
        "550 5.1.1 No such user" if rcpt == "gone@example.org" else None
    )
    reports = [run(run_cli, f"2026-06-{d}T12:00:00Z") for d in ("16", "17", "18", "19")]
    assert [r["failed"] for r in reports] == [1, 1, 1, 0]
    assert [r["paused"] for r in reports] == [0, 0, 1, 0]
    assert reports[3]["due"] == 1  # only fine@ is still active
    with inbox_db.connect() as conn:
        sub = conn.execute(
            select(subscriptions).where(subscriptions.c.email == "gone@example.org")
        ).one()
        failed = conn.execute(
            select(outbox.c.last_error).where(
                outbox.c.recipient == "gone@example.org", outbox.c.status == "failed"
            )
        ).all()
    assert sub.status == "paused" and sub.failure_count == 3
    assert len(failed) == 3 and all("550" in r.last_error for r in failed)
    assert len(smtp_sink.to("fine@example.org", kind="digest")) == 4
    status = run_cli("digest", "status", "--json").json()
    assert status["subscriptions"] == {"active": 1, "paused": 1}


def test_unreachable_smtp_server_keeps_messages_for_later(catalog, activate, run_cli, smtp_sink):
    from .conftest import free_port

    activate("later@example.org")
    result = run_cli(
        "digest",
        "run",
        "--at",
        "2026-06-16T12:00:00Z",
        env={"PAPERWIRE_SMTP_PORT": str(free_port())},
    )
    assert result.returncode == 75 and "cannot connect" in result.stderr
    assert run(run_cli, "2026-06-16T12:00:00Z")["sent"] == 1
    assert len(smtp_sink.to("later@example.org", kind="digest")) == 1


def test_preview_cli_shows_the_next_digest_without_sending(catalog, activate, smtp_sink, run_cli):
    activate("peek@example.org", topics=["diffusion"], trending=False)
    result = run_cli("digest", "preview", "peek@example.org", "--at", "2026-06-16T12:00:00Z")
    assert result.returncode == 0, result.stderr
    assert "Self-supervised video diffusion" in result.stdout
    assert "Speculative decoding" not in result.stdout
    data = run_cli(
        "digest", "preview", "peek@example.org", "--at", "2026-06-16T12:00:00Z", "--format", "json"
    ).json()
    assert data["period"] == "daily:2026-06-16" and data["count"] == 1
    run(run_cli, "2026-06-16T12:00:00Z")
    # Once today's digest went out, the preview shows the next period (16 June's listing).
    data = run_cli(
        "digest", "preview", "peek@example.org", "--at", "2026-06-16T12:00:00Z", "--format", "json"
    ).json()
    assert data["period"] == "daily:2026-06-17" and data["count"] == 0
    assert len(smtp_sink.to("peek@example.org")) == 1
    assert run_cli("digest", "preview", "nobody@example.org").returncode != 0
