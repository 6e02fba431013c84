"""Sync commands: pull new papers from live arXiv services, resumably."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import date

import click
from tqdm import tqdm

from .. import pipeline
from ..catalog.sync import SyncReport, clear_state, load_state
from ..config import Settings
from ..db import Database
from ..sources.arxiv_api import PoliteClient
from ..sources.base import SourceError, SourceUnavailable, SyncPage
from .catalog import EXIT_SKIPPED, echo_embedded
from .common import database, print_json, settings


@click.group("sync")
def sync_group() -> None:
    """Pull new papers from live arXiv services into the catalog.

    \b
    Each sync remembers its position after every page it writes (in the
    database), so running the same command again after a failure, Ctrl-C or
    --max continues where it stopped; a finished window is not fetched again.
    Requests are spaced by PAPERWIRE_ARXIV_DELAY seconds (default 3, as arXiv
    asks); PAPERWIRE_ARXIV_API_URL and PAPERWIRE_OAI_PMH_URL choose the servers.
    Exit status: 0 done, 1 some records skipped, 3 the service failed (the
    pages before the failure are kept; run the command again to resume).
    """


EXIT_SOURCE_FAILED = 3


class SyncFailed(click.ClickException):
    """A live source failed mid-sync: one line on stderr, exit status 3."""

    exit_code = EXIT_SOURCE_FAILED


def _day_option(_ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"expected YYYY-MM-DD, got {value!r}", param=param) from exc


def _run_sync(
    cfg: Settings,
    db: Database,
    label: str,
    key: str,
    pages: Iterable[SyncPage],
    client: PoliteClient,
    *,
    initial: int,
    progress: bool | None,
    index: bool,
    embed: bool,
    as_json: bool,
) -> None:
    """Drive ``pages`` into the catalog with a progress bar, summary and clean errors."""
    report = SyncReport(key=key)
    bar = tqdm(
        initial=initial,
        unit="paper",
        desc=label,
        disable=(not progress) if progress is not None else None,
        file=sys.stderr,
    )
    client.log = lambda message: tqdm.write(message, file=sys.stderr)

    def advance(page: SyncPage, rep: SyncReport) -> None:
        if page.total is not None and bar.total != page.total:
            bar.total = page.total
        bar.update(len(page.items))
        bar.set_postfix(new=rep.stats.inserted, updated=rep.stats.updated, refresh=False)

    failure: Exception | None = None
    interrupted = False
    embedded = None
    try:
        embedded = pipeline.sync(
            cfg, db, key, pages, report, on_page=advance, index=index, embed_new=embed and index
        )
    except (SourceUnavailable, SourceError) as exc:
        failure = exc
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        client.close()
    echo_embedded(embedded)
    if interrupted:
        click.echo(f"interrupted after {report.pages} page(s); run again to resume", err=True)
        raise click.Abort()
    summary = report.as_dict()
    summary["requests"] = client.requests
    if embedded is not None:
        summary["embedded"] = embedded.embedded
    if failure is not None:
        summary["error"] = str(failure)
    if as_json:
        print_json(summary)
    elif report.pages or failure is None:
        state = "complete" if report.complete else "stopped early; run again to continue"
        click.echo(
            f"{label}: {summary['records']} papers: {summary['inserted']} new, "
            f"{summary['updated']} updated, {summary['unchanged']} unchanged, "
            f"{summary['skipped']} skipped; {report.pages} page(s), {state} "
            f"({summary['seconds']:.1f}s)"
        )
    if failure is not None:
        kept = f" ({report.pages} page(s) kept; run the same command again to resume)"
        raise SyncFailed(f"{failure}{kept if report.pages else ''}")
    if report.skipped:
        click.echo(f"{report.skipped} record(s) skipped; see messages above.", err=True)
        sys.exit(EXIT_SKIPPED)


def _already_done(label: str, key: str, as_json: bool) -> None:
    if as_json:
        print_json({"key": key, "records": 0, "pages": 0, "complete": True, "requests": 0})
    else:
        click.echo(f"{label}: already complete, nothing to fetch (--restart fetches it again)")


_progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when stderr is a terminal).",
)
_index_option = click.option(
    "--index/--no-index", default=True, show_default=True, help="Update search indexes after."
)
_embed_option = click.option(
    "--embed/--no-embed",
    default=True,
    show_default=True,
    help="Embed the new papers after syncing (similar papers, meaning-based search).",
)
_restart_option = click.option(
    "--restart", is_flag=True, help="Forget the stored position and start from the beginning."
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")


@sync_group.command("arxiv")
@click.option(
    "--category",
    "categories",
    multiple=True,
    required=True,
    metavar="CAT",
    help="arXiv category such as cs.LG; repeat for more (a paper in any of them counts).",
)
@click.option(
    "--since",
    required=True,
    metavar="DATE",
    callback=_day_option,
    help="First submission day, YYYY-MM-DD (UTC).",
)
@click.option(
    "--until",
    metavar="DATE",
    callback=_day_option,
    help="Last submission day, inclusive (default: today, UTC).",
)
@click.option(
    "--max",
    "max_records",
    type=click.IntRange(min=1),
    help="Stop after N papers; the next run continues from there.",
)
@click.option(
    "--page-size",
    default=100,
    show_default=True,
    type=click.IntRange(1, 2000),
    help="Papers per request.",
)
@_restart_option
@_progress_option
@_index_option
@_embed_option
@_json_option
def sync_arxiv_cmd(
    categories: tuple[str, ...],
    since: date,
    until: date | None,
    max_records: int | None,
    page_size: int,
    restart: bool,
    progress: bool | None,
    index: bool,
    embed: bool,
    as_json: bool,
) -> None:
    """Fetch papers submitted in a window of days from the arXiv API.

    \b
    Example: paperwire sync arxiv --category cs.LG --category cs.CL --since 2026-11-01
    Papers come oldest first, one page per request; each page is written and
    its position stored before the next, so a re-run resumes.  A window that
    ends before today is remembered as finished once read to its end.
    """
    from ..sources import arxiv_api

    cfg = settings()
    today = arxiv_api.now_day()
    try:
        query = arxiv_api.ApiQuery(tuple(categories), since, until or today)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    db = database(cfg)
    label = f"arXiv {','.join(query.categories)} {query.since}..{query.until}"
    if restart:
        clear_state(db, query.state_key)
    state = load_state(db, query.state_key)
    if arxiv_api.is_finished(state, query, today):
        _already_done(label, query.state_key, as_json)
        return
    client = arxiv_api.PoliteClient(cfg)
    pages = arxiv_api.sync_pages(client, query, state, page_size=page_size, max_records=max_records)
    _run_sync(
        cfg,
        db,
        label,
        query.state_key,
        pages,
        client,
        initial=int((state or {}).get("start", 0)),
        progress=progress,
        index=index,
        embed=embed,
        as_json=as_json,
    )


@sync_group.command("oai")
@click.option(
    "--set",
    "set_spec",
    metavar="SET",
    help="OAI set: a group (cs, physics), archive (physics:hep-th) or category (cs:cs:LG).",
)
@click.option(
    "--from",
    "from_day",
    metavar="DATE",
    callback=_day_option,
    help="Records changed on or after this day, YYYY-MM-DD (datestamps, not submission days).",
)
@click.option(
    "--until", metavar="DATE", callback=_day_option, help="Records changed on or before this day."
)
@click.option(
    "--metadata-prefix",
    type=click.Choice(["arXivRaw", "arXiv"]),
    default="arXivRaw",
    show_default=True,
    help="arXivRaw carries version numbers, so newer versions update the catalog; "
    "arXiv has structured author names but no version numbers.",
)
@click.option(
    "--max-pages", type=click.IntRange(min=1), help="Stop after N pages; a re-run continues."
)
@_restart_option
@_progress_option
@_index_option
@_embed_option
@_json_option
def sync_oai_cmd(
    set_spec: str | None,
    from_day: date | None,
    until: date | None,
    metadata_prefix: str,
    max_pages: int | None,
    restart: bool,
    progress: bool | None,
    index: bool,
    embed: bool,
    as_json: bool,
) -> None:
    """Harvest arXiv metadata in bulk over OAI-PMH (ListRecords).

    \b
    Example: paperwire sync oai --set cs --from 2026-11-01
    Follows resumption tokens page by page, storing each token once its page
    is written.  Without --until, running the same command again later
    harvests what changed since the last complete harvest.  Deleted records
    are skipped.
    """
    from itertools import islice

    from ..sources import arxiv_api, oai_pmh

    cfg = settings()
    try:
        harvest = oai_pmh.Harvest(metadata_prefix, set_spec, from_day, until)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    db = database(cfg)
    label = f"OAI-PMH {metadata_prefix} {set_spec or 'all'}"
    if restart:
        clear_state(db, harvest.state_key)
    state = load_state(db, harvest.state_key)
    if oai_pmh.is_finished(state, harvest):
        _already_done(label, harvest.state_key, as_json)
        return
    client = arxiv_api.PoliteClient(cfg)
    pages: Iterable[SyncPage] = oai_pmh.harvest_pages(client, harvest, state)
    if max_pages:
        pages = islice(pages, max_pages)
    _run_sync(
        cfg,
        db,
        label,
        harvest.state_key,
        pages,
        client,
        initial=0,
        progress=progress,
        index=index,
        embed=embed,
        as_json=as_json,
    )


def register(cli: click.Group) -> None:
    cli.add_command(sync_group)
