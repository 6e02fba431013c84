"""Digest periods in the subscriber's time zone.

Rules (documented in docs/inbox.md):
- A **daily** digest is delivered on local day D, from ``digest_hour`` local
  time, and covers the papers *listed* on D-1.  Listing days are arXiv
  announcement days (or Daily Papers days); a day without listings (arXiv
  weekends and holidays) gives an empty digest, which is recorded and not sent.
  So subscribers get Tuesday..Saturday mail for Monday..Friday listings.
- A **weekly** digest is delivered on a fixed weekday (``digest_weekday``,
  Monday by default) and covers the seven listing days before it.
- The period key is the delivery day, so periods never overlap and the
  unique (subscription, period) row makes each one happen at most once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

FREQUENCIES = ("daily", "weekly")


@dataclass(frozen=True)
class Period:
    """One delivery of one frequency: its key and the listing days it covers."""

    frequency: str
    delivery: date  # local day the digest is due
    start: date  # first listing day covered (inclusive)
    end: date  # last listing day covered (inclusive)

    @property
    def key(self) -> str:
        return f"{self.frequency}:{self.delivery.isoformat()}"

    @property
    def window(self) -> tuple[date, date]:
        return (self.start, self.end)


def valid_timezone(name: str) -> bool:
    """True for IANA names known to zoneinfo (``UTC`` included)."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def timezone_names() -> list[str]:
    """Sorted IANA zone names, for the subscribe form."""
    return sorted(available_timezones())


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def period_for_delivery(frequency: str, delivery: date) -> Period:
    """The period delivered on ``delivery``."""
    if frequency == "weekly":
        return Period(
            "weekly", delivery, delivery - timedelta(days=7), delivery - timedelta(days=1)
        )
    day = delivery - timedelta(days=1)
    return Period("daily", delivery, day, day)


def due_period(
    frequency: str, timezone: str, now: datetime, *, hour: int = 7, weekday: int = 0
) -> Period:
    """The latest period whose delivery time (local ``hour``) has passed at ``now``."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    local = now.astimezone(_zone(timezone))
    day = local.date()
    if local.hour < hour:
        day -= timedelta(days=1)
    if frequency == "weekly":
        day -= timedelta(days=(day.weekday() - weekday) % 7)
    return period_for_delivery(frequency, day)


def next_period(period: Period, *, weekday: int = 0) -> Period:
    """The period after ``period`` (for previews once the current one went out)."""
    step = 7 if period.frequency == "weekly" else 1
    return period_for_delivery(period.frequency, period.delivery + timedelta(days=step))
