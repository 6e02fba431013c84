"""The paper page's follow buttons: one per author and category, in the viewer's state.

A per-viewer slot of the shared paper page (:data:`paperwire.web.slots.FOLLOW`):
the page is rendered once for everyone, and each logged-in viewer gets
"Follow" or "Following ✓" (a button that unfollows) beside each name.
Anonymous viewers get links to log in.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from .. import feed
from ..accounts import follows
from .cache import facts
from .slots import CSRF_MARK
from .templating import env


def _subjects(db: Any, paper_id: str) -> tuple[list[tuple[str, str]], list[str]] | bool:
    """A paper's authors (as written, folded) and categories; False for no such paper."""
    found = feed.cards_by_ids(db, [paper_id])
    if not found:
        return False
    card = found[0]
    return [(name, follows.fold(name)) for name in card.authors[:50]], list(card.categories)


def follow_controls(request: Request, paper_id: str, user: Any) -> str:
    """The buttons for ``user`` (None: anonymous) on ``paper_id``'s page."""
    db, known = request.app.state.db, facts(request.app.state)
    subjects = known.get_or_build(("follow-subjects", paper_id), lambda: _subjects(db, paper_id))
    if subjects is False:
        return ""
    names, cats = subjects
    followed = (
        known.get_or_build(("follows", user.id), lambda: follows.followed(db, user.id))
        if user is not None
        else follows.Followed()
    )
    authors = [(name, folded in followed.authors) for name, folded in names]
    categories = [(cat, cat.lower() in followed.categories) for cat in cats]
    context = {
        "request": request,
        "user": user,
        "csrf": CSRF_MARK,
        "paper_id": paper_id,
        "authors": authors,
        "categories": categories,
    }
    return env.get_template("_follow.html").render(context)
