"""CLI commands of the search domain (registered by paperwire.cli)."""

from __future__ import annotations

import sys
from datetime import date
from typing import Any

import click

from .common import database, print_json, settings

# -- search, similar, reindex ---------------------------------------------------


def _paper_rows(ids: list[str]) -> dict[str, dict[str, Any]]:
    """Catalog rows for the hits (the search service returns ids and scores only)."""
    from ..catalog.store import get_paper

    db = database()
    rows = {}
    for pid in ids:
        row = get_paper(db, pid)
        if row is not None:
            rows[pid] = row
    return rows


def _hit_items(hits: list[Any]) -> list[dict[str, Any]]:
    rows = _paper_rows([h.id for h in hits])
    items = []
    for h in hits:
        row = rows.get(h.id, {})
        day = row.get("listed_on") or row.get("submitted")
        items.append(
            {
                "id": h.id,
                "title": row.get("title", ""),
                "score": round(float(h.score), 6),
                "authors": row.get("authors") or [],
                "date": day.isoformat() if isinstance(day, date) else day,
                "upvotes": row.get("upvotes", 0),
                "categories": row.get("categories") or [],
            }
        )
    return items


def _print_items(items: list[dict[str, Any]]) -> None:
    for i, item in enumerate(items, start=1):
        authors = item["authors"]
        who = ", ".join(authors[:3]) + (" et al." if len(authors) > 3 else "")
        click.echo(f"{i:3}. {item['title']}")
        click.echo(
            f"     {item['id']}  {item['date'] or '':10}  ▲{item['upvotes']}  "
            f"score {item['score']:.4f}  {who}"
        )


@click.command("search")
@click.argument("query", required=False, default="")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(0, 1000))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0, 1000))
@click.option("--category", "categories", multiple=True, help="Only these categories (any).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Listed on or after (YYYY-MM-DD).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Listed on or before.")
@click.option("--min-upvotes", type=int, help="At least this many upvotes.")
@click.option("--has-code", is_flag=True, help="Only papers with a code link.")
@click.option(
    "--sort",
    type=click.Choice(["relevance", "newest", "upvotes"]),
    default="relevance",
    show_default=True,
)
def search_cmd(
    query: str,
    as_json: bool,
    limit: int,
    offset: int,
    categories: tuple[str, ...],
    since: Any,
    until: Any,
    min_upvotes: int | None,
    has_code: bool,
    sort: str,
) -> None:
    """Search papers: words, "phrases", author:NAME, cat:cs.CL, -exclude, like:ID, or an id/URL.

    \b
    Papers are listed only when they are likely to be relevant (by their words
    or their meaning), so a query nothing in the catalog is about finds nothing.
    A query without words (filters, author:, cat: alone) lists every match,
    newest first.
    """
    from ..search.backend import get_backend

    service = get_backend(settings())
    result = service.search(
        query,
        categories=list(categories) or None,
        since=since.date() if since else None,
        until=until.date() if until else None,
        min_upvotes=min_upvotes,
        has_code=has_code,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    if result.message:
        click.echo(f"note: {result.message}", err=True)
    items = _hit_items(result.hits)
    if as_json:
        print_json(items)
        return
    if result.direct:
        click.echo(f"arXiv:{result.direct}")
    elif not items:
        click.echo("no papers match" if not result.total else f"no more results ({result.total})")
        return
    else:
        more = "+" if result.capped else ""
        click.echo(f"{result.total}{more} result{'' if result.total == 1 else 's'}")
    _print_items(items)


@click.command("similar")
@click.argument("paper_id")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(0, 1000))
def similar_cmd(paper_id: str, as_json: bool, limit: int) -> None:
    """Papers most similar to PAPER_ID (by embedding), excluding itself."""
    from ..catalog.ids import parse_arxiv_id
    from ..search.backend import get_backend

    parsed = parse_arxiv_id(paper_id)
    pid = parsed[0] if parsed else paper_id.strip()
    hits = get_backend(settings()).similar(pid, limit=limit)
    items = _hit_items(hits)
    if as_json:
        print_json(items)
        return
    if not items:
        click.echo(f"no similar papers for {pid} (unknown id, or no embedding yet)", err=True)
        return
    _print_items(items)


@click.command("reindex")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when stderr is a terminal).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def reindex_cmd(progress: bool | None, as_json: bool) -> None:
    """Rebuild the search indexes from the catalog (and stored embeddings)."""
    import time

    from tqdm import tqdm

    from ..search.backend import get_backend

    cfg = settings()
    db = database(cfg)
    bars: dict[str, tqdm] = {}
    disable = (not progress) if progress is not None else None

    def report(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(
                total=total, desc=stage, unit="papers", disable=disable, file=sys.stderr
            )
        bar.update(done - bar.n)

    started = time.perf_counter()
    try:
        built = get_backend(cfg).rebuild(db, progress=report)
    finally:
        for bar in bars.values():
            bar.close()
    summary = {
        "papers": built["papers"],
        "vectors": built["vectors"],
        "model_id": built["model_id"],
        "generation": built["generation"],
        "seconds": round(time.perf_counter() - started, 3),
    }
    if as_json:
        print_json(summary)
    else:
        click.echo(
            f"indexed {summary['papers']} papers, {summary['vectors']} vectors "
            f"({summary['seconds']:.1f}s) in {built['where']}"
        )


def _add_search_commands(cli: click.Group) -> None:
    cli.add_command(search_cmd)
    cli.add_command(similar_cmd)
    cli.add_command(reindex_cmd)


# -- embed ------------------------------------------------------------------------


@click.command("embed")
@click.option(
    "--batch-size",
    default=256,
    show_default=True,
    type=click.IntRange(min=1),
    help="Papers per transaction (a killed run loses at most one batch).",
)
@click.option("--limit", type=click.IntRange(min=0), help="Embed at most N papers.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when stderr is a terminal).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def embed_cmd(batch_size: int, limit: int | None, progress: bool | None, as_json: bool) -> None:
    """Compute embeddings for papers that have none, or whose text changed.

    Resumable: each batch is committed, so after an interruption a re-run
    continues; unchanged papers are never embedded twice.  The first run
    converts the model to ONNX (once, about 15 s) into the home's models folder.
    """
    import time

    from ..search.embeddings import count_pending, embed_pending
    from ..search.encoder import get_encoder, is_built, model_dir_for, model_id_for

    cfg = settings()
    db = database(cfg)
    started = time.perf_counter()
    model_id, n = model_id_for(cfg), 0
    if count_pending(db, model_id) and limit != 0:  # load the model only when needed
        if not is_built(model_dir_for(cfg)):
            click.echo("converting the encoder to ONNX (first run only)...", err=True)
        encoder = get_encoder(cfg)
        model_id = encoder.model_id
        n = embed_pending(db, encoder, batch_size=batch_size, limit=limit, progress=progress)
    seconds = time.perf_counter() - started
    summary = {
        "embedded": n,
        "pending": count_pending(db, model_id),
        "model_id": model_id,
        "seconds": round(seconds, 3),
    }
    if n:
        from ..search.backend import get_backend

        get_backend(cfg).embeddings_changed(db)
    if as_json:
        print_json(summary)
    else:
        rate = f", {n / seconds:.1f} papers/s" if n and seconds > 0 else ""
        click.echo(
            f"embedded {n} papers with {model_id} ({seconds:.1f}s{rate}); "
            f"{summary['pending']} pending"
        )


def _add_embed_command(cli: click.Group) -> None:
    cli.add_command(embed_cmd)


# -- register ---------------------------------------------------------------------


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    _add_search_commands(cli)
    _add_embed_command(cli)
