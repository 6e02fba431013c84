"""Subscriptions: double opt-in, preferences, confirm, unsubscribe.

Nothing here ever tells a caller whether an address was already subscribed:
:func:`subscribe` always returns normally and the web layer answers the same
way for every address.  What is mailed depends on the state:

- new, pending, unsubscribed or paused address -> a confirmation mail (the
  preferences of an unconfirmed subscription are replaced by the request's);
- confirmed address -> a "you are already subscribed" notice with the manage
  link; its preferences are *not* changed (only its owner may, through the
  signed manage link).

Both mails count against a per-address limit so nobody can mail-bomb an address.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Connection, func, insert, select, update

from ..config import Settings
from ..db import Database
from ..db.schema.accounts import users
from ..db.schema.inbox import outbox, subscriptions
from . import render
from .options import InboxOptions
from .outbox import enqueue
from .periods import FREQUENCIES, valid_timezone
from .tokens import InvalidToken, Tokens

MAX_TOPICS = 10
MAX_TOPIC_LENGTH = 100
MAX_CATEGORIES = 20
CATEGORY_RE = re.compile(r"^[a-z][a-z\-]{0,15}(\.[A-Za-z][A-Za-z\-]{0,15})?$")


class InvalidInput(ValueError):
    """A subscription request that cannot be accepted; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Preferences:
    """What a subscriber wants to receive and when."""

    frequency: str = "daily"
    timezone: str = "UTC"
    trending: bool = True
    categories: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    similar_to_upvotes: bool = False
    following: bool = False  # a section of papers by followed authors and categories

    def as_row(self) -> dict[str, Any]:
        return {
            "frequency": self.frequency,
            "timezone": self.timezone,
            "trending": self.trending,
            "categories": list(self.categories),
            "topics": list(self.topics),
            "similar_to_upvotes": self.similar_to_upvotes,
            "following": self.following,
        }


@dataclass(frozen=True)
class Subscription:
    """A subscription as the domain sees it."""

    id: int
    email: str
    status: str
    prefs: Preferences
    user_id: int | None = None
    failure_count: int = 0
    nonce: str = ""
    confirmed_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Datetimes read back from SQLite are naive; they are always UTC here."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def normalise_email(raw: object) -> str:
    """A syntactically valid, lower-cased ASCII address (no DNS look-up)."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("email", "an email address is required")
    if len(raw) > 320:
        raise InvalidInput("email", "the address is too long")
    try:
        info = validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidInput("email", str(exc)) from exc
    return info.normalized.lower()


def _bool(name: str, value: object, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    raise InvalidInput(name, "must be true or false")


def make_preferences(
    *,
    frequency: object = "daily",
    timezone: object = "UTC",
    trending: object = None,
    categories: object = None,
    topics: object = None,
    similar_to_upvotes: object = None,
    following: object = None,
) -> Preferences:
    """Validate raw preference values (from JSON or a form) into :class:`Preferences`."""
    if frequency is None:
        frequency = "daily"
    if not isinstance(frequency, str) or frequency not in FREQUENCIES:
        raise InvalidInput("frequency", "must be 'daily' or 'weekly'")
    if timezone is None or timezone == "":
        timezone = "UTC"
    if not isinstance(timezone, str) or not valid_timezone(timezone):
        raise InvalidInput("timezone", "must be an IANA time zone such as Europe/Berlin")
    topics_list = _string_list("topics", topics, MAX_TOPICS)
    clean_topics: list[str] = []
    for topic in topics_list:
        text = " ".join(topic.split())
        if len(text) > MAX_TOPIC_LENGTH:
            raise InvalidInput("topics", f"each topic is at most {MAX_TOPIC_LENGTH} characters")
        if text and text.lower() not in {t.lower() for t in clean_topics}:
            clean_topics.append(text)
    cats: list[str] = []
    for cat in _string_list("categories", categories, MAX_CATEGORIES):
        cat = cat.strip()
        if not CATEGORY_RE.match(cat):
            raise InvalidInput("categories", f"not an arXiv category: {cat[:40]!r}")
        if cat not in cats:
            cats.append(cat)
    prefs = Preferences(
        frequency=frequency,
        timezone=timezone,
        trending=_bool("trending", trending, not (clean_topics or cats)),
        categories=tuple(cats),
        topics=tuple(clean_topics),
        similar_to_upvotes=_bool("similar_to_upvotes", similar_to_upvotes, False),
        following=_bool("following", following, False),
    )
    wanted = prefs.trending or prefs.categories or prefs.topics or prefs.similar_to_upvotes
    if not (wanted or prefs.following):
        raise InvalidInput("topics", "choose at least one of trending, categories, topics, similar")
    return prefs


def _string_list(name: str, value: object, limit: int) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in re.split(r"[\n,]", value) if v.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(name, "must be a list of strings")
    if len(value) > limit:
        raise InvalidInput(name, f"at most {limit} entries")
    return [v for v in value if v.strip()]


def _from_row(row: Any) -> Subscription:
    m = row._mapping
    prefs = Preferences(
        frequency=m["frequency"],
        timezone=m["timezone"],
        trending=bool(m["trending"]),
        categories=tuple(m["categories"] or ()),
        topics=tuple(m["topics"] or ()),
        similar_to_upvotes=bool(m["similar_to_upvotes"]),
        following=bool(m["following"]),
    )
    return Subscription(
        id=m["id"],
        email=m["email"],
        status=m["status"],
        prefs=prefs,
        user_id=m["user_id"],
        failure_count=m["failure_count"],
        nonce=m["nonce"],
        confirmed_at=as_utc(m["confirmed_at"]),
    )


def get(db: Database, subscription_id: int) -> Subscription | None:
    with db.connect() as conn:
        row = conn.execute(
            select(subscriptions).where(subscriptions.c.id == subscription_id)
        ).first()
    return _from_row(row) if row else None


def find_by_email(db: Database, email: str) -> Subscription | None:
    with db.connect() as conn:
        row = conn.execute(
            select(subscriptions).where(subscriptions.c.email == email.strip().lower())
        ).first()
    return _from_row(row) if row else None


def find_for_user(db: Database, user_id: int, email: str | None = None) -> Subscription | None:
    """The subscription of an account: linked by id, else by the account's address."""
    cond = subscriptions.c.user_id == user_id
    if email:
        cond = cond | (subscriptions.c.email == email.strip().lower())
    with db.connect() as conn:
        row = conn.execute(
            select(subscriptions)
            .where(cond)
            .order_by((subscriptions.c.status == "active").desc(), subscriptions.c.id)
        ).first()
    return _from_row(row) if row else None


def _recent_mails(conn: Connection, subscription_id: int, since: datetime) -> int:
    return conn.execute(
        select(func.count())
        .select_from(outbox)
        .where(
            outbox.c.subscription_id == subscription_id,
            outbox.c.kind.in_(("confirm", "notice")),
            outbox.c.created_at >= since,
        )
    ).scalar_one()


def subscribe(
    db: Database,
    settings: Settings,
    email: str,
    prefs: Preferences,
    *,
    user_id: int | None = None,
    now: datetime | None = None,
    options: InboxOptions | None = None,
) -> str:
    """Record a subscribe request and queue the right mail; returns what happened.

    The return value (``confirm``, ``notice``, ``limited``) is for logs and tests
    only: callers must answer every request the same way.
    """
    now = now or utcnow()
    opts = options or InboxOptions.from_settings(settings)
    email = normalise_email(email)
    tokens = Tokens(settings.secret_key)
    with db.begin() as conn:
        if user_id is None:
            user_id = conn.execute(select(users.c.id).where(users.c.email == email)).scalar()
        row = conn.execute(select(subscriptions).where(subscriptions.c.email == email)).first()
        if (
            row is not None
            and _recent_mails(conn, row.id, now - timedelta(days=1))
            >= opts.confirmations_per_address
        ):
            return "limited"
        nonce = secrets.token_hex(8)
        if row is None:
            sid = conn.execute(
                insert(subscriptions).values(
                    email=email,
                    user_id=user_id,
                    status="pending",
                    nonce=nonce,
                    failure_count=0,
                    created_at=now,
                    updated_at=now,
                    status_changed_at=now,
                    **prefs.as_row(),
                )
            ).inserted_primary_key[0]
        elif row.status == "active":
            message_id, message = render.notice_message(
                settings, tokens, subscription_id=row.id, email=email, now=now
            )
            enqueue(
                conn,
                kind="notice",
                subscription_id=row.id,
                recipient=email,
                message_id=message_id,
                message=message,
                now=now,
            )
            return "notice"
        else:
            sid = row.id
            if row.status == "pending":  # earlier confirmation links keep working
                nonce = row.nonce
            conn.execute(
                update(subscriptions)
                .where(subscriptions.c.id == sid)
                .values(
                    status="pending",
                    nonce=nonce,
                    user_id=row.user_id or user_id,
                    updated_at=now,
                    status_changed_at=now,
                    status_reason=None,
                    **prefs.as_row(),
                )
            )
        message_id, message = render.confirm_message(
            settings, tokens, subscription_id=sid, nonce=nonce, email=email, prefs=prefs, now=now
        )
        enqueue(
            conn,
            kind="confirm",
            subscription_id=sid,
            recipient=email,
            message_id=message_id,
            message=message,
            now=now,
        )
    return "confirm"


def confirm(
    db: Database, settings: Settings, token: str, *, now: datetime | None = None
) -> Subscription:
    """Activate the subscription a confirmation link names (idempotent)."""
    now = now or utcnow()
    opts = InboxOptions.from_settings(settings)
    claim = Tokens(settings.secret_key).check_confirm(token, opts.confirm_max_age)
    with db.begin() as conn:
        row = conn.execute(
            select(subscriptions).where(subscriptions.c.id == claim.subscription_id)
        ).first()
        if row is None or not secrets.compare_digest(row.nonce, claim.nonce):
            raise InvalidToken("invalid")
        if row.status in ("pending", "paused"):
            conn.execute(
                update(subscriptions)
                .where(subscriptions.c.id == row.id)
                .values(
                    status="active",
                    confirmed_at=now,
                    failure_count=0,
                    updated_at=now,
                    status_changed_at=now,
                    status_reason=None,
                )
            )
        elif row.status != "active":
            raise InvalidToken("invalid")
        row = conn.execute(select(subscriptions).where(subscriptions.c.id == row.id)).first()
    return _from_row(row)


def update_preferences(
    db: Database, subscription_id: int, prefs: Preferences, *, now: datetime | None = None
) -> Subscription | None:
    """Replace the preferences (from the signed manage link)."""
    now = now or utcnow()
    with db.begin() as conn:
        conn.execute(
            update(subscriptions)
            .where(subscriptions.c.id == subscription_id)
            .values(updated_at=now, **prefs.as_row())
        )
        row = conn.execute(
            select(subscriptions).where(subscriptions.c.id == subscription_id)
        ).first()
    return _from_row(row) if row else None


def unsubscribe(
    db: Database, subscription_id: int, *, now: datetime | None = None, reason: str = "user"
) -> bool:
    """Stop all mail to the subscription (idempotent); False if it does not exist.

    Queued messages are cancelled and the nonce changes, so no earlier
    confirmation link can turn the subscription back on.
    """
    now = now or utcnow()
    with db.begin() as conn:
        row = conn.execute(
            select(subscriptions.c.status).where(subscriptions.c.id == subscription_id)
        ).first()
        if row is None:
            return False
        if row.status != "unsubscribed":
            conn.execute(
                update(subscriptions)
                .where(subscriptions.c.id == subscription_id)
                .values(
                    status="unsubscribed",
                    nonce=secrets.token_hex(8),
                    updated_at=now,
                    status_changed_at=now,
                    status_reason=reason,
                )
            )
        conn.execute(
            update(outbox)
            .where(outbox.c.subscription_id == subscription_id, outbox.c.status == "pending")
            .values(status="cancelled", last_error="unsubscribed")
        )
    return True


def status_counts(db: Database) -> dict[str, dict[str, int]]:
    """Subscriptions and outbox messages per status (for `paperwire digest status`)."""
    with db.connect() as conn:
        subs = conn.execute(
            select(subscriptions.c.status, func.count()).group_by(subscriptions.c.status)
        ).all()
        msgs = conn.execute(
            select(outbox.c.kind, outbox.c.status, func.count()).group_by(
                outbox.c.kind, outbox.c.status
            )
        ).all()
    return {
        "subscriptions": {s: n for s, n in subs},
        "outbox": {f"{k}:{s}": n for k, s, n in msgs},
    }
