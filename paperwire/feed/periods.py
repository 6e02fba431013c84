"""Feed periods: a day, an ISO week (``2026-W47``) or a month (``2026-11``).

A period is an inclusive range of days with a canonical label, so the web layer
can parse user input once and hand the domain plain dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

_WEEK = re.compile(r"^(\d{4})-?W(\d{2})$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(ValueError):
    """User input that does not name a valid day, week or month."""


@dataclass(frozen=True)
class Period:
    """An inclusive range of days: ``kind`` is ``day``, ``week`` or ``month``."""

    kind: str
    start: date
    end: date

    @property
    def label(self) -> str:
        """The canonical spelling used in URLs (``2026-11-20``, ``2026-W47``, ``2026-11``)."""
        if self.kind == "day":
            return self.start.isoformat()
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.year}-{self.start.month:02d}"

    @property
    def title(self) -> str:
        """A human heading, e.g. ``Friday, 20 November 2026`` or ``Week 47, 2026``."""
        if self.kind == "day":
            return f"{self.start:%A}, {self.start.day} {self.start:%B %Y}"
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return (
                f"Week {week}, {year} ({self.start.day} {self.start:%b} – "
                f"{self.end.day} {self.end:%b %Y})"
            )
        return f"{self.start:%B %Y}"

    def shifted(self, steps: int) -> Period:
        """The period ``steps`` units before (negative) or after (positive) this one."""
        if self.kind == "day":
            return day_period(self.start + timedelta(days=steps))
        if self.kind == "week":
            return week_period_from(self.start + timedelta(weeks=steps))
        month0 = self.start.year * 12 + self.start.month - 1 + steps
        return month_period(month0 // 12, month0 % 12 + 1)


def day_period(day: date) -> Period:
    return Period("day", day, day)


def week_period_from(day: date) -> Period:
    """The ISO week (Monday to Sunday) containing ``day``."""
    monday = day - timedelta(days=day.weekday())
    return Period("week", monday, monday + timedelta(days=6))


def month_period(year: int, month: int) -> Period:
    start = date(year, month, 1)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return Period("month", start, nxt - timedelta(days=1))


def parse_day(text: str) -> Period:
    """``YYYY-MM-DD`` as a one-day period, or PeriodError."""
    try:
        if len(text) != 10:
            raise ValueError
        return day_period(date.fromisoformat(text))
    except ValueError:
        raise PeriodError(f"not a date (expected YYYY-MM-DD): {text[:40]!r}") from None


def parse_week(text: str) -> Period:
    """An ISO week ``YYYY-Www`` (``2026-W47``), or PeriodError."""
    match = _WEEK.match(text.strip())
    if not match:
        raise PeriodError(f"not an ISO week (expected YYYY-Www, e.g. 2026-W47): {text[:40]!r}")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        raise PeriodError(f"year {year} has no week {week}") from None
    return Period("week", monday, monday + timedelta(days=6))


def parse_month(text: str) -> Period:
    """A month ``YYYY-MM`` (``2026-11``), or PeriodError."""
    match = _MONTH.match(text.strip())
    if not match:
        raise PeriodError(f"not a month (expected YYYY-MM, e.g. 2026-11): {text[:40]!r}")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or year < 1:
        raise PeriodError(f"not a month: {text[:40]!r}")
    return month_period(year, month)
