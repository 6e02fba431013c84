"""Moderation: roles, hiding papers, removing feed submissions, bans, and the audit log.

Roles: ``user`` < ``moderator`` < ``admin``.  Moderators (and admins) hide and
unhide papers, remove submissions and ban users; only admins change roles or
ban moderators; nobody bans an admin but the command line.  ``actor`` None
means the command line (``paperwire users``), which may do everything.

Every action writes a ``moderation_log`` row in the same transaction, so the
log and the change are never apart.  A ban ends the user's sessions and API
tokens and stops counting their votes (the votes are kept, so an unban counts
them again); the functions return the ids of papers whose counts changed, for
the caller to hand to search (``votes_changed``).  Hiding a paper takes it off
every feed, the API and search; callers tell search (``papers_changed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, delete, func, select, update

from ..db import Database
from ..db.schema.accounts import api_tokens, moderation_log, sessions, upvotes, users
from ..db.schema.catalog import feed_submissions, papers
from .clock import as_utc
from .errors import Forbidden, NotFound, ValidationError
from .upvotes import recount_in
from .users import ROLES, User, user_from_row

RANK = {role: i for i, role in enumerate(ROLES)}
MAX_NOTE = 500


@dataclass(frozen=True)
class LogEntry:
    id: int
    at: datetime
    actor: str  # the actor's name at the time of reading, or "command line" / "deleted user"
    action: str
    target_kind: str
    target_id: str
    note: str


@dataclass(frozen=True)
class SubmissionRow:
    paper_id: str
    title: str
    day: date
    submitter: str | None
    user_id: int | None
    hidden: bool


def _require_moderator(actor: User | None) -> None:
    if actor is not None and not actor.is_moderator:
        raise Forbidden("Only moderators can do this.")


def _clean_note(note: str | None) -> str | None:
    note = " ".join((note or "").split())[:MAX_NOTE]
    return note or None


def log_action(
    conn: Connection,
    actor: User | None,
    action: str,
    kind: str,
    target: str,
    note: str | None,
    now: datetime,
) -> None:
    """Record one moderation action on ``conn``, inside the caller's transaction
    (the action and its log row commit or roll back together)."""
    conn.execute(
        moderation_log.insert().values(
            at=as_utc(now),
            actor_id=actor.id if actor else None,
            via="site" if actor else "cli",
            action=action,
            target_kind=kind,
            target_id=str(target)[:64],
            note=_clean_note(note),
        )
    )


# -- papers ---------------------------------------------------------------------------


def set_hidden(
    db: Database,
    actor: User | None,
    paper_id: str,
    hidden: bool,
    *,
    now: datetime,
    note: str | None = None,
) -> bool:
    """Hide (or unhide) a paper everywhere; False when it already was so."""
    _require_moderator(actor)
    with db.begin() as conn:
        row = conn.execute(select(papers.c.hidden_at).where(papers.c.id == paper_id)).first()
        if row is None:
            raise NotFound("No such paper.")
        if (row.hidden_at is not None) == hidden:
            return False
        conn.execute(
            update(papers)
            .where(papers.c.id == paper_id)
            .values(hidden_at=as_utc(now) if hidden else None)
        )
        log_action(
            conn, actor, "hide_paper" if hidden else "unhide_paper", "paper", paper_id, note, now
        )
    return True


def is_hidden(db: Database, paper_id: str) -> bool:
    with db.connect() as conn:
        return (
            conn.execute(select(papers.c.hidden_at).where(papers.c.id == paper_id)).scalar()
            is not None
        )


def hidden_papers(db: Database, *, limit: int = 200) -> list[tuple[str, str, datetime]]:
    """``(id, title, hidden_at)`` of hidden papers, most recently hidden first."""
    with db.connect() as conn:
        rows = conn.execute(
            select(papers.c.id, papers.c.title, papers.c.hidden_at)
            .where(papers.c.hidden_at.is_not(None))
            .order_by(papers.c.hidden_at.desc())
            .limit(limit)
        ).all()
    return [(r.id, r.title, as_utc(r.hidden_at)) for r in rows]


# -- submissions ----------------------------------------------------------------------


def remove_submission(
    db: Database, actor: User | None, paper_id: str, *, now: datetime, note: str | None = None
) -> None:
    """Take a paper off the feed it was submitted to (the paper stays in the catalog)."""
    _require_moderator(actor)
    with db.begin() as conn:
        row = conn.execute(
            select(feed_submissions).where(feed_submissions.c.paper_id == paper_id)
        ).first()
        if row is None:
            raise NotFound("That paper was not submitted to any feed.")
        conn.execute(delete(feed_submissions).where(feed_submissions.c.paper_id == paper_id))
        who = f"user:{row.user_id}" if row.user_id else (row.submitter or row.source)
        detail = f"was on {row.day.isoformat()}, submitted by {who}"
        log_action(
            conn,
            actor,
            "remove_submission",
            "submission",
            paper_id,
            f"{detail}; {note}" if note else detail,
            now,
        )


def recent_submissions(db: Database, *, limit: int = 100) -> list[SubmissionRow]:
    """Submissions by users of this site, newest first (what moderators review)."""
    with db.connect() as conn:
        rows = conn.execute(
            select(
                feed_submissions.c.paper_id,
                feed_submissions.c.day,
                feed_submissions.c.submitter,
                feed_submissions.c.user_id,
                papers.c.title,
                papers.c.hidden_at,
            )
            .join(papers, papers.c.id == feed_submissions.c.paper_id)
            .where(feed_submissions.c.source == "local")
            .order_by(feed_submissions.c.created_at.desc(), feed_submissions.c.paper_id)
            .limit(limit)
        ).all()
    return [
        SubmissionRow(r.paper_id, r.title, r.day, r.submitter, r.user_id, r.hidden_at is not None)
        for r in rows
    ]


# -- users ----------------------------------------------------------------------------


def _target(conn: Connection, user_id: int) -> User:
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFound("No such user.")
    return user_from_row(row)


def _voted(conn: Connection, user_id: int) -> list[str]:
    return list(
        conn.execute(select(upvotes.c.paper_id).where(upvotes.c.user_id == user_id)).scalars()
    )


def set_banned(
    db: Database,
    actor: User | None,
    user_id: int,
    banned: bool,
    *,
    now: datetime,
    note: str | None = None,
) -> list[str]:
    """Ban (or unban) a user; returns the papers whose upvote counts changed."""
    _require_moderator(actor)
    with db.begin() as conn:
        target = _target(conn, user_id)
        if actor is not None:
            if actor.id == target.id:
                raise Forbidden("You cannot ban or unban yourself.")
            if target.role == "admin" or (target.role == "moderator" and not actor.is_admin):
                raise Forbidden("Only an administrator can ban a moderator; nobody bans an admin.")
        if target.banned == banned:
            return []
        conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(banned_at=as_utc(now) if banned else None)
        )
        if banned:
            conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
            conn.execute(delete(api_tokens).where(api_tokens.c.user_id == user_id))
        ids = _voted(conn, user_id)
        recount_in(conn, ids)
        log_action(
            conn, actor, "ban_user" if banned else "unban_user", "user", str(user_id), note, now
        )
    return ids


def set_role(db: Database, actor: User | None, user_id: int, role: str, *, now: datetime) -> bool:
    """Give a user a role (admins and the command line only); False when unchanged."""
    if role not in ROLES:
        raise ValidationError(f"A role is one of {', '.join(ROLES)}.")
    if actor is not None and not actor.is_admin:
        raise Forbidden("Only administrators can change roles.")
    with db.begin() as conn:
        target = _target(conn, user_id)
        if target.role == role:
            return False
        if actor is not None and actor.id == target.id:
            raise Forbidden("You cannot change your own role.")
        conn.execute(update(users).where(users.c.id == user_id).values(role=role))
        log_action(conn, actor, "set_role", "user", str(user_id), f"{target.role} -> {role}", now)
    return True


def record_cli_action(
    db: Database, action: str, user_id: int, *, now: datetime, note: str | None = None
) -> None:
    """Log a command-line action on a user that no function above records (create_admin)."""
    with db.begin() as conn:
        log_action(conn, None, action, "user", str(user_id), note, now)


def log_entries(db: Database, *, limit: int = 100, offset: int = 0) -> list[LogEntry]:
    """The audit log, newest first."""
    with db.connect() as conn:
        rows = conn.execute(
            select(moderation_log, users.c.display_name, users.c.email)
            .outerjoin(users, users.c.id == moderation_log.c.actor_id)
            .order_by(moderation_log.c.at.desc(), moderation_log.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    entries = []
    for r in rows:
        if r.via == "cli":
            actor = "command line"
        elif r.actor_id is None:
            actor = "deleted account"
        else:
            actor = r.display_name or (r.email or "").split("@", 1)[0]
        entries.append(
            LogEntry(
                r.id,
                as_utc(r.at),
                actor,
                r.action,
                r.target_kind,
                r.target_id,
                r.note or "",
            )
        )
    return entries


def count_log(db: Database) -> int:
    with db.connect() as conn:
        return conn.execute(select(func.count()).select_from(moderation_log)).scalar_one()
