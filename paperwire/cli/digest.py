"""Digest commands: run (cron), preview, status, bounce.

``paperwire digest run`` is meant for cron (every few minutes is fine: it only
composes what is due and only sends what is pending).  Exit status: 0 done,
2 bad usage or configuration, 75 (EX_TEMPFAIL) when the SMTP server could not
be used or another run held the lock, so cron wrappers can alert.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from ..inbox import outbox as box
from ..inbox import runner
from ..inbox import subscriptions as subs
from ..inbox.options import InboxOptions
from .common import database, print_json, settings

EX_TEMPFAIL = 75


def parse_at(value: str | None) -> datetime:
    """``--at``: an ISO 8601 time (``Z`` or an offset; naive means UTC); default now."""
    if not value:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint="--at") from exc
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


AT_HELP = "Act as of this time (ISO 8601, e.g. 2026-11-23T12:00:00Z); default: now."


@click.group("digest")
def digest_group() -> None:
    """Email digests: compose and send what is due, preview, status."""


@digest_group.command("run")
@click.option("--at", "at", metavar="TIME", help=AT_HELP)
@click.option(
    "--compose/--no-compose", default=True, show_default=True, help="Compose due digests."
)
@click.option("--send/--no-send", default=True, show_default=True, help="Deliver the outbox.")
@click.option(
    "--wait", default=600.0, show_default=True, help="Seconds to wait for a concurrent run."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def run_cmd(at: str | None, compose: bool, send: bool, wait: float, as_json: bool) -> None:
    """Compose every digest due at --at and send everything pending in the outbox.

    Safe to re-run at any time, also after a crash: a digest is composed once
    per subscription and period, and only unsent messages are sent.
    """
    now = parse_at(at)
    cfg = settings()
    try:
        InboxOptions.from_settings(cfg)
        report = runner.run(database(cfg), cfg, now, compose=compose, send=send, wait=wait)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        print_json(report.as_dict())
    else:
        click.echo(
            f"due {report.due}: {report.composed} composed, {report.empty} with nothing new; "
            f"sent {report.sent}, deferred {report.deferred}, failed {report.failed}, "
            f"paused {report.paused}, cancelled {report.cancelled}"
        )
    if report.locked:
        click.echo("another digest run holds the lock; nothing done", err=True)
        sys.exit(EX_TEMPFAIL)
    if report.unreachable:
        click.echo(f"delivery stopped: {report.unreachable}", err=True)
        sys.exit(EX_TEMPFAIL)


@digest_group.command("preview")
@click.argument("email")
@click.option("--at", "at", metavar="TIME", help=AT_HELP)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "html", "json"]),
    default="text",
    show_default=True,
)
def preview_cmd(email: str, at: str | None, fmt: str) -> None:
    """Show the next digest EMAIL would get (nothing is written or sent)."""
    now = parse_at(at)
    cfg = settings()
    db = database(cfg)
    try:
        address = subs.normalise_email(email)
    except subs.InvalidInput as exc:
        raise click.BadParameter(exc.message, param_hint="EMAIL") from exc
    sub = subs.find_by_email(db, address)
    if sub is None:
        raise click.ClickException(f"no subscription for {address}")
    result = runner.preview(db, cfg, now=now, subscription=sub)
    if fmt == "json":
        print_json(
            {
                "email": sub.email,
                "status": sub.status,
                "subject": result.subject,
                **result.content.as_dict(),
            }
        )
    elif fmt == "html":
        click.echo(result.html)
    else:
        if sub.status != "active":
            click.echo(f"(subscription is {sub.status}: nothing is sent until that changes)")
        click.echo(f"Subject: {result.subject}")
        click.echo(result.text if not result.content.empty else "(nothing new: no email)")


@digest_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_cmd(as_json: bool) -> None:
    """Subscriptions and outbox messages per state."""
    data = subs.status_counts(database())
    if as_json:
        print_json(data)
        return
    for group, counts in data.items():
        click.echo(f"{group}:")
        for key, n in sorted(counts.items()):
            click.echo(f"  {key:24} {n}")


@digest_group.command("bounce")
@click.argument("email")
@click.option("--reason", default="bounced", show_default=True, help="Recorded with the failure.")
def bounce_cmd(email: str, reason: str) -> None:
    """Record an asynchronous bounce (DSN) for EMAIL; repeated bounces pause it.

    For MTA pipes or bounce processors: a bounce counts like a permanent SMTP
    failure, and the address is paused after PAPERWIRE_MAX_FAILURES in a row.
    """
    cfg = settings()
    db = database(cfg)
    sub = subs.find_by_email(db, email)
    if sub is None:
        raise click.ClickException("no subscription for that address")
    paused = box.record_bounce(
        db, sub.id, datetime.now(UTC), reason, InboxOptions.from_settings(cfg)
    )
    click.echo("address paused" if paused else "bounce recorded")


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(digest_group)
