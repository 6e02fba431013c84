"""Inbox tables: subscriptions, digests and the transactional outbox."""

from .base import metadata  # noqa: F401  (tables are added by the inbox work)
