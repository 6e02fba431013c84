"""A user's topics: free text matched by meaning ("For you", the "my topics" switch)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select

from ..db import Database
from ..db.schema.community import user_topics
from .clock import as_utc
from .errors import ValidationError

MAX_TOPIC = 200
MAX_PER_USER = 20


@dataclass(frozen=True)
class Topic:
    topic: str
    key: str
    created_at: datetime


def topic_key(text: str) -> str:
    """Case-folded, spaces collapsed: one topic however it is typed."""
    return " ".join((text or "").casefold().split())


def add_topic(db: Database, user_id: int, text: str, *, now: datetime) -> Topic:
    """Add a topic (adding it again changes nothing)."""
    text = " ".join((text or "").split())
    if not text or len(text) > MAX_TOPIC:
        raise ValidationError(f"A topic is 1 to {MAX_TOPIC} characters.")
    key = topic_key(text)
    with db.begin() as conn:
        count = conn.execute(
            select(func.count()).select_from(user_topics).where(user_topics.c.user_id == user_id)
        ).scalar_one()
        known = conn.execute(
            select(user_topics.c.id).where(
                user_topics.c.user_id == user_id, user_topics.c.topic_key == key
            )
        ).first()
        if known is None and count >= MAX_PER_USER:
            raise ValidationError(f"You can have at most {MAX_PER_USER} topics.")
        row = {"user_id": user_id, "topic": text, "topic_key": key, "created_at": as_utc(now)}
        db.upsert(conn, user_topics, [row], ["user_id", "topic_key"])
    return Topic(text, key, as_utc(now))


def remove_topic(db: Database, user_id: int, text: str) -> bool:
    with db.begin() as conn:
        done = conn.execute(
            delete(user_topics).where(
                user_topics.c.user_id == user_id, user_topics.c.topic_key == topic_key(text)
            )
        )
    return bool(done.rowcount)


def list_topics(db: Database, user_id: int) -> list[Topic]:
    with db.connect() as conn:
        rows = conn.execute(
            select(user_topics)
            .where(user_topics.c.user_id == user_id)
            .order_by(user_topics.c.created_at, user_topics.c.id)
        ).all()
    return [Topic(r.topic, r.topic_key, as_utc(r.created_at)) for r in rows]
