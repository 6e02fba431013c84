"""Account mail: address confirmations, password resets, email changes, security notices.

The accounts domain decides *what* to send and makes the signed links; this
module words the message and queues it in the outbox (in one transaction with
nothing else), where the sender delivers it like any confirmation.  Account
mail names the account (``outbox.user_id``) instead of a subscription, so it is
deleted with the account.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..config import Settings
from ..db import Database
from . import outbox
from .render import TEMPLATE_DIR, Identity, build_message

KIND = "account"

_env = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Wording:
    """One kind of account mail: subject, heading, text, and its button."""

    subject: str
    heading: str
    paragraphs: tuple[str, ...]
    action_label: str = ""
    action: str = ""  # key of the path in ``paths`` the button opens
    footnotes: tuple[str, ...] = field(default=())


WORDINGS: dict[str, Wording] = {
    "verify": Wording(
        "Confirm your Paperwire account",
        "Confirm your email address",
        (
            "Someone (hopefully you) created a Paperwire account with this address. "
            "Confirm that it is yours:",
        ),
        "Confirm my address",
        "verify",
        (
            "The link works for 7 days.",
            "If you did not sign up, ignore this message: the account stays unconfirmed "
            "and nothing else is sent.",
        ),
    ),
    "taken": Wording(
        "You already have a Paperwire account",
        "You already have an account",
        (
            "Someone (hopefully you) tried to sign up to Paperwire with this address, "
            "which already has an account, so no new account was made.",
            "If it was you, log in: {login}",
            "Forgot your password? Choose a new one:",
        ),
        "Choose a new password",
        "reset",
        (
            "The link works for one hour and only once.",
            "If it was not you, ignore this message: nothing has changed.",
        ),
    ),
    "reset": Wording(
        "Choose a new Paperwire password",
        "Choose a new password",
        ("Someone (hopefully you) asked to reset the password of your Paperwire account.",),
        "Choose a new password",
        "reset",
        (
            "The link works for one hour and only once.",
            "If you did not ask for this, ignore this message: your password stays as it is.",
        ),
    ),
    "confirm_then_reset": Wording(
        "Confirm your address to reset your Paperwire password",
        "Confirm your address first",
        (
            "Someone (hopefully you) asked to reset the password of the Paperwire account "
            "with this address, which has not been confirmed yet. Confirm it, and you "
            "can choose a new password right away:",
        ),
        "Confirm and choose a password",
        "reset",
        (
            "The link works for 7 days.",
            "If you did not ask for this, ignore this message: nothing has changed.",
        ),
    ),
    "email_change": Wording(
        "Confirm your new Paperwire email address",
        "Confirm your new address",
        (
            "Someone (hopefully you) asked to use this address for their Paperwire "
            "account. Confirm it to make the change:",
        ),
        "Use this address",
        "confirm",
        (
            "The link works for 24 hours and only once.",
            "If you did not ask for this, ignore this message: nothing changes.",
        ),
    ),
    "email_changed": Wording(
        "The email address of your Paperwire account was changed",
        "Your address was changed",
        (
            "The Paperwire account of this address now uses {new}. Mail about the "
            "account goes there from now on.",
            "If you did not make this change, contact the site's administrators.",
        ),
    ),
    "password_changed": Wording(
        "Your Paperwire password was changed",
        "Your password was changed",
        (
            "The password of your Paperwire account was just changed, and the other "
            "sessions were logged out.",
            "If you did not do this, choose a new password: {forgot}",
        ),
    ),
}


def render(
    settings: Settings, kind: str, *, user_id: int, to: str, paths: Mapping[str, str], now: datetime
) -> tuple[str, bytes]:
    """The Message-ID and bytes of one account mail.

    ``paths`` maps link names to site paths (``{"verify": "/account/verify/…"}``),
    plus ``new`` (an address) for ``email_changed``.
    """
    wording = WORDINGS[kind]
    ident = Identity(settings)
    values = {k: (ident.url(v) if v.startswith("/") else v) for k, v in paths.items()}
    values.setdefault("login", ident.url("/login"))
    values.setdefault("forgot", ident.url("/reset"))
    ctx = {
        "heading": wording.heading,
        "paragraphs": [p.format(**values) for p in wording.paragraphs],
        "action_label": wording.action_label,
        "action_url": values.get(wording.action, "") if wording.action else "",
        "footnotes": list(wording.footnotes),
        "site_url": ident.base_url,
    }
    token = secrets.token_hex(8)
    message_id = (
        f"<account-{kind.replace('_', '-')}.{user_id}.{token}.{ident.instance}@{ident.domain}>"
    )
    message = build_message(
        ident,
        to=to,
        subject=wording.subject,
        message_id=message_id,
        date=now,
        text=_env.get_template("account.txt").render(ctx),
        html=_env.get_template("account.html").render(ctx),
        headers=(("Auto-Submitted", "auto-generated"),),
    )
    return message_id, message


class OutboxAccountMail:
    """The accounts domain's mailer: renders account mail and queues it in the outbox."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def send(
        self, kind: str, *, user_id: int, to: str, paths: Mapping[str, str], now: datetime
    ) -> None:
        message_id, message = render(
            self.settings, kind, user_id=user_id, to=to, paths=paths, now=now
        )
        with self.db.begin() as conn:
            outbox.enqueue(
                conn,
                kind=KIND,
                recipient=to,
                message_id=message_id,
                message=message,
                now=now,
                user_id=user_id,
            )
