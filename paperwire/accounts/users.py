"""Users: sign-up and password login.

Emails are normalised (email-validator, no DNS lookups) and lower-cased, so one
mailbox is one account.  Login never says whether an email is registered: an
unknown email costs the same argon2 work as a wrong password and yields the
same ``None``.

Sign-up of an email that already has an account cannot be made fully silent
without confirmation mails, so :func:`sign_up` does the next best thing: if the
password is that account's password, it is a login (the same outcome as a new
account); otherwise it raises :class:`EmailTaken` with a message that points to
the login page.  The web layer rate-limits sign-ups per address like logins, so
this oracle is no cheaper than guessing passwords at the login form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..db import Database
from ..db.schema.accounts import users
from .clock import as_utc
from .errors import ValidationError
from .passwords import (
    check_policy,
    hash_password,
    needs_rehash,
    verify_dummy,
    verify_password,
)

MAX_DISPLAY_NAME = 60


@dataclass(frozen=True)
class User:
    """A registered user (never carries the password hash)."""

    id: int
    email: str
    display_name: str
    created_at: datetime

    @property
    def name(self) -> str:
        """What to show for this user: the display name, else the email's local part."""
        return self.display_name or self.email.split("@", 1)[0]


class EmailTaken(ValidationError):
    """Sign-up with an email that already has an account (and not its password)."""


def normalise_email(raw: str) -> str:
    """The canonical, lower-cased form of ``raw``; ValidationError if it is no email."""
    text = (raw or "").strip()
    if not text or len(text) > 320:
        raise ValidationError("Enter a valid email address.")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError("Enter a valid email address.") from exc
    return result.normalized.lower()


def _clean_display_name(raw: str | None) -> str:
    name = " ".join((raw or "").split())
    if len(name) > MAX_DISPLAY_NAME:
        raise ValidationError(f"Choose a display name of at most {MAX_DISPLAY_NAME} characters.")
    return name


def user_from_row(row: Row) -> User:
    return User(
        id=row.id,
        email=row.email,
        display_name=row.display_name or "",
        created_at=as_utc(row.created_at),
    )


def get_user(db: Database, user_id: int) -> User | None:
    """The user with ``user_id``, or None."""
    with db.connect() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return user_from_row(row) if row else None


def get_user_by_email(db: Database, email: str) -> User | None:
    """The user registered with ``email`` (any spelling that normalises to it), or None."""
    try:
        email = normalise_email(email)
    except ValidationError:
        return None
    with db.connect() as conn:
        row = conn.execute(select(users).where(users.c.email == email)).first()
    return user_from_row(row) if row else None


def count_users(db: Database) -> int:
    with db.connect() as conn:
        return conn.execute(select(func.count()).select_from(users)).scalar_one()


def create_user(
    db: Database, email: str, password: str, *, now: datetime, display_name: str = ""
) -> User:
    """Register a new user; EmailTaken if the email is registered already."""
    email = normalise_email(email)
    check_policy(password)
    name = _clean_display_name(display_name)
    password_hash = hash_password(password)
    try:
        with db.begin() as conn:
            result = conn.execute(
                insert(users).values(
                    email=email,
                    password_hash=password_hash,
                    display_name=name,
                    created_at=as_utc(now),
                )
            )
            new_id = result.inserted_primary_key[0]
    except IntegrityError as exc:
        raise EmailTaken(
            "This email address cannot be used to sign up. If you already have an "
            "account, log in instead."
        ) from exc
    return User(id=new_id, email=email, display_name=name, created_at=as_utc(now))


def authenticate(db: Database, email: str, password: str) -> User | None:
    """The user whose email and password these are, or None (same cost either way)."""
    try:
        email = normalise_email(email)
    except ValidationError:
        verify_dummy()
        return None
    with db.connect() as conn:
        row = conn.execute(select(users).where(users.c.email == email)).first()
    if row is None:
        verify_dummy()
        return None
    if not verify_password(row.password_hash, password):
        return None
    if needs_rehash(row.password_hash):
        with db.begin() as conn:
            conn.execute(
                update(users)
                .where(users.c.id == row.id)
                .values(password_hash=hash_password(password))
            )
    return user_from_row(row)


def sign_up(
    db: Database, email: str, password: str, *, now: datetime, display_name: str = ""
) -> User:
    """Create an account, or log in when it exists and the password is its password.

    Raises ValidationError for bad input and EmailTaken for an existing email
    with another password.
    """
    email = normalise_email(email)
    check_policy(password)
    _clean_display_name(display_name)
    existing = get_user_by_email(db, email)
    if existing is not None:
        user = authenticate(db, email, password)
        if user is None:
            raise EmailTaken(
                "This email address cannot be used to sign up. If you already have an "
                "account, log in instead."
            )
        return user
    return create_user(db, email, password, now=now, display_name=display_name)
