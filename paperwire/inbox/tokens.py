"""Signed links: confirm (expiring), manage and unsubscribe (per subscriber).

Tokens are signed with ``settings.secret_key`` (itsdangerous, HMAC-SHA1 by
default plus a per-purpose salt), so a token for one purpose never works for
another.  The confirmation token also carries the subscription's nonce, which
changes on every subscribe request: an old confirmation link cannot revive a
subscription that was unsubscribed since.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, Signer, URLSafeTimedSerializer

SALT_CONFIRM = "paperwire.inbox.confirm"
SALT_MANAGE = "paperwire.inbox.manage"
SALT_UNSUBSCRIBE = "paperwire.inbox.unsubscribe"


class InvalidToken(Exception):
    """The token is malformed, forged, for another purpose, or expired."""


@dataclass(frozen=True)
class ConfirmClaim:
    subscription_id: int
    nonce: str


class Tokens:
    """Make and check the three kinds of subscriber links."""

    def __init__(self, secret_key: str) -> None:
        self._confirm = URLSafeTimedSerializer(secret_key, salt=SALT_CONFIRM)
        # Plain signed ids ("42.SIGNATURE"): cheap enough to make thousands per run.
        self._manage = Signer(secret_key, salt=SALT_MANAGE)
        self._unsubscribe = Signer(secret_key, salt=SALT_UNSUBSCRIBE)

    def confirm(self, subscription_id: int, nonce: str) -> str:
        return self._confirm.dumps([subscription_id, nonce])

    def check_confirm(self, token: str, max_age: int) -> ConfirmClaim:
        try:
            sid, nonce = self._confirm.loads(token, max_age=max_age)
        except SignatureExpired as exc:
            raise InvalidToken("expired") from exc
        except (BadSignature, ValueError, TypeError) as exc:
            raise InvalidToken("invalid") from exc
        if not isinstance(sid, int) or not isinstance(nonce, str):
            raise InvalidToken("invalid")
        return ConfirmClaim(sid, nonce)

    def manage(self, subscription_id: int) -> str:
        return self._manage.sign(str(subscription_id)).decode("ascii")

    def check_manage(self, token: str) -> int:
        return self._check(self._manage, token)

    def unsubscribe(self, subscription_id: int) -> str:
        return self._unsubscribe.sign(str(subscription_id)).decode("ascii")

    def check_unsubscribe(self, token: str) -> int:
        return self._check(self._unsubscribe, token)

    @staticmethod
    def _check(signer: Signer, token: str) -> int:
        if not isinstance(token, str) or len(token) > 200 or not token.isascii():
            raise InvalidToken("invalid")
        try:
            value = signer.unsign(token).decode("ascii")
        except (BadSignature, ValueError, UnicodeError) as exc:
            raise InvalidToken("invalid") from exc
        if not value.isdigit() or len(value) > 18:
            raise InvalidToken("invalid")
        return int(value)
