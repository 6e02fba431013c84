"""Signed links: confirm (expiring), manage and unsubscribe (per subscriber).

Tokens are signed with ``settings.secret_key`` (itsdangerous, HMAC-SHA1 by
default plus a per-purpose salt), so a token for one purpose never works for
another.  The confirmation token also carries the subscription's nonce, which
changes on every subscribe request: an old confirmation link cannot revive a
subscription that was unsubscribed since.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

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
        self._manage = URLSafeSerializer(secret_key, salt=SALT_MANAGE)
        self._unsubscribe = URLSafeSerializer(secret_key, salt=SALT_UNSUBSCRIBE)

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
        return self._manage.dumps(subscription_id)

    def check_manage(self, token: str) -> int:
        return self._check(self._manage, token)

    def unsubscribe(self, subscription_id: int) -> str:
        return self._unsubscribe.dumps(subscription_id)

    def check_unsubscribe(self, token: str) -> int:
        return self._check(self._unsubscribe, token)

    @staticmethod
    def _check(serializer: URLSafeSerializer, token: str) -> int:
        try:
            sid = serializer.loads(token)
        except (BadSignature, ValueError, TypeError) as exc:
            raise InvalidToken("invalid") from exc
        if not isinstance(sid, int) or isinstance(sid, bool):
            raise InvalidToken("invalid")
        return sid
