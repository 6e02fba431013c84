"""Export my data, delete my account: a registry that every domain contributes to.

A domain that stores something about a person adds a module ``privacy.py`` to
its package and registers a :class:`Contributor` there with :func:`register`:
``export(conn, user)`` returns that domain's part of the export (JSON-ready)
and ``erase(conn, user, erasure)`` deletes or anonymises it.  Nothing lists the
contributors centrally: :func:`contributors` imports ``paperwire/<domain>/privacy.py``
of every domain folder that has one (accounts and inbox today; comments and
follows add theirs the same way).

:func:`delete_account` runs every ``erase`` in one transaction (in ``order``;
the account row itself goes last), so a failure midway deletes nothing.  Votes
are taken out of the paper counts in the same transaction; the ids of those
papers come back in the :class:`Erasure` for the caller to tell search.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, select, update

from ..config import Settings
from ..db import Database
from ..db.schema.accounts import (
    api_tokens,
    auth_attempts,
    collection_items,
    collections,
    moderation_log,
    sessions,
    upvotes,
    users,
)
from ..db.schema.catalog import feed_submissions, papers
from ..db.schema.community import feed_tokens, follows, user_topics
from . import ratelimit
from .clock import as_utc
from .upvotes import recount_in
from .users import User

FORMAT = "paperwire-export"
VERSION = 1
PACKAGE_DIR = Path(__file__).resolve().parent.parent


@dataclass
class Erasure:
    """What a deletion changed beyond the user's own rows (for derived data)."""

    settings: Settings
    votes_changed: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Contributor:
    """One domain's share of a person's data."""

    name: str  # the key of its part in the export
    export: Callable[[Connection, User], Any]
    erase: Callable[[Connection, User, Erasure], None]
    order: int = 100  # erase order: lower first; the account row is last


_registry: dict[str, Contributor] = {}
_discovered = False


def register(contributor: Contributor) -> Contributor:
    """Add (or replace, on re-import) a contributor."""
    _registry[contributor.name] = contributor
    return contributor


def _discover() -> None:
    """Import ``privacy.py`` of every domain folder of the package that has one."""
    global _discovered
    if _discovered:
        return
    for folder in sorted(PACKAGE_DIR.iterdir()):
        if folder.name in ("web", "cli"):  # layers above the domains never contribute
            continue
        if (folder / "__init__.py").exists() and (folder / "privacy.py").exists():
            importlib.import_module(f"paperwire.{folder.name}.privacy")
    _discovered = True


def contributors() -> list[Contributor]:
    _discover()
    return sorted(_registry.values(), key=lambda c: (c.order, c.name))


def iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def export_account(db: Database, user: User, *, now: datetime) -> dict[str, Any]:
    """Everything Paperwire stores about ``user``, as one JSON-ready document."""
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": iso(now),
    }
    with db.connect() as conn:
        for contributor in sorted(contributors(), key=lambda c: c.name != "profile"):
            data[contributor.name] = contributor.export(conn, user)
    return data


def delete_account(db: Database, settings: Settings, user: User) -> Erasure:
    """Delete the account and everything personal about it, all or nothing."""
    erasure = Erasure(settings)
    with db.begin() as conn:
        for contributor in contributors():
            contributor.erase(conn, user, erasure)
    return erasure


# -- the accounts domain's own contributions ----------------------------------------------


def _profile(conn: Connection, user: User) -> dict[str, Any]:
    row = conn.execute(select(users).where(users.c.id == user.id)).one()
    return {
        "id": row.id,
        "email": row.email,
        "display_name": row.display_name,
        "created_at": iso(row.created_at),
        "email_verified_at": iso(row.email_verified_at),
        "role": row.role,
    }


def _erase_profile(conn: Connection, user: User, erasure: Erasure) -> None:
    secret = erasure.settings.secret_key
    keys = [ratelimit.key_for(secret, user.email), ratelimit.key_for(secret, "mail:" + user.email)]
    conn.execute(delete(auth_attempts).where(auth_attempts.c.key.in_(keys)))
    pairs = ratelimit.account_prefix(secret, user.email)
    conn.execute(delete(auth_attempts).where(auth_attempts.c.key.startswith(pairs)))
    conn.execute(delete(users).where(users.c.id == user.id))


register(Contributor("profile", _profile, _erase_profile, order=1000))


def _sessions(conn: Connection, user: User) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(sessions).where(sessions.c.user_id == user.id).order_by(sessions.c.created_at)
    )
    return [
        {
            "created_at": iso(r.created_at),
            "last_seen_at": iso(r.last_seen_at),
            "expires_at": iso(r.expires_at),
            "user_agent": r.user_agent,
        }
        for r in rows
    ]


def _erase_sessions(conn: Connection, user: User, erasure: Erasure) -> None:
    conn.execute(delete(sessions).where(sessions.c.user_id == user.id))


register(Contributor("sessions", _sessions, _erase_sessions, order=60))


def _tokens(conn: Connection, user: User) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(api_tokens).where(api_tokens.c.user_id == user.id).order_by(api_tokens.c.id)
    )
    return [
        {
            "name": r.name,
            "scope": r.scope,
            "prefix": r.prefix,
            "created_at": iso(r.created_at),
            "last_used_at": iso(r.last_used_at),
        }
        for r in rows
    ]


def _erase_tokens(conn: Connection, user: User, erasure: Erasure) -> None:
    conn.execute(delete(api_tokens).where(api_tokens.c.user_id == user.id))


register(Contributor("api_tokens", _tokens, _erase_tokens, order=60))


def _votes(conn: Connection, user: User) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(upvotes.c.paper_id, upvotes.c.created_at, papers.c.title)
        .join(papers, papers.c.id == upvotes.c.paper_id)
        .where(upvotes.c.user_id == user.id)
        .order_by(upvotes.c.created_at, upvotes.c.paper_id)
    )
    return [{"paper_id": r.paper_id, "title": r.title, "at": iso(r.created_at)} for r in rows]


def _erase_votes(conn: Connection, user: User, erasure: Erasure) -> None:
    ids = list(
        conn.execute(select(upvotes.c.paper_id).where(upvotes.c.user_id == user.id)).scalars()
    )
    conn.execute(delete(upvotes).where(upvotes.c.user_id == user.id))
    recount_in(conn, ids)
    erasure.votes_changed.update(ids)


register(Contributor("votes", _votes, _erase_votes, order=10))


def _collections(conn: Connection, user: User) -> list[dict[str, Any]]:
    out = []
    for coll in conn.execute(
        select(collections).where(collections.c.user_id == user.id).order_by(collections.c.id)
    ):
        items = conn.execute(
            select(
                collection_items.c.paper_id,
                collection_items.c.added_at,
                collection_items.c.position,
            )
            .where(collection_items.c.collection_id == coll.id)
            .order_by(
                collection_items.c.position,
                collection_items.c.added_at,
                collection_items.c.paper_id,
            )
        )
        out.append(
            {
                "name": coll.name,
                "slug": coll.slug,
                "created_at": iso(coll.created_at),
                "visibility": coll.visibility,
                "description": coll.description,
                "share_path": f"/c/{coll.share_id}/{coll.slug}" if coll.share_id else None,
                "updated_at": iso(coll.updated_at),
                "papers": [
                    {"paper_id": i.paper_id, "added_at": iso(i.added_at), "position": i.position}
                    for i in items
                ],
            }
        )
    return out


def _erase_collections(conn: Connection, user: User, erasure: Erasure) -> None:
    owned = select(collections.c.id).where(collections.c.user_id == user.id)
    conn.execute(delete(collection_items).where(collection_items.c.collection_id.in_(owned)))
    conn.execute(delete(collections).where(collections.c.user_id == user.id))


register(Contributor("collections", _collections, _erase_collections, order=20))


def _submissions(conn: Connection, user: User) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(feed_submissions)
        .where(feed_submissions.c.user_id == user.id)
        .order_by(feed_submissions.c.created_at)
    )
    return [
        {"paper_id": r.paper_id, "day": r.day.isoformat(), "submitted_at": iso(r.created_at)}
        for r in rows
    ]


def _erase_submissions(conn: Connection, user: User, erasure: Erasure) -> None:
    # The papers stay on the feed they were put on; who put them there is forgotten.
    conn.execute(
        update(feed_submissions)
        .where(feed_submissions.c.user_id == user.id)
        .values(user_id=None, submitter=None)
    )


register(Contributor("submissions", _submissions, _erase_submissions, order=30))


def _moderation(conn: Connection, user: User) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(moderation_log)
        .where(moderation_log.c.actor_id == user.id)
        .order_by(moderation_log.c.at, moderation_log.c.id)
    )
    return [
        {
            "at": iso(r.at),
            "action": r.action,
            "target": f"{r.target_kind}:{r.target_id}",
            "note": r.note,
        }
        for r in rows
    ]


def _erase_moderation(conn: Connection, user: User, erasure: Erasure) -> None:
    # The actions stay in the audit log; who took them is forgotten.
    conn.execute(
        update(moderation_log).where(moderation_log.c.actor_id == user.id).values(actor_id=None)
    )


register(Contributor("moderation_actions", _moderation, _erase_moderation, order=70))


# -- following, topics and the private feed (accounts/follows.py, topics.py, feed_tokens.py) --


def _follows(conn: Connection, user: User) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(follows).where(follows.c.user_id == user.id).order_by(follows.c.created_at)
    )
    return [{"kind": r.kind, "value": r.value, "since": iso(r.created_at)} for r in rows]


def _erase_follows(conn: Connection, user: User, erasure: Erasure) -> None:
    conn.execute(delete(follows).where(follows.c.user_id == user.id))


register(Contributor("follows", _follows, _erase_follows, order=25))


def _topics(conn: Connection, user: User) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(user_topics).where(user_topics.c.user_id == user.id).order_by(user_topics.c.id)
    )
    return [{"topic": r.topic, "since": iso(r.created_at)} for r in rows]


def _erase_topics(conn: Connection, user: User, erasure: Erasure) -> None:
    conn.execute(delete(user_topics).where(user_topics.c.user_id == user.id))


register(Contributor("topics", _topics, _erase_topics, order=25))


def _feed_token(conn: Connection, user: User) -> dict[str, Any] | None:
    # The secret itself is not stored (only its sha256): say that a feed exists.
    made = conn.execute(
        select(feed_tokens.c.created_at).where(feed_tokens.c.user_id == user.id)
    ).scalar()
    return {"private_feed": True, "created_at": iso(made)} if made is not None else None


def _erase_feed_token(conn: Connection, user: User, erasure: Erasure) -> None:
    conn.execute(delete(feed_tokens).where(feed_tokens.c.user_id == user.id))


register(Contributor("feed_token", _feed_token, _erase_feed_token, order=25))
