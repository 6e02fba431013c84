"""A topic's papers: one definition for digests, "For you" and the "my topics" switch.

A topic is a search for its text within a window: the result set keeps only
papers over search's calibrated floors (:mod:`paperwire.search.fusion`), so a
topic with nothing relevant matches nothing instead of its closest strangers.
"""

from __future__ import annotations

from datetime import date
from typing import Any

TOPIC_LIMIT = 50


def topic_matches(
    backend: Any,
    topic: str,
    *,
    since: date | None = None,
    until: date | None = None,
    limit: int = TOPIC_LIMIT,
) -> Any | None:
    """The search result of ``topic`` in ``[since, until]``, best first; None without an index.

    ``backend`` is a :class:`~paperwire.search.backend.SearchBackend`.  An index that
    is not built yet answers ``ready=False``: callers may fall back to words.
    """
    result = backend.search(topic, since=since, until=until, limit=limit)
    return result if getattr(result, "ready", True) else None
