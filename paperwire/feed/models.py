"""What the feed hands the web layer: plain, immutable paper views (no SQL rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class PaperCard:
    """One paper as lists show it (feed, search results, similar papers, API items)."""

    id: str
    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    upvotes: int
    listed_on: date | None
    submitted: date | None
    code_links: tuple[str, ...]
    project_page: str | None
    links: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    version: int | None = None
    feed_day: date | None = None
    submitter: str | None = None
    submission_source: str | None = None
    comments: int = 0  # shown comments of the discussion (paperwire.discussion.counts)

    @property
    def day(self) -> date | None:
        """The day the paper is on the feed: a submission day, else its listing day."""
        return self.feed_day or self.listed_on

    @property
    def primary_category(self) -> str | None:
        return self.categories[0] if self.categories else None

    @property
    def abs_url(self) -> str:
        return self.links.get("abs") or f"https://arxiv.org/abs/{self.id}"

    @property
    def pdf_url(self) -> str:
        return self.links.get("pdf") or f"https://arxiv.org/pdf/{self.id}"

    @property
    def code_url(self) -> str | None:
        return self.code_links[0] if self.code_links else None


@dataclass(frozen=True, slots=True)
class PaperDetail:
    """Everything the paper page shows, beyond the card."""

    card: PaperCard
    comment: str | None
    journal_ref: str | None
    doi: str | None
    license: str | None
    updated: date | None
    external_upvotes: int
    versions: tuple[tuple[int, date | None], ...]
    hidden: bool = False  # hidden by a moderator (only moderators ever see it)


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of a ranked list, with the total for pagination."""

    items: list[PaperCard]
    total: int
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


@dataclass(frozen=True, slots=True)
class Neighbours:
    """The nearest earlier and later days that have papers (None at either end)."""

    previous: date | None
    next: date | None
