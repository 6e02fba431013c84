"""Errors the accounts domain raises; their messages are safe to show to the user."""

from __future__ import annotations


class AccountError(Exception):
    """Base class: ``str(exc)`` is a message meant for the person at the keyboard."""


class ValidationError(AccountError):
    """Input that cannot be accepted (bad email, weak password, empty name...)."""


class NotFound(AccountError):
    """The paper, collection or user does not exist (or is not yours)."""


class RateLimited(AccountError):
    """Too many attempts; ``retry_after`` is the number of seconds to wait."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(AccountError):
    """The user may not do this (not a moderator, or the target outranks them)."""
