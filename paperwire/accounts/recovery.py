"""The account lifecycle by email: confirm the address, reset the password, change the email.

These flows decide which mail to send and make its signed link
(:mod:`paperwire.accounts.links`); a :class:`Mailer` (the inbox's outbox in
the app) words and delivers it.  Rules:

- sign-up answers alike for new and taken addresses: a new account gets a
  confirmation link, an existing one a "you already have an account" mail with
  a way to choose a new password;
- mail to an unconfirmed address is only ever a confirmation: a reset request
  for an unconfirmed account sends a link that confirms the address and then
  leads to the new-password form (so nobody can use the site to send other
  mail to an address that never agreed to it);
- at most ``MAIL_ADDRESS`` account mails per address and hour; beyond that
  nothing is sent and the caller cannot tell;
- a reset ends every session and revokes every API token (whoever knew the old
  password may have made some); a password change ends the other sessions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from ..config import Settings
from ..db import Database
from . import ratelimit, sessions, tokens, users
from .errors import NotFound, ValidationError
from .links import AccountLinks, InvalidLink
from .users import SignUp, User

VERIFY_PATH = "/account/verify/"
RESET_PATH = "/reset/"
EMAIL_PATH = "/account/email/"


class Mailer(Protocol):
    """Where account mail goes (``paperwire.inbox.account_mail.OutboxAccountMail``)."""

    def send(
        self, kind: str, *, user_id: int, to: str, paths: Mapping[str, str], now: datetime
    ) -> None: ...


def links(settings: Settings) -> AccountLinks:
    return AccountLinks(settings.secret_key)


def _mail(
    db: Database,
    settings: Settings,
    mailer: Mailer,
    kind: str,
    user: User,
    paths: Mapping[str, str],
    now: datetime,
    *,
    to: str | None = None,
) -> bool:
    """Send unless the address had its share of account mail this hour."""
    address = to or user.email
    limit = ratelimit.configured(settings, ratelimit.MAIL_ADDRESS)
    key = mail_key(settings, address)
    if not ratelimit.allowed(db, limit, key, now=now):
        return False
    ratelimit.record(db, [(limit, key)], now=now)
    mailer.send(kind, user_id=user.id, to=address, paths=paths, now=now)
    return True


def mail_key(settings: Settings, address: str) -> str:
    return ratelimit.key_for(settings.secret_key, "mail:" + address)


def _reset_path(db: Database, settings: Settings, user: User) -> str:
    """A path that lets the mailbox's owner choose a password (confirming it first if needed)."""
    link = links(settings)
    if user.verified:
        stored = users.password_hash_of(db, user.id) or ""
        return RESET_PATH + link.reset(user.id, stored)
    return VERIFY_PATH + link.verify(user.id, user.email, then="reset")


def send_verification(
    db: Database, settings: Settings, mailer: Mailer, user: User, *, now: datetime
) -> bool:
    """(Re)send the confirmation link for the user's address."""
    if user.verified:
        return False
    path = VERIFY_PATH + links(settings).verify(user.id, user.email)
    return _mail(db, settings, mailer, "verify", user, {"verify": path}, now)


def after_sign_up(
    db: Database, settings: Settings, mailer: Mailer, outcome: SignUp, *, now: datetime
) -> None:
    """The mail a sign-up sends: a confirmation, or "you already have an account"."""
    if outcome.created:
        send_verification(db, settings, mailer, outcome.user, now=now)
    elif not outcome.user.banned:
        paths = {"reset": _reset_path(db, settings, outcome.user)}
        _mail(db, settings, mailer, "taken", outcome.user, paths, now)


def request_reset(
    db: Database, settings: Settings, mailer: Mailer, email: str, *, now: datetime
) -> None:
    """Mail a way to choose a new password, if ``email`` has an account (silent otherwise)."""
    user = users.get_user_by_email(db, email)
    if user is None or user.banned:
        return
    kind = "reset" if user.verified else "confirm_then_reset"
    _mail(db, settings, mailer, kind, user, {"reset": _reset_path(db, settings, user)}, now)


def user_for_reset(db: Database, settings: Settings, token: str) -> User:
    """The account a reset link is for; InvalidLink if it is forged, expired or used."""
    claim = links(settings).check_reset(token)
    user = users.get_user(db, claim.user_id)
    if user is None or user.banned:
        raise InvalidLink()
    if not links(settings).reset_matches(claim, users.password_hash_of(db, user.id)):
        raise InvalidLink()
    return user


def reset_password(
    db: Database, settings: Settings, token: str, password: str, *, now: datetime
) -> User:
    """Set a new password through a reset link (which then stops working)."""
    user = user_for_reset(db, settings, token)
    users.set_password(db, user.id, password, verify_email=True, now=now)
    sessions.delete_user_sessions(db, user.id)
    tokens.revoke_all(db, user.id)
    fresh = users.get_user(db, user.id)
    assert fresh is not None
    return fresh


def confirm_address(
    db: Database, settings: Settings, token: str, *, now: datetime
) -> tuple[User, str]:
    """Confirm the address a link names: ``(user, then)``; InvalidLink if it no longer can.

    ``then`` is ``"reset"`` when the link was sent for a password reset: the
    caller continues with :func:`reset_path_after_confirm`.
    """
    claim = links(settings).check_verify(token)
    confirmed = users.mark_verified(db, claim.user_id, claim.email, now=now)
    # Confirming twice is harmless; but a "confirm, then reset" link leads to a new
    # password only once, or it would be a reset link that lasts seven days.
    if confirmed is None or (claim.then == "reset" and not confirmed):
        raise InvalidLink()
    user = users.get_user(db, claim.user_id)
    if user is None or user.banned:
        raise InvalidLink()
    return user, claim.then


def reset_path_after_confirm(db: Database, settings: Settings, user: User) -> str:
    """Where a confirmed "confirm, then reset" link continues: a fresh reset link."""
    stored = users.password_hash_of(db, user.id) or ""
    return RESET_PATH + links(settings).reset(user.id, stored)


def request_email_change(
    db: Database,
    settings: Settings,
    mailer: Mailer,
    user: User,
    new_email: str,
    *,
    now: datetime,
) -> str:
    """Mail a confirmation link to ``new_email``; the change happens when it is followed.

    The caller has checked the password.  Returns the normalised new address.
    Whether ``new_email`` has an account is not revealed here: the link then
    fails when followed, to its owner.
    """
    new = users.normalise_email(new_email)
    if new == user.email:
        raise ValidationError("That is your address already.")
    path = EMAIL_PATH + links(settings).email(user.id, user.email, new)
    _mail(db, settings, mailer, "email_change", user, {"confirm": path}, now, to=new)
    return new


def confirm_email_change(
    db: Database, settings: Settings, mailer: Mailer, token: str, *, now: datetime
) -> User:
    """Apply an email change from its link; tells the old address if it was confirmed."""
    claim = links(settings).check_email(token)
    before = users.get_user(db, claim.user_id)
    if before is None or before.banned:
        raise InvalidLink()
    try:
        user = users.change_email(db, claim.user_id, claim.old, claim.new, now=now)
    except NotFound as exc:
        raise InvalidLink() from exc
    if before.verified:
        _mail(db, settings, mailer, "email_changed", before, {"new": user.email}, now)
    return user


def change_password(
    db: Database,
    settings: Settings,
    mailer: Mailer,
    user: User,
    current: str,
    new: str,
    *,
    keep_session: str | None,
    now: datetime,
) -> None:
    """Change the password (confirmed by the current one); other sessions are logged out."""
    if not users.check_password(db, user.id, current):
        raise ValidationError("The current password is not correct.")
    users.set_password(db, user.id, new)
    sessions.delete_user_sessions(db, user.id, keep=keep_session)
    if user.verified:
        _mail(db, settings, mailer, "password_changed", user, {}, now)
