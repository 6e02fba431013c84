"""Signed links in account mail: confirm an address, reset a password, change the email.

Each link is an itsdangerous timed signature (with the installation's secret and
a per-purpose salt, so a link for one purpose never works for another) over
the account's id and the state the link may change:

- *verify* carries the address it confirms: once the account's address is
  another one, the link is dead;
- *reset* carries a fingerprint of the current password hash: setting a new
  password changes the hash (salted, so even the same password), which makes
  the link single-use and kills every older reset link too;
- *email* carries the old and the new address: after the change the old one
  no longer matches, so the link works once.

So links are single-use without a table of used tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

VERIFY_MAX_AGE = timedelta(days=7)
RESET_MAX_AGE = timedelta(hours=1)
EMAIL_MAX_AGE = timedelta(hours=24)
MAX_TOKEN = 600


class InvalidLink(Exception):
    """The link is malformed, forged, for another purpose, or expired."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


@dataclass(frozen=True)
class VerifyClaim:
    user_id: int
    email: str
    then: str  # "" or "reset": after confirming, go on to choose a password


@dataclass(frozen=True)
class ResetClaim:
    user_id: int
    fingerprint: str


@dataclass(frozen=True)
class EmailClaim:
    user_id: int
    old: str
    new: str


class AccountLinks:
    """Make and check the three kinds of account links."""

    def __init__(self, secret_key: str, *, clock: Callable[[], float] = time.time) -> None:
        """``clock`` (seconds since the epoch) dates new links and checks their age."""

        class Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        def serializer(purpose: str) -> URLSafeTimedSerializer:
            return URLSafeTimedSerializer(
                secret_key, salt=f"paperwire.accounts.{purpose}", signer=Signer
            )

        self._secret = secret_key.encode()
        self._verify = serializer("verify")
        self._reset = serializer("reset")
        self._email = serializer("email")

    def fingerprint(self, password_hash: str) -> str:
        """A keyed digest of the password hash (the link never carries the hash)."""
        return hmac.new(self._secret, password_hash.encode(), hashlib.sha256).hexdigest()[:24]

    def verify(self, user_id: int, email: str, then: str = "") -> str:
        return self._verify.dumps([user_id, email, then])

    def reset(self, user_id: int, password_hash: str) -> str:
        return self._reset.dumps([user_id, self.fingerprint(password_hash)])

    def email(self, user_id: int, old: str, new: str) -> str:
        return self._email.dumps([user_id, old, new])

    def check_verify(self, token: str) -> VerifyClaim:
        uid, email, then = _load(self._verify, token, VERIFY_MAX_AGE, 3)
        if not isinstance(email, str) or then not in ("", "reset"):
            raise InvalidLink()
        return VerifyClaim(uid, email, then)

    def check_reset(self, token: str) -> ResetClaim:
        uid, fingerprint = _load(self._reset, token, RESET_MAX_AGE, 2)
        if not isinstance(fingerprint, str):
            raise InvalidLink()
        return ResetClaim(uid, fingerprint)

    def check_email(self, token: str) -> EmailClaim:
        uid, old, new = _load(self._email, token, EMAIL_MAX_AGE, 3)
        if not isinstance(old, str) or not isinstance(new, str):
            raise InvalidLink()
        return EmailClaim(uid, old, new)

    def reset_matches(self, claim: ResetClaim, password_hash: str | None) -> bool:
        return password_hash is not None and hmac.compare_digest(
            claim.fingerprint, self.fingerprint(password_hash)
        )


def _load(serializer: URLSafeTimedSerializer, token: str, max_age: timedelta, size: int) -> list:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN or not token.isascii():
        raise InvalidLink()
    try:
        value = serializer.loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired as exc:
        raise InvalidLink(expired=True) from exc
    except (BadSignature, ValueError, TypeError) as exc:
        raise InvalidLink() from exc
    if not isinstance(value, list) or len(value) != size:
        raise InvalidLink()
    if not isinstance(value[0], int) or isinstance(value[0], bool):
        raise InvalidLink()
    return value
