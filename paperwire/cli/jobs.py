"""Jobs commands: ``paperwire jobs run`` (cron), ``jobs status``, and ``paperwire worker``."""

from __future__ import annotations

import signal
import sys
from datetime import UTC, datetime
from types import FrameType

import click

from ..jobs import runs
from ..jobs.base import clock_at, system_clock
from ..jobs.scheduler import BY_NAME, RAN, Scheduler, describe, run_pass
from ..jobs.status import job_status
from .common import database, print_json, settings
from .digest import AT_HELP, parse_at

EXIT_FAILED = 1


@click.group("jobs")
def jobs_group() -> None:
    """Background jobs that keep the catalog fresh by themselves.

    \b
    arxiv    harvest new papers of PAPERWIRE_ARXIV_CATEGORIES over OAI-PMH
    hf       Hugging Face Daily Papers of the last days: new papers, upvotes, code
    embed    vectors for pending papers (after every harvest that added some)
    digests  compose due email digests and deliver the outbox
    Each is due every PAPERWIRE_JOBS_INTERVAL seconds (failures back off).
    `paperwire serve` runs them in-process unless --no-jobs; `paperwire worker`
    runs them alone; `paperwire jobs run` from cron runs what is due, once.
    """


def _log(message: str) -> None:
    click.echo(message, err=True)


@jobs_group.command("run")
@click.option("--at", "at", metavar="TIME", help=AT_HELP)
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice(list(BY_NAME)),
    help="Run only this job (repeat for more).",
)
@click.option("--force", is_flag=True, help="Run the selected jobs even if they are not due.")
@click.option("--json", "as_json", is_flag=True, help="Print what each job did as JSON.")
def run_cmd(at: str | None, only: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Run every job that is due, once, and exit (for cron: */5 * * * *).

    \b
    A job whose lock another process holds (a running `serve` or `worker`) is
    left to it.  Exit status: 0 every job that ran succeeded (or nothing was
    due), 1 a job failed (its error is recorded; `paperwire jobs status`).
    """
    cfg = settings()
    db = database(cfg)
    clock = clock_at(parse_at(at)) if at else system_clock
    try:
        outcomes = run_pass(
            cfg, db, clock=clock, only=only or None, force=force, log_line=None if as_json else _log
        )
    except KeyboardInterrupt:
        click.echo("interrupted; the next run continues where this one stopped", err=True)
        raise click.Abort() from None
    if as_json:
        print_json([o.as_dict() for o in outcomes])
    elif not any(o.action == RAN for o in outcomes):
        click.echo("nothing due (`paperwire jobs status` says when; --force runs anyway)")
    else:
        for outcome in outcomes:
            if outcome.action != RAN:
                click.echo(describe(outcome))
    if any(o.status == runs.FAILED for o in outcomes):
        sys.exit(EXIT_FAILED)


def _when(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


@jobs_group.command("status")
@click.option("--at", "at", metavar="TIME", help=AT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_cmd(at: str | None, as_json: bool) -> None:
    """Each job's last run and result, last success, when it is next due, how far behind."""
    cfg = settings()
    now = parse_at(at)
    jobs = job_status(cfg, database(cfg), now)
    if as_json:
        print_json({"now": now.isoformat(), "jobs": jobs})
        return
    click.echo(
        f"{'job':8} {'last run (UTC)':19} {'result':11} {'took':>5}  "
        f"{'last success':>12}  {'next due (UTC)':19} {'behind':>6}"
    )
    for job in jobs:
        last = job["last_run"] or {}
        result = "running" if job["running"] else (last.get("status") or "never")
        success = "never"
        if job["last_success"]:
            success = _duration(job["last_success_age_seconds"]) + " ago"
        click.echo(
            f"{job['job']:8} {_when(last.get('started_at')):19} {result:11} "
            f"{_duration(last.get('seconds')):>5}  {success:>12}  "
            f"{_when(job['next_due']):19} {_duration(job['behind_seconds']):>6}"
        )
        if last.get("error") and last.get("status") != runs.OK:
            click.echo(f"         {last['status']}: {last['error']}")


@click.command("worker")
def worker_cmd() -> None:
    """Run the background jobs alone, for ever (beside web instances started with --no-jobs).

    \b
    Looks for due work every PAPERWIRE_JOBS_INTERVAL seconds.  Any number of
    workers (and `serve` processes) may run against one database: one holds
    the scheduler lock and schedules, the others wait to take over.  Stops
    cleanly on SIGTERM or Ctrl-C (an interrupted job resumes on the next run).
    """
    cfg = settings()
    db = database(cfg)

    def log_line(message: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{stamp} {message}", err=True)

    scheduler = Scheduler(cfg, db, log_line=log_line)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        scheduler.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log_line(f"paperwire worker: jobs every {cfg.jobs_interval:g}s ({', '.join(BY_NAME)})")
    scheduler.run_forever()
    log_line("paperwire worker: stopped")


def register(cli: click.Group) -> None:
    cli.add_command(jobs_group)
    cli.add_command(worker_cmd)
