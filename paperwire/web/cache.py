"""A small in-process cache for pages and API answers that anonymous viewers share.

Why it is correct: what is cached is public (no user data; a form token is
substituted per request by the caller), an entry lives a few seconds, and any
successful state-changing request to this process (an upvote, a submission)
clears the whole cache through :class:`InvalidateOnWrite`.  A change made by
another process (an import from the CLI) shows within ``ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class PageCache:
    """A bounded LRU of ``key -> value`` whose entries expire after ``ttl`` seconds.

    :meth:`shared` adds single flight: one request builds a missing entry while
    the others wait for it, and an expired entry is served for at most
    ``stale`` more seconds while one request rebuilds it, so an expiry under load
    never turns into a stampede of identical rebuilds.
    """

    def __init__(
        self,
        ttl: float = 5.0,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
        stale: float = 30.0,
    ) -> None:
        self.ttl = ttl
        self.stale = stale
        self.max_entries = max_entries
        self._clock = clock
        self._items: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[Any, asyncio.Future[Any]] = {}
        self.hits = 0
        self.misses = 0

    def _lookup(self, key: Any) -> tuple[Any, bool] | None:
        """``(value, fresh)`` for a live or recently expired entry, else None."""
        now = self._clock()
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] + self.stale < now:
                return None
            self._items.move_to_end(key)
            return item[1], item[0] >= now

    async def shared(self, key: Any, build: Callable[[], Awaitable[Any]]) -> Any:
        """The value for ``key``, built by ``build()`` once however many ask at a time.

        Only values for which ``cacheable(value)`` holds are stored (see below);
        others (redirects, error pages) go to the one caller that built them,
        and waiting callers build their own.
        """
        if self.ttl <= 0:
            return await build()
        found = self._lookup(key)
        if found is not None:
            value, fresh = found
            if fresh or key in self._building:
                self.hits += 1
                return value  # stale only while another request rebuilds it
        pending = self._building.get(key)
        if pending is not None:
            value = await asyncio.shield(pending)
            return value if self.cacheable(value) else await build()
        self.misses += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            value = await build()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        else:
            future.set_result(value)
            if self.cacheable(value):
                self.put(key, value)
            return value
        finally:
            self._building.pop(key, None)

    @staticmethod
    def cacheable(value: Any) -> bool:
        """Strings and bytes (rendered pages, encoded JSON) and tuples of them are kept."""
        return isinstance(value, str | bytes | tuple)

    def get(self, key: Any) -> Any | None:
        """The live value for ``key``, or None."""
        now = self._clock()
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] < now:
                if item is not None:
                    del self._items[key]
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[1]

    def put(self, key: Any, value: Any) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._items[key] = (self._clock() + self.ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def get_or_build(self, key: Any, build: Callable[[], Any]) -> Any:
        value = self.get(key)
        if value is None:
            value = build()
            self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class InvalidateOnWrite:
    """ASGI middleware: clear ``cache`` after any successful non-GET request."""

    def __init__(self, app: ASGIApp, cache: PageCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                self.cache.clear()
            await send(message)

        await self.app(scope, receive, watch)
