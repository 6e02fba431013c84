"""The paper page's discussion, as one viewer sees it (the :data:`~.slots.DISCUSS` slot).

The thread itself is public, but what surrounds each comment is not: my reply
and edit forms, my delete buttons, a moderator's remove buttons.  So the
section is rendered per logged-in viewer (one indexed query and cached
Markdown renderings), with form-token markers that the caller fills in, and
once for anonymous viewers inside the shared page (which every commit clears).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from ..discussion import comments
from .cache import facts
from .markdown import render as render_markdown
from .slots import CSRF_MARK
from .templating import env


def count_shown(items: list[comments.Comment]) -> int:
    """Visible comments in a (pruned) tree."""
    return sum(int(c.visible) + count_shown(c.replies) for c in items)


def thread_html(request: Request, paper_id: str, user: Any) -> str:
    """The discussion section of ``paper_id`` for ``user`` (None: anonymous)."""
    db = request.app.state.db
    tree = facts(request.app.state).get_or_build(
        ("thread", paper_id), lambda: comments.thread(db, paper_id)
    )
    context = {
        "request": request,
        "user": user,
        "csrf": CSRF_MARK,
        "paper_id": paper_id,
        "comments": tree,
        "count": count_shown(tree),
        "markdown": render_markdown,
        "max_body": comments.MAX_BODY,
        "unverified": comments.UNVERIFIED,
    }
    return env.get_template("_comments.html").render(context)
