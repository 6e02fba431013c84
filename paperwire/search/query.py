r"""The search box's query language, parsed without ever raising.

Syntax (anything else is plain words):

- ``word word``            ranked words (BM25 over title, abstract, authors + semantic match)
- ``"exact phrase"``       the phrase must occur (title or abstract)
- ``author:hinton``, ``author:"Geoffrey Hinton"`` (alias ``au:``)   must be an author
- ``title:word``, ``title:"a phrase"`` (alias ``ti:``)              must be in the title
- ``cat:cs.CL`` or ``cat:cs`` (alias ``category:``)                 category or archive filter
- ``-word``, ``-"phrase"``, ``-author:x``, ``-cat:x``               exclude
- ``like:2401.10241``      papers like that one, by meaning ("more like this")
- an arXiv id or arXiv / Hugging Face paper URL                     direct look-up

Words without a letter or digit (``((((``, ``*``, ``\``) are dropped, so
punctuation alone is an empty query.

The parser is engine-agnostic (tantivy now, PostgreSQL later): it only splits
the text into clauses.  Malformed input (unbalanced quotes, empty fields,
control characters, lone surrogates, huge strings) is repaired and explained in
``messages`` instead of raising, because the input comes straight from users.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from ..catalog.ids import parse_arxiv_id

MAX_QUERY_CHARS = 1000
MAX_CLAUSES = 32

FIELD_ALIASES = {
    "author": "author",
    "authors": "author",
    "au": "author",
    "cat": "cat",
    "category": "cat",
    "categories": "cat",
    "title": "title",
    "ti": "title",
    "like": "like",
}

_FIELD_RE = re.compile(r"^([A-Za-z]+):(.*)$", re.DOTALL)
_CATEGORY_RE = re.compile(r"^[a-z][a-z\-]*(\.[a-z\-]+)?$")


@dataclass(frozen=True)
class Clause:
    """One constraint: ``field`` is ``text``, ``title``, ``author`` or ``cat``."""

    field: str
    value: str
    phrase: bool = False


@dataclass(frozen=True)
class ParsedQuery:
    """A query split into ranked words, required and excluded clauses."""

    raw: str
    terms: tuple[str, ...] = ()
    required: tuple[Clause, ...] = ()
    excluded: tuple[Clause, ...] = ()
    categories: tuple[str, ...] = ()
    direct_id: str | None = None
    like: str | None = None  # an arXiv id: rank by closeness to that paper
    messages: tuple[str, ...] = field(default=())

    @property
    def semantic_text(self) -> str:
        """What the encoder embeds: the words and phrases, without operators."""
        parts = list(self.terms)
        parts += [c.value for c in self.required if c.field in ("text", "title")]
        return " ".join(parts).strip()

    @property
    def has_text(self) -> bool:
        """True when there is something to rank by relevance (words, phrases, ``like:``)."""
        return bool(self.semantic_text or self.like)

    @property
    def is_empty(self) -> bool:
        """No words and no constraints: the query only lists (filtered) papers."""
        return not (
            self.terms
            or self.required
            or self.excluded
            or self.categories
            or self.like
            or self.direct_id
        )


def clean_text(text: object) -> str:
    """Make any input safe for the engines: a str, valid UTF-8, printable, bounded."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    # Lone surrogates cannot cross into Rust or SQLite: replace them.
    text = text.encode("utf-8", "replace").decode("utf-8", "replace")
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch if ch.isprintable() else " " for ch in text)


def normalise_category(value: str) -> str | None:
    """``cs.CL`` -> ``cs.cl``; ``None`` for text that cannot be a category."""
    value = value.strip().lower()
    return value if _CATEGORY_RE.match(value) else None


def _tokens(text: str, messages: list[str]) -> list[tuple[bool, str | None, str, bool]]:
    """Split into ``(negated, field, value, quoted)`` tokens."""
    out: list[tuple[bool, str | None, str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        negated = False
        if ch == "-" and i + 1 < n and (text[i + 1].isalpha() or text[i + 1] == '"'):
            negated = True
            i += 1
        # A bare word, possibly "field:" followed by a word or a quoted phrase.
        start = i
        while i < n and not text[i].isspace() and text[i] != '"':
            i += 1
        word = text[start:i]
        fld: str | None = None
        match = _FIELD_RE.match(word)
        if match and match.group(1).lower() in FIELD_ALIASES:
            fld = FIELD_ALIASES[match.group(1).lower()]
            word = match.group(2)
        quoted = False
        if i < n and text[i] == '"' and word == "":
            end = text.find('"', i + 1)
            if end < 0:
                messages.append("unbalanced quote ignored")
                word = text[i + 1 :]
                i = n
                # Unquoted remainder: split into words with the same prefix.
                for part in word.split():
                    out.append((negated, fld, part, False))
                continue
            word = text[i + 1 : end]
            i = end + 1
            quoted = True
        if not word.strip():
            if fld is not None:
                messages.append(f"empty {fld}: ignored")
            continue
        out.append((negated, fld, word, quoted))
    return out


def parse_query(text: object) -> ParsedQuery:
    """Parse user input; never raises."""
    messages: list[str] = []
    text = clean_text(text)
    if len(text) > MAX_QUERY_CHARS:
        text = text[:MAX_QUERY_CHARS]
        messages.append(f"query shortened to {MAX_QUERY_CHARS} characters")
    stripped = text.strip()
    parsed_id = parse_arxiv_id(stripped) if stripped else None
    if parsed_id is not None:
        return ParsedQuery(raw=stripped, direct_id=parsed_id[0])

    terms: list[str] = []
    required: list[Clause] = []
    excluded: list[Clause] = []
    categories: list[str] = []
    like: str | None = None
    for negated, fld, value, quoted in _tokens(stripped, messages):
        value = " ".join(value.split())
        if fld == "like":
            found = parse_arxiv_id(value)
            if found is None or negated:
                messages.append(f"like: needs an arXiv id, not {value[:40]!r}")
            else:
                like = found[0]
            continue
        if fld == "cat":
            cat = normalise_category(value)
            if cat is None:
                messages.append(f"not a category: {value!r}")
                continue
            if negated:
                excluded.append(Clause("cat", cat))
            else:
                categories.append(cat)
            continue
        if not any(ch.isalnum() for ch in value):
            continue  # punctuation only ("((((", "*", "\\"): nothing to search for
        clause = Clause(fld or "text", value, phrase=quoted or " " in value)
        if negated:
            excluded.append(clause)
        elif fld is None and not quoted:
            terms.append(value)
        else:
            required.append(clause)

    total = len(terms) + len(required) + len(excluded) + len(categories)
    if total > MAX_CLAUSES:
        messages.append(f"only the first {MAX_CLAUSES} words were used")
        budget = MAX_CLAUSES
        required = required[:budget]
        budget -= len(required)
        categories = categories[: max(budget, 0)]
        budget -= len(categories)
        excluded = excluded[: max(budget, 0)]
        budget -= len(excluded)
        terms = terms[: max(budget, 0)]
    return ParsedQuery(
        raw=stripped,
        terms=tuple(terms),
        required=tuple(dict.fromkeys(required)),
        excluded=tuple(dict.fromkeys(excluded)),
        categories=tuple(dict.fromkeys(categories)),
        like=like,
        messages=tuple(dict.fromkeys(messages)),
    )
