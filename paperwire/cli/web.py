"""CLI commands of the web domain: ``paperwire serve`` and ``paperwire demo``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import click

from ..config import Settings
from .common import database, settings

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SAMPLE = SAMPLES / "hf-daily-papers.json.gz"
SAMPLE_EMBEDDINGS = SAMPLES / "hf-daily-papers.embeddings.npz"

log = logging.getLogger("paperwire.demo")


def _host_port(func: Callable[..., None]) -> Callable[..., None]:
    func = click.option(
        "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port."
    )(func)
    return click.option(
        "--host",
        default="127.0.0.1",
        show_default=True,
        help="Interface to listen on (0.0.0.0: every interface; put a proxy in front).",
    )(func)


@click.command("serve")
@_host_port
@click.option("--reload", is_flag=True, help="Restart when the code changes (development).")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes (about one per core). Each keeps its own page cache; "
    "a change committed by any of them, or by the CLI, clears all of them.",
)
@click.option(
    "--access-log/--no-access-log", default=True, show_default=True, help="Log every request."
)
@click.option(
    "--jobs/--no-jobs",
    default=True,
    show_default=True,
    help="Run the background jobs (harvests, embeddings, digests) in this server; "
    "--no-jobs leaves them to `paperwire worker` or cron.",
)
def serve_cmd(
    host: str, port: int, reload: bool, workers: int, access_log: bool, jobs: bool
) -> None:
    """Serve the web site, JSON API and feeds, and keep the catalog fresh.

    \b
    Several instances may serve one site: on one SQLite database (one machine),
    or on one PostgreSQL database (any number of machines, each with its own
    PAPERWIRE_HOME and the same PAPERWIRE_SECRET_KEY) behind a reverse proxy.
    With --workers N (or several servers on one database) only one process
    runs the jobs at a time: the one holding the scheduler lock.
    """
    import os

    import uvicorn

    from ..web.app import SERVE_JOBS_ENV

    # Fail early on a bad configuration, and migrate once, before the workers start
    # (they would otherwise all try to migrate a new database at the same moment).
    database(settings())
    os.environ[SERVE_JOBS_ENV] = "1" if jobs else "0"  # read by each worker's create_app
    uvicorn.run(
        "paperwire.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        workers=None if reload else workers,
        proxy_headers=True,
        access_log=access_log,
        log_level="info",
    )


def prepare_demo(echo: bool = True) -> int:
    """Load the bundled sample into an empty catalog and build search data; returns papers.

    Idempotent: a catalog that has papers keeps them (only its indexes catch up).
    """
    from .. import pipeline
    from ..catalog.importer import import_files
    from ..catalog.store import count_papers

    cfg = settings()
    db = database(cfg)
    if count_papers(db):
        pipeline.catalog_changed(cfg, db, [])  # catch the search indexes up, if they lag
        return count_papers(db)
    started = time.perf_counter()
    report = import_files(db, [SAMPLE], progress=False)
    from ..search import embeddings

    if SAMPLE_EMBEDDINGS.exists():
        embeddings.seed_embeddings(db, SAMPLE_EMBEDDINGS)
    pipeline.catalog_changed(cfg, db, report.changed_ids)
    if echo:
        click.echo(
            f"Loaded the bundled sample: {report.stats.inserted} papers from Hugging Face "
            f"Daily Papers ({time.perf_counter() - started:.1f}s)."
        )
    return count_papers(db)


def _warm_search(cfg: Settings) -> None:
    """Load the query encoder before the first visitor searches (it takes seconds once)."""
    try:
        from ..search.backend import get_backend

        get_backend(cfg).search("warm up", limit=1)
    except Exception:  # search is optional: the site works without it
        log.debug("search warm-up failed", exc_info=True)


@click.command("demo")
@_host_port
def demo_cmd(host: str, port: int) -> None:
    """Serve a demo: imports the bundled sample into an empty catalog first.

    \b
    The sample is 753 papers from Hugging Face Daily Papers (Nov 2023 to Apr 2024)
    with their real upvotes, so the home page shows 5 April 2024, its latest day.
    """
    import uvicorn

    from ..web.app import create_app

    papers = prepare_demo()
    cfg = settings()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    click.echo(f"Paperwire demo: {papers} papers in {cfg.home}. Open http://{shown}:{port}/")
    threading.Thread(target=_warm_search, args=(cfg,), name="warm-search", daemon=True).start()
    uvicorn.run(create_app(cfg), host=host, port=port, log_level="info", proxy_headers=True)


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(serve_cmd)
    cli.add_command(demo_cmd)
