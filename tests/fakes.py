"""What the recorded-upstream test servers share: the request log and injected faults."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Request:
    """One request a fake upstream received."""

    at: float  # time.monotonic() when received
    path: str
    params: dict[str, str]


@dataclass
class Fault:
    """Answer requests matching ``match`` with ``status`` (``times`` times; None = always)."""

    match: Callable[[Request], bool]
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"Service Unavailable"
    times: int | None = 1
    file: str | None = None  # serve this fixture (with ``status``) instead of ``body``
