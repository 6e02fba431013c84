"""Catalog commands: import files, sync from arXiv, show stats."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import pipeline
from ..catalog.ids import parse_arxiv_id
from ..catalog.stats import catalog_stats
from ..catalog.store import get_feed_submission, get_hf_listing, get_paper, list_versions
from ..sources import FILE_FORMATS
from .common import database, print_json, settings

EXIT_SKIPPED = 1


def echo_embedded(embedded: pipeline.Embedded | None) -> None:
    """One line on stderr about the embedding step of an import or sync, if it ran."""
    if embedded is None:
        return
    if embedded.error:
        click.echo(
            f"{embedded.error}; the papers are searchable by keywords, "
            "`paperwire embed` (or the embed job) embeds them later",
            err=True,
        )
    elif embedded.embedded:
        click.echo(f"embedded {embedded.embedded} papers ({embedded.seconds:.1f}s)", err=True)


@click.command("import")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(FILE_FORMATS)),
    help="Skip detection and read every file as this format.",
)
@click.option("--batch-size", default=2000, show_default=True, help="Papers per transaction.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when stderr is a terminal).",
)
@click.option(
    "--index/--no-index",
    default=True,
    show_default=True,
    help="Update search indexes after importing.",
)
@click.option(
    "--embed/--no-embed",
    default=False,
    show_default=True,
    help="Also embed the new papers now (a large import takes long: by default "
    "`paperwire embed` or the embed job does it).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_cmd(
    paths: tuple[Path, ...],
    fmt: str | None,
    batch_size: int,
    progress: bool | None,
    index: bool,
    embed: bool,
    as_json: bool,
) -> None:
    """Import papers from files (gzip or plain), detecting each file's format.

    \b
    Formats: Paperwire/arXiv JSON-lines (docs/formats.md), the Kaggle
    arxiv-metadata-oai-snapshot, Hugging Face /api/daily_papers responses.
    Re-importing is safe: papers are upserted by arXiv id.
    Exit status: 0 all records imported, 1 some records skipped (listed on
    stderr with file and line), 2 bad usage or unreadable file.
    """
    cfg = settings()
    db = database(cfg)
    try:
        report, embedded = pipeline.import_files(
            cfg,
            db,
            paths,
            fmt=fmt,
            batch_size=batch_size,
            progress=progress,
            index=index,
            embed_new=embed and index,
        )
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    echo_embedded(embedded)
    summary = report.as_dict()
    if embedded is not None:
        summary["embedded"] = embedded.embedded
    if as_json:
        print_json(summary)
    else:
        click.echo(
            f"{summary['records']} records: {summary['inserted']} new, {summary['updated']} "
            f"updated, {summary['unchanged']} unchanged, {summary['skipped']} skipped "
            f"({summary['seconds']:.1f}s)"
        )
    if report.skipped:
        click.echo(f"{report.skipped} record(s) skipped; see messages above.", err=True)
        sys.exit(EXIT_SKIPPED)


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (papers, categories, days...).")
def stats_cmd(as_json: bool) -> None:
    """Show how many papers the catalog holds, per category and per day."""
    data = catalog_stats(database())
    if as_json:
        print_json(data)
        return
    click.echo(
        f"papers: {data['papers']}  (listed {data['first_listed']} .. {data['last_listed']})"
    )
    click.echo(
        f"with code: {data['with_code']}  upvoted: {data['upvoted']}  versions: {data['versions']}"
    )
    click.echo("top primary categories:")
    for cat, n in list(data["primary_categories"].items())[:10]:
        click.echo(f"  {cat or '(none)':12} {n}")


@click.command("show")
@click.argument("paper")
@click.option("--json", "as_json", is_flag=True, help="Print the full catalog record as JSON.")
def show_cmd(paper: str, as_json: bool) -> None:
    """Show one paper by arXiv id or URL (e.g. 2505.22617 or https://arxiv.org/abs/...)."""
    parsed = parse_arxiv_id(paper)
    if parsed is None:
        raise click.BadParameter(f"not an arXiv id or URL: {paper!r}", param_hint="PAPER")
    db = database()
    row = get_paper(db, parsed[0])
    if row is None:
        raise click.ClickException(f"{parsed[0]} is not in the catalog")
    row["versions"] = list_versions(db, parsed[0])
    row["feed_submission"] = get_feed_submission(db, parsed[0])
    row["hf_listing"] = get_hf_listing(db, parsed[0])
    if as_json:
        print_json(row)
        return
    click.echo(f"{row['id']}v{row['version'] or '?'}  {row['title']}")
    click.echo(f"  {', '.join(row['authors'])}")
    click.echo(
        f"  {' '.join(row['categories'])}  listed {row['listed_on']}  upvotes {row['upvotes']}"
    )
    for link in row["code_links"]:
        click.echo(f"  code: {link}")
    click.echo("")
    click.echo(click.wrap_text(row["abstract"], width=100, preserve_paragraphs=True))


def register(cli: click.Group) -> None:
    cli.add_command(import_cmd)
    cli.add_command(stats_cmd)
    cli.add_command(show_cmd)
