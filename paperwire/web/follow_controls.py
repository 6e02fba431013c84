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
from .slots import CSRF_MARK
from .templating import env


def follow_controls(request: Request, paper_id: str, user: Any) -> str:
    """The buttons for ``user`` (None: anonymous) on ``paper_id``'s page."""
    db = request.app.state.db
    found = feed.cards_by_ids(db, [paper_id])
    if not found:
        return ""
    card = found[0]
    followed = follows.followed(db, user.id) if user is not None else follows.Followed()
    authors = [(name, follows.fold(name) in followed.authors) for name in card.authors[:50]]
    categories = [(cat, cat.lower() in followed.categories) for cat in card.categories]
    context = {
        "request": request,
        "user": user,
        "csrf": CSRF_MARK,
        "paper_id": paper_id,
        "authors": authors,
        "categories": categories,
    }
    return env.get_template("_follow.html").render(context)
