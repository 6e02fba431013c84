"""Password hashing (argon2id) and the password policy.

argon2-cffi's defaults are RFC 9106's low-memory profile (argon2id, t=3,
m=64 MiB, p=4).  :func:`verify_dummy` spends the same work as a real check so
that a login for an unknown email takes as long as one for a known email.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .errors import ValidationError

MIN_LENGTH = 8
# An upper bound keeps a single request from costing unbounded hashing work.
MAX_LENGTH = 128

_hasher = PasswordHasher()


def check_policy(password: str) -> None:
    """Raise ValidationError unless ``password`` meets the policy."""
    if len(password) < MIN_LENGTH:
        raise ValidationError(f"Choose a password of at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise ValidationError(f"Choose a password of at most {MAX_LENGTH} characters.")
    if not password.strip():
        raise ValidationError("A password cannot be only spaces.")


def hash_password(password: str) -> str:
    """An argon2id PHC string for ``password`` (salted; never the password itself)."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (constant time for the same hash)."""
    if len(password) > MAX_LENGTH:
        verify_dummy()
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash uses older parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("paperwire-dummy-password-for-timing")


def verify_dummy() -> None:
    """Spend one verification's worth of work, for unknown accounts."""
    with contextlib.suppress(VerificationError):
        _hasher.verify(_dummy_hash(), "not-the-dummy-password")
