"""The opt-in "someone replied to you" email, queued in the outbox like account mail.

It names the recipient's account (``outbox.user_id``), so it goes with the
account.  At most :data:`REPLY_MAILS` per recipient and hour leave; beyond
that replies are not mailed (silently), so a busy thread cannot flood a mailbox.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..accounts import ratelimit
from ..config import Settings
from ..db import Database
from ..inbox import outbox
from ..inbox.account_mail import KIND
from ..inbox.render import TEMPLATE_DIR, Identity, build_message
from .comments import Posted

REPLY_MAILS = ratelimit.Limit("reply-mail", 20, timedelta(hours=1))
EXCERPT = 600

_env = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _excerpt(body: str) -> str:
    return body if len(body) <= EXCERPT else body[:EXCERPT].rstrip() + "…"


def send_reply(
    db: Database, settings: Settings, posted: Posted, author: str, *, now: datetime
) -> bool:
    """Queue the reply mail of ``posted`` when it has a recipient; True if queued."""
    to = posted.notify
    if to is None:
        return False
    key = ratelimit.key_for(settings.secret_key, f"reply-mail:{to.user_id}")
    if not ratelimit.allowed(db, REPLY_MAILS, key, now=now):
        return False
    ident = Identity(settings)
    comment = posted.comment
    link = ident.url(f"/papers/{comment.paper_id}#c{comment.id}")
    ctx = {
        "heading": "New reply to your comment",
        "paragraphs": [
            f"{author} replied to your comment on “{posted.paper_title}”:",
            _excerpt(comment.body),
        ],
        "action_label": "Read the discussion",
        "action_url": link,
        "footnotes": [
            "You get this because you turned on reply emails. Turn them off on your "
            f"account page: {ident.url('/account')}",
        ],
        "site_url": ident.base_url,
    }
    message_id = (
        f"<comment-reply.{to.user_id}.{secrets.token_hex(8)}.{ident.instance}@{ident.domain}>"
    )
    message = build_message(
        ident,
        to=to.email,
        subject=f"{author} replied to you on Paperwire",
        message_id=message_id,
        date=now,
        text=_env.get_template("account.txt").render(ctx),
        html=_env.get_template("account.html").render(ctx),
        headers=(("Auto-Submitted", "auto-generated"),),
    )
    with db.begin() as conn:
        outbox.enqueue(
            conn,
            kind=KIND,
            recipient=to.email,
            message_id=message_id,
            message=message,
            now=now,
            user_id=to.user_id,
        )
    ratelimit.record(db, [(REPLY_MAILS, key)], now=now)
    return True
