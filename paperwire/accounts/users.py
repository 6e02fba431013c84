"""Users: sign-up, password login, email verification, roles, password and email changes.

Emails are normalised (email-validator, no DNS lookups) and lower-cased, so one
mailbox is one account.  Nothing here tells a caller's *client* whether an email
is registered:

- login: an unknown email costs the same argon2 work as a wrong password and
  yields the same ``None``;
- sign-up: :func:`sign_up` returns a :class:`SignUp` whose ``created`` says
  which mail to send (a confirmation link to a new account, a "you already have
  an account" notice to an existing one); the web layer answers both alike.
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
from .errors import NotFound, ValidationError
from .passwords import (
    check_policy,
    hash_password,
    needs_rehash,
    verify_dummy,
    verify_password,
)

MAX_DISPLAY_NAME = 60
ROLES = ("user", "moderator", "admin")
TAKEN = "This email address cannot be used. If it is yours, log in or reset your password."


@dataclass(frozen=True)
class User:
    """A registered user (never carries the password hash)."""

    id: int
    email: str
    display_name: str
    created_at: datetime
    email_verified_at: datetime | None = None
    role: str = "user"
    banned_at: datetime | None = None

    @property
    def name(self) -> str:
        """What to show for this user: the display name, else the email's local part."""
        return self.display_name or self.email.split("@", 1)[0]

    @property
    def verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def banned(self) -> bool:
        return self.banned_at is not None

    @property
    def is_moderator(self) -> bool:
        """Moderators and admins may hide papers, remove submissions and ban users."""
        return self.role in ("moderator", "admin") and not self.banned

    @property
    def is_admin(self) -> bool:
        return self.role == "admin" and not self.banned


class EmailTaken(ValidationError):
    """The email already belongs to an account (never shown to the requester as such)."""


@dataclass(frozen=True)
class SignUp:
    """The outcome of a sign-up: ``created`` False means ``user`` existed before."""

    user: User
    created: bool


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


def clean_display_name(raw: str | None) -> str:
    name = " ".join((raw or "").split())
    if len(name) > MAX_DISPLAY_NAME:
        raise ValidationError(f"Choose a display name of at most {MAX_DISPLAY_NAME} characters.")
    return name


def user_from_row(row: Row) -> User:
    m = row._mapping
    verified = m.get("email_verified_at")
    banned = m.get("banned_at")
    return User(
        id=m["id"],
        email=m["email"],
        display_name=m["display_name"] or "",
        created_at=as_utc(m["created_at"]),
        email_verified_at=as_utc(verified) if verified else None,
        role=m.get("role") or "user",
        banned_at=as_utc(banned) if banned else None,
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


def require_user(db: Database, email_or_id: str | int) -> User:
    """The user named by an email or a numeric id; NotFound otherwise (for the CLI)."""
    user = None
    if isinstance(email_or_id, int) or str(email_or_id).isdigit():
        user = get_user(db, int(email_or_id))
    if user is None:
        user = get_user_by_email(db, str(email_or_id))
    if user is None:
        raise NotFound(f"No user {email_or_id!s}.")
    return user


def count_users(db: Database) -> int:
    with db.connect() as conn:
        return conn.execute(select(func.count()).select_from(users)).scalar_one()


def list_users(db: Database, *, limit: int = 1000, offset: int = 0) -> list[User]:
    """Users, oldest first."""
    with db.connect() as conn:
        rows = conn.execute(select(users).order_by(users.c.id).limit(limit).offset(offset)).all()
    return [user_from_row(r) for r in rows]


def password_hash_of(db: Database, user_id: int) -> str | None:
    """The stored hash (to bind reset links to it; never shown)."""
    with db.connect() as conn:
        return conn.execute(
            select(users.c.password_hash).where(users.c.id == user_id)
        ).scalar_one_or_none()


def create_user(
    db: Database,
    email: str,
    password: str,
    *,
    now: datetime,
    display_name: str = "",
    role: str = "user",
    verified: bool = False,
) -> User:
    """Register a new user; EmailTaken if the email is registered already."""
    email = normalise_email(email)
    check_policy(password)
    name = clean_display_name(display_name)
    if role not in ROLES:
        raise ValidationError(f"A role is one of {', '.join(ROLES)}.")
    password_hash = hash_password(password)
    verified_at = as_utc(now) if verified else None
    try:
        with db.begin() as conn:
            result = conn.execute(
                insert(users).values(
                    email=email,
                    password_hash=password_hash,
                    display_name=name,
                    created_at=as_utc(now),
                    email_verified_at=verified_at,
                    role=role,
                )
            )
            new_id = result.inserted_primary_key[0]
    except IntegrityError as exc:
        raise EmailTaken(TAKEN) from exc
    return User(
        id=new_id,
        email=email,
        display_name=name,
        created_at=as_utc(now),
        email_verified_at=verified_at,
        role=role,
    )


def authenticate(db: Database, email: str, password: str) -> User | None:
    """The user whose email and password these are, or None (same cost either way).

    A banned user is returned too (the caller refuses them with its own message:
    only someone who knows the password learns of the ban).
    """
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


def check_password(db: Database, user_id: int, password: str) -> bool:
    """Whether ``password`` is this user's (for confirming changes and deletion)."""
    stored = password_hash_of(db, user_id)
    if stored is None:
        verify_dummy()
        return False
    return verify_password(stored, password)


def sign_up(
    db: Database, email: str, password: str, *, now: datetime, display_name: str = ""
) -> SignUp:
    """Create an unconfirmed account, or report the existing one (same work either way).

    Raises ValidationError only for bad input, never because the email is taken.
    """
    email = normalise_email(email)
    check_policy(password)
    clean_display_name(display_name)
    existing = get_user_by_email(db, email)
    if existing is None:
        try:
            return SignUp(
                create_user(db, email, password, now=now, display_name=display_name), True
            )
        except EmailTaken:  # created concurrently
            existing = get_user_by_email(db, email)
            if existing is None:
                raise
    else:
        hash_password(password)  # the same argon2 work as creating the account
    return SignUp(existing, False)


def set_password(
    db: Database,
    user_id: int,
    password: str,
    *,
    verify_email: bool = False,
    now: datetime | None = None,
) -> None:
    """Store a new password (policy-checked); ``verify_email`` also confirms the address.

    A reset link proves the mailbox, so it confirms the address too.
    """
    check_policy(password)
    values: dict = {"password_hash": hash_password(password)}
    if verify_email and now is not None:
        values["email_verified_at"] = func.coalesce(users.c.email_verified_at, as_utc(now))
    with db.begin() as conn:
        conn.execute(update(users).where(users.c.id == user_id).values(**values))


def mark_verified(db: Database, user_id: int, email: str, *, now: datetime) -> bool | None:
    """Confirm ``email`` for the user if it is still their address.

    True: confirmed now; False: it was confirmed already; None: the account
    has another address (or is gone), so the link that named it is dead.
    """
    with db.begin() as conn:
        row = conn.execute(
            select(users.c.email, users.c.email_verified_at).where(users.c.id == user_id)
        ).first()
        if row is None or row.email != email:
            return None
        if row.email_verified_at is not None:
            return False
        conn.execute(
            update(users).where(users.c.id == user_id).values(email_verified_at=as_utc(now))
        )
    return True


def change_email(db: Database, user_id: int, old: str, new: str, *, now: datetime) -> User:
    """Move the account from ``old`` to ``new`` (confirmed by a link sent to ``new``).

    NotFound when the account's address is no longer ``old`` (the link was used,
    or another change happened since); EmailTaken when ``new`` has an account.
    """
    new = normalise_email(new)
    try:
        with db.begin() as conn:
            changed = conn.execute(
                update(users)
                .where(users.c.id == user_id, users.c.email == old)
                .values(email=new, email_verified_at=as_utc(now))
            ).rowcount
    except IntegrityError as exc:
        raise EmailTaken(TAKEN) from exc
    if not changed:
        raise NotFound("This link has been used already or is no longer valid.")
    user = get_user(db, user_id)
    assert user is not None
    return user


def set_display_name(db: Database, user_id: int, name: str) -> str:
    name = clean_display_name(name)
    with db.begin() as conn:
        conn.execute(update(users).where(users.c.id == user_id).values(display_name=name))
    return name


def set_role(db: Database, user_id: int, role: str) -> None:
    if role not in ROLES:
        raise ValidationError(f"A role is one of {', '.join(ROLES)}.")
    with db.begin() as conn:
        if not conn.execute(update(users).where(users.c.id == user_id).values(role=role)).rowcount:
            raise NotFound("No such user.")
