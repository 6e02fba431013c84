"""Sessions, CSRF and the current user (owned by the accounts work).

Interface used by every page and route:
- ``current_user(request) -> User | None``: the logged-in user, or None.
- ``csrf_token(request) -> str``: the token to put in every form as the hidden
  field ``csrf_token`` (and in the ``X-CSRF-Token`` header for fetch/htmx).
- ``verify_csrf``: a dependency that rejects a state-changing request whose
  token does not match (403).
Until the accounts work lands these are permissive placeholders.
"""

from __future__ import annotations

from fastapi import Request


def current_user(request: Request):  # noqa: ANN201
    return None


def csrf_token(request: Request) -> str:
    return ""


async def verify_csrf(request: Request) -> None:
    return None
