"""Feed ranking: day, week, month and trending views; paper lookup; BibTeX.

Everything here is read-only SQLAlchemy Core over the catalog tables and takes
time as a parameter (``day``, ``now``), never reading the clock.
"""

from .bibtex import bibtex, cite_key
from .models import FeedPage, Neighbours, PaperCard, PaperDetail
from .periods import Period, PeriodError, day_period, parse_day, parse_month, parse_week
from .ranking import (
    cards_by_ids,
    day_feed,
    get_paper,
    known_categories,
    latest_day,
    neighbours,
    ranked,
    trending,
    trending_score,
)

__all__ = [
    "FeedPage",
    "Neighbours",
    "PaperCard",
    "PaperDetail",
    "Period",
    "PeriodError",
    "bibtex",
    "cards_by_ids",
    "cite_key",
    "day_feed",
    "day_period",
    "get_paper",
    "known_categories",
    "latest_day",
    "neighbours",
    "parse_day",
    "parse_month",
    "parse_week",
    "ranked",
    "trending",
    "trending_score",
]
