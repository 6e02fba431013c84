"""Threaded comments on papers: post, reply, edit, delete, moderator removal.

The rules (``docs/web.md``, "Discussion"):

- only a logged-in, confirmed (verified email), not banned user comments, on a
  paper that is not hidden; a body is 1 to :data:`MAX_BODY` characters of
  Markdown (stored as written, rendered and sanitised on display);
- posting is limited per *user* (:data:`POST_LIMIT`), never per client
  address, so nobody can use up someone else's budget;
- authors edit and delete their own comments; moderators remove anyone's
  (logged in ``moderation_log`` in the same transaction).  Deleting clears
  the body; removing keeps it (for the audit) but nobody is shown it;
- a deleted or removed comment (or one by a banned user) stays in the thread
  as a tombstone while something below it is still shown, and is left out
  otherwise, so a thread keeps its shape;
- a reply may mail the parent's author when they opted in
  (``users.notify_replies``), never for their own reply (:attr:`Posted.notify`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from ..accounts import ratelimit
from ..accounts.clock import as_utc
from ..accounts.errors import Forbidden, NotFound, ValidationError
from ..accounts.moderation import log_action as log_moderation
from ..accounts.users import User
from ..config import Settings
from ..db import Database
from ..db.schema.accounts import users
from ..db.schema.catalog import papers
from ..db.schema.community import comments

MAX_BODY = 10_000
# Comments (and replies) per user: ten per ten minutes (``comments_per_10_minutes``).
POST_LIMIT = ratelimit.Limit("comment-user", 10, timedelta(minutes=10))
CONFIG_KEY = "comments_per_10_minutes"

VISIBLE, DELETED, REMOVED = "visible", "deleted", "removed"
UNVERIFIED = "Confirm your email address to join the discussion."
BANNED = "Your account is banned: you cannot comment."


@dataclass
class Comment:
    """One comment as a thread shows it; ``body`` is empty unless ``state`` is visible."""

    id: int
    paper_id: str
    parent_id: int | None
    user_id: int | None
    author: str | None  # None: the account was deleted, or a tombstone
    body: str
    created_at: datetime
    edited_at: datetime | None
    state: str
    replies: list[Comment] = field(default_factory=list)

    @property
    def visible(self) -> bool:
        return self.state == VISIBLE


@dataclass(frozen=True)
class Recipient:
    """Whom a reply notifies."""

    user_id: int
    email: str
    name: str


@dataclass(frozen=True)
class Posted:
    """A new comment, and the parent's author to mail about it (None: nobody)."""

    comment: Comment
    paper_title: str
    notify: Recipient | None


def configured_limit(settings: Settings) -> ratelimit.Limit:
    """:data:`POST_LIMIT` with its count from ``config.toml`` when set there."""
    raw = settings.extra.get(CONFIG_KEY)
    if raw is None:
        return POST_LIMIT
    try:
        count = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{CONFIG_KEY} in config.toml must be a whole number") from None
    return ratelimit.Limit(POST_LIMIT.scope, max(1, count), POST_LIMIT.window)


def limit_key(settings: Settings, user_id: int) -> str:
    return ratelimit.key_for(settings.secret_key, f"comment:{user_id}")


def clean_body(raw: str | None) -> str:
    """The body as stored: line ends normalised, trailing space trimmed; checked for length."""
    body = (raw or "").replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()
    if not body:
        raise ValidationError("Write something first.")
    if len(body) > MAX_BODY:
        raise ValidationError(f"A comment has at most {MAX_BODY:,} characters.")
    return body


def _may_write(user: User) -> None:
    if user.banned:
        raise Forbidden(BANNED)
    if not user.verified:
        raise Forbidden(UNVERIFIED)


def _row_state(row: Any) -> str:
    if row.removed_at is not None or row.banned_at is not None:
        return REMOVED
    if row.deleted_at is not None:
        return DELETED
    return VISIBLE


def _select() -> Any:
    return select(
        comments,
        users.c.display_name,
        users.c.email,
        users.c.banned_at,
        users.c.notify_replies,
        users.c.email_verified_at,
    ).select_from(comments.outerjoin(users, users.c.id == comments.c.user_id))


def _comment(row: Any) -> Comment:
    state = _row_state(row)
    author = None
    if state == VISIBLE and row.user_id is not None:
        author = row.display_name or (row.email or "").split("@", 1)[0]
    return Comment(
        id=row.id,
        paper_id=row.paper_id,
        parent_id=row.parent_id,
        user_id=row.user_id,
        author=author,
        body=row.body if state == VISIBLE else "",
        created_at=as_utc(row.created_at),
        edited_at=as_utc(row.edited_at) if row.edited_at else None,
        state=state,
    )


def _get_row(conn: Connection, comment_id: int) -> Any:
    row = conn.execute(_select().where(comments.c.id == comment_id)).first()
    if row is None:
        raise NotFound("No such comment.")
    return row


def _paper_title(conn: Connection, paper_id: str) -> str:
    title = conn.execute(
        select(papers.c.title).where(papers.c.id == paper_id, papers.c.hidden_at.is_(None))
    ).scalar()
    if title is None:
        raise NotFound("No such paper.")
    return title


# -- writing ------------------------------------------------------------------------------


def post(
    db: Database,
    settings: Settings,
    user: User,
    paper_id: str,
    body: str,
    *,
    parent_id: int | None = None,
    now: datetime,
) -> Posted:
    """Comment on ``paper_id`` (or reply to ``parent_id`` there); counted against the limit."""
    _may_write(user)
    body = clean_body(body)
    limit, key = configured_limit(settings), limit_key(settings, user.id)
    ratelimit.check(db, [(limit, key)], now=now)
    notify = None
    with db.begin() as conn:
        title = _paper_title(conn, paper_id)
        if parent_id is not None:
            parent = conn.execute(_select().where(comments.c.id == parent_id)).first()
            if parent is None or parent.paper_id != paper_id:
                raise NotFound("The comment you reply to is not on this paper.")
            if _row_state(parent) != VISIBLE:
                raise ValidationError("That comment was deleted: you cannot reply to it.")
            if (
                parent.user_id is not None
                and parent.user_id != user.id
                and parent.notify_replies
                and parent.email_verified_at is not None
                and parent.banned_at is None
            ):
                name = parent.display_name or parent.email.split("@", 1)[0]
                notify = Recipient(parent.user_id, parent.email, name)
        new_id = conn.execute(
            comments.insert().values(
                paper_id=paper_id,
                user_id=user.id,
                parent_id=parent_id,
                body=body,
                created_at=as_utc(now),
            )
        ).inserted_primary_key[0]
        comment = _comment(_get_row(conn, new_id))
    ratelimit.record(db, [(limit, key)], now=now)
    return Posted(comment, title, notify)


def _own(conn: Connection, user: User, comment_id: int) -> Any:
    row = _get_row(conn, comment_id)
    if row.user_id != user.id:
        raise Forbidden("You can only change your own comments.")
    if _row_state(row) != VISIBLE:
        raise NotFound("That comment was deleted.")
    return row


def edit(db: Database, user: User, comment_id: int, body: str, *, now: datetime) -> Comment:
    """Replace the body of the user's own comment (marked as edited)."""
    _may_write(user)
    body = clean_body(body)
    with db.begin() as conn:
        _own(conn, user, comment_id)
        conn.execute(
            update(comments)
            .where(comments.c.id == comment_id)
            .values(body=body, edited_at=as_utc(now))
        )
        return _comment(_get_row(conn, comment_id))


def delete(db: Database, user: User, comment_id: int, *, now: datetime) -> str:
    """Delete the user's own comment (its body is cleared); returns its paper's id."""
    with db.begin() as conn:
        row = _own(conn, user, comment_id)
        conn.execute(
            update(comments)
            .where(comments.c.id == comment_id)
            .values(body="", deleted_at=as_utc(now))
        )
    return row.paper_id


def remove(
    db: Database, actor: User, comment_id: int, *, now: datetime, note: str | None = None
) -> str:
    """A moderator takes a comment down (logged); returns its paper's id."""
    if not actor.is_moderator:
        raise Forbidden("Only moderators can do this.")
    with db.begin() as conn:
        row = _get_row(conn, comment_id)
        if row.removed_at is None:
            conn.execute(
                update(comments)
                .where(comments.c.id == comment_id)
                .values(removed_at=as_utc(now), removed_by=actor.id)
            )
            detail = f"on {row.paper_id} by user:{row.user_id}"
            log_moderation(
                conn,
                actor,
                "remove_comment",
                "comment",
                str(comment_id),
                f"{detail}; {note}" if note else detail,
                now,
            )
    return row.paper_id


# -- reading ------------------------------------------------------------------------------


def get(db: Database, comment_id: int) -> Comment | None:
    with db.connect() as conn:
        row = conn.execute(_select().where(comments.c.id == comment_id)).first()
    return _comment(row) if row is not None else None


def thread(db: Database, paper_id: str) -> list[Comment]:
    """The paper's comments as a tree, oldest first at every level, tombstones pruned."""
    with db.connect() as conn:
        rows = conn.execute(
            _select()
            .where(comments.c.paper_id == paper_id)
            .order_by(comments.c.created_at, comments.c.id)
        ).all()
    by_id = {row.id: _comment(row) for row in rows}
    roots: list[Comment] = []
    for c in by_id.values():
        parent = by_id.get(c.parent_id) if c.parent_id is not None else None
        (parent.replies if parent is not None else roots).append(c)
    return _prune(roots)


def _prune(items: list[Comment]) -> list[Comment]:
    kept = []
    for c in items:
        c.replies = _prune(c.replies)
        if c.visible or c.replies:
            kept.append(c)
    return kept


# -- reply mail preference -----------------------------------------------------------------


def reply_mail(db: Database, user_id: int) -> bool:
    """Whether the user wants an email when someone replies to them (off by default)."""
    with db.connect() as conn:
        return bool(
            conn.execute(select(users.c.notify_replies).where(users.c.id == user_id)).scalar()
        )


def set_reply_mail(db: Database, user_id: int, on: bool) -> None:
    with db.begin() as conn:
        conn.execute(update(users).where(users.c.id == user_id).values(notify_replies=bool(on)))
