"""Pages rendered once for every viewer, with the few per-viewer holes filled per request.

What differs between two viewers of the same page is small: the form token,
the header's account menu, which cards I upvoted or saved (with the cards'
live counts) and, on a paper page, my collection form.  So a page is rendered
once with *markers* where those go (the functions below, which templates call
as globals), :func:`cut` splits the rendered page at the markers into a
:class:`SlottedPage`, which the page cache keeps, and per request
:meth:`SlottedPage.fill` joins its pieces with the viewer's values (see
:mod:`paperwire.web.views` for where those come from).

A marker describes itself (kind, part, paper id, the count it was rendered
with), so a fragment holding markers, such as a rendered card, can be reused
by any page.  Markers carry a random per-process nonce, so no catalog text can
forge one; none survives into a response.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from markupsafe import Markup

_NONCE = secrets.token_hex(8)
_SEP = "\x1f"
_MARK = re.compile(f"\x00{_NONCE}([^\x00]*)\x00")

CSRF = "c"  # the form token
NEXT = "n"  # the page's own path (where a form returns to): the same for every viewer
VOTE = "v"  # a paper's upvote form (its state, count and token)
SAVED = "s"  # a card's "saved" chip
ACCOUNT = "a"  # the header's account menu
COLLECT = "p"  # the paper page's collection form
FOLLOW = "f"  # the paper page's follow buttons (its authors and categories)
DISCUSS = "d"  # the paper page's discussion (the viewer's own forms and buttons in it)


def _marker(kind: str, part: str = "", paper_id: str = "", count: int = 0) -> Markup:
    return Markup(f"\x00{_NONCE}{kind}{_SEP}{part}{_SEP}{paper_id}{_SEP}{count}\x00")


CSRF_MARK = _marker(CSRF)
NEXT_MARK = _marker(NEXT)
CSRF_BYTES = CSRF_MARK.encode()


@dataclass(frozen=True, slots=True)
class VoteView:
    """The parts of an upvote button that depend on the count and the viewer's vote."""

    cls: Markup
    pressed: Markup
    label: str
    title: str
    count: str


@lru_cache(maxsize=4096)
def vote_view(voted: bool | None, count: int) -> VoteView:
    """The upvote button's state; ``voted`` is None when unknown (an anonymous viewer)."""
    label = f"{count} upvote{'' if count == 1 else 's'}" + (" (you upvoted)" if voted else "")
    return VoteView(
        cls=Markup(" is-voted" if voted else ""),
        pressed=Markup("" if voted is None else f' aria-pressed="{"true" if voted else "false"}"'),
        label=label,
        title="Remove your upvote" if voted else "Upvote",
        count=str(count),
    )


def vote_mark(card: Any, size: str = "") -> Markup:
    """A paper's upvote form (``size``: "" or "large")."""
    return _marker(VOTE, size, card.id, card.upvotes)


def saved_mark(card: Any) -> Markup:
    """A card's "saved" chip (empty unless the viewer saved the paper)."""
    return _marker(SAVED, "", card.id)


def account_mark() -> Markup:
    """The header's account menu (log in, or my name and log out)."""
    return _marker(ACCOUNT)


def collect_mark(paper_id: str) -> Markup:
    """The paper page's "save to a collection" control."""
    return _marker(COLLECT, "", paper_id)


def follow_mark(paper_id: str) -> Markup:
    """The paper page's "follow" buttons for its authors and categories."""
    return _marker(FOLLOW, "", paper_id)


def discuss_mark(paper_id: str) -> Markup:
    """The paper page's discussion (see :mod:`paperwire.web.discussion`)."""
    return _marker(DISCUSS, "", paper_id)


@dataclass(frozen=True, slots=True)
class Slot:
    """One hole in a shared page: ``kind`` (and ``part``) for paper ``paper_id``."""

    kind: str
    part: str = ""  # the size of an upvote form
    paper_id: str = ""
    count: int = 0  # the paper's upvotes when the page was rendered


@lru_cache(maxsize=16384)
def _slot(text: str) -> Slot:
    kind, part, paper_id, count = text.split(_SEP)
    return Slot(kind, part, paper_id, int(count))


@dataclass(frozen=True, slots=True)
class SlottedPage:
    """A page as every viewer shares it: static pieces and :class:`Slot` holes.

    ``anonymous`` is the page as anonymous viewers see it, cut only where the
    form token goes.  ``paper_ids`` are the papers whose votes the page shows;
    ``own_parts`` the ``(kind, paper id)`` of its other per-viewer parts (a
    paper page's collection form, follow buttons and discussion); ``path`` is
    the page's own path (escaped), where its forms return to.
    """

    parts: tuple[bytes | Slot, ...]
    anonymous: tuple[bytes, ...]
    paper_ids: tuple[str, ...]
    own_parts: tuple[tuple[str, str], ...]
    path: bytes
    cacheable = True

    def for_anonymous(self, token: bytes) -> bytes:
        return token.join(self.anonymous)

    def fill(self, value: Callable[[Slot], bytes]) -> bytes:
        """The page with every hole replaced by ``value(slot)``."""
        return b"".join(part if type(part) is bytes else value(part) for part in self.parts)


def cut(
    html: str,
    path: str,
    anonymous: Callable[[Slot], bytes | tuple[bytes, bytes]],
) -> SlottedPage:
    """Split a page rendered with markers into a :class:`SlottedPage`.

    ``anonymous(slot)`` is what an anonymous viewer sees in a hole: bytes, or
    ``(before, after)`` around their form token (an upvote form).  ``path``
    (escaped) fills the :data:`NEXT` markers: the same for every viewer.
    """
    pieces = _MARK.split(html)
    parts: list[bytes | Slot] = []
    text: list[str] = []  # static text since the last hole
    ids: dict[str, None] = {}
    own: dict[tuple[str, str], None] = {}
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            text.append(piece)
            continue
        slot = _slot(piece)
        if slot.kind == NEXT:
            text.append(path)
            continue
        if text:
            parts.append("".join(text).encode())
            text = []
        parts.append(slot)
        if slot.kind in (VOTE, SAVED):
            ids[slot.paper_id] = None
        elif slot.kind in (COLLECT, FOLLOW, DISCUSS):
            own[(slot.kind, slot.paper_id)] = None
    if text:
        parts.append("".join(text).encode())
    # The page as anonymous viewers see it, cut where their form token goes.
    shown: list[bytes] = []
    chunk: list[bytes] = []
    for part in parts:
        if type(part) is bytes:
            chunk.append(part)
        elif part.kind == CSRF:
            shown.append(b"".join(chunk))
            chunk = []
        else:
            value = anonymous(part)
            if isinstance(value, tuple):
                shown.append(b"".join((*chunk, value[0])))
                chunk = [value[1]]
            else:
                chunk.append(value)
    shown.append(b"".join(chunk))
    return SlottedPage(
        parts=tuple(parts),
        anonymous=tuple(shown),
        paper_ids=tuple(ids),
        own_parts=tuple(own),
        path=path.encode(),
    )


def with_token(fragment: str, token: bytes) -> bytes:
    """A per-viewer fragment rendered with form-token markers, with the viewer's token."""
    return fragment.encode().replace(CSRF_BYTES, token)


def form_pieces(html: str) -> tuple[bytes, bytes, bytes]:
    """A form rendered with one form-token and one return-path marker, cut at both."""
    before, _, rest = html.partition(CSRF_MARK)
    between, _, after = rest.partition(NEXT_MARK)
    return before.encode(), between.encode(), after.encode()
