"""Accounts: users, sessions, login rate limits, upvotes, submissions, collections.

Plain domain functions over SQLAlchemy Core; nothing here imports the web layer.
Every function takes the :class:`~paperwire.db.Database` and, where time
matters, a ``now`` (aware UTC datetime) or ``today`` argument.
"""

from .errors import AccountError, Forbidden, NotFound, RateLimited, ValidationError

__all__ = ["AccountError", "Forbidden", "NotFound", "RateLimited", "ValidationError"]
