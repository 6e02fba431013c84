"""The normalised paper record that every source yields and the catalog stores."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

from .codelinks import find_code_links, http_url, http_urls
from .ids import is_arxiv_category
from .text import clean_abstract, clean_optional, clean_title


@dataclass
class FeedSubmission:
    """A paper put on a day's feed (Hugging Face Daily Papers or a local user)."""

    day: date
    submitter: str | None = None
    source: str = "hf"


@dataclass
class PaperRecord:
    """One paper as a source sees it.  ``None`` means "this source does not know".

    Sources fill what they have; :mod:`paperwire.catalog.store` merges records
    into the catalog (a newer version wins, unknown fields never erase known ones).
    """

    id: str
    title: str
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    version: int | None = None
    categories: list[str] = field(default_factory=list)  # primary first
    submitted: date | None = None
    updated: date | None = None
    listed_on: date | None = None
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    license: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    code_links: list[str] = field(default_factory=list)
    project_page: str | None = None
    external_upvotes: int | None = None
    versions: list[tuple[int, date | None]] = field(default_factory=list)
    feed_submission: FeedSubmission | None = None

    def normalise(self) -> PaperRecord:
        """Clean text fields and derive code links; returns self for chaining."""
        self.title = clean_title(self.title)
        self.abstract = clean_abstract(self.abstract)
        self.authors = [a for a in (" ".join(str(x).split()) for x in self.authors) if a]
        # Only arXiv categories: MSC and ACM classes listed among them are dropped.
        cleaned = (c.strip() for c in self.categories)
        self.categories = list(dict.fromkeys(c for c in cleaned if is_arxiv_category(c)))
        self.comment = clean_optional(self.comment)
        self.journal_ref = clean_optional(self.journal_ref)
        self.doi = clean_optional(self.doi)
        self.license = clean_optional(self.license)
        derived = find_code_links(self.abstract, self.comment)
        given = http_urls(self.code_links)  # sources are not trusted: web links only
        seen = {c.lower() for c in given}
        self.code_links = given + [c for c in derived if c.lower() not in seen]
        self.project_page = http_url(self.project_page)
        if not self.links:
            self.links = default_links(self.id)
        return self

    @property
    def primary_category(self) -> str | None:
        return self.categories[0] if self.categories else None


def default_links(arxiv_id: str) -> dict[str, str]:
    return {
        "abs": f"https://arxiv.org/abs/{arxiv_id}",
        "pdf": f"https://arxiv.org/pdf/{arxiv_id}",
    }


def content_hash(title: str, abstract: str, authors: list[str]) -> str:
    """Hash of what search indexes and embeddings are computed from."""
    h = hashlib.blake2b(digest_size=16)
    for part in (title, abstract, "\x1f".join(authors)):
        h.update(part.encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()
