"""A small in-process cache for pages and API answers that every viewer shares.

Why it is correct: what is cached is public (no user data: the per-viewer
parts of a page are filled in per request, see :mod:`paperwire.web.slots`),
an entry lives a few seconds, and the whole cache is cleared

- at once after any successful state-changing request to this process (an
  upvote, a submission), through :class:`InvalidateOnWrite`;
- at the next lookup after any other process or app instance committed a
  change to the database (another worker, the CLI, another machine on the same
  PostgreSQL), through the change counter of :mod:`paperwire.db.changes`.

A clear also orphans the builds in flight: a page that started rendering before
the change is handed to the requests already waiting for it, but never stored,
and later requests do not wait for it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..db.changes import ChangeCounter

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
        changes: ChangeCounter | None = None,
    ) -> None:
        self.ttl = ttl
        self.stale = stale
        self.max_entries = max_entries
        self._clock = clock
        self._changes = changes
        self._seen_change: int | None = None
        self._items: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0
        self._building: dict[tuple[int, Any], asyncio.Future[Any]] = {}
        self._followers: list[PageCache] = []
        self.hits = 0
        self.misses = 0

    @property
    def generation(self) -> int:
        """Moves at every clear: pass it to :meth:`put` for a value built from what was read."""
        return self._generation

    def follower(self, ttl: float) -> PageCache:
        """Another cache (e.g. for sessions) cleared whenever this one is, for any reason."""
        other = PageCache(ttl=ttl, changes=self._changes)
        self._followers.append(other)
        return other

    def _sync(self) -> None:
        """Clear when the database changed since the last look (``changes`` moved)."""
        if self._changes is None:
            return
        seen = self._changes.value()
        if seen != self._seen_change:
            first, self._seen_change = self._seen_change is None, seen
            if not first:
                self.clear()

    def _lookup(self, key: Any) -> tuple[Any, bool] | None:
        """``(value, fresh)`` for a live or recently expired entry, else None."""
        self._sync()
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
        flight = (self._generation, key)
        if found is not None:
            value, fresh = found
            if fresh or flight in self._building:
                self.hits += 1
                return value  # stale only while another request rebuilds it
        pending = self._building.get(flight)
        if pending is not None:
            value = await asyncio.shield(pending)
            return value if self.cacheable(value) else await build()
        self.misses += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._building[flight] = future
        try:
            value = await build()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        else:
            future.set_result(value)
            if self.cacheable(value):
                self.put(key, value, generation=flight[0])
            return value
        finally:
            self._building.pop(flight, None)

    @staticmethod
    def cacheable(value: Any) -> bool:
        """Strings, bytes, tuples (encoded JSON) and slotted pages are kept; responses not."""
        return isinstance(value, str | bytes | tuple) or getattr(value, "cacheable", False)

    def get(self, key: Any) -> Any | None:
        """The live value for ``key``, or None."""
        self._sync()
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

    def put(
        self, key: Any, value: Any, *, generation: int | None = None, ttl: float | None = None
    ) -> None:
        """Store ``value`` for ``ttl`` (default: the cache's) seconds.

        Nothing is stored if the cache was cleared since ``generation`` (the
        value was built from what the database held before a change).
        """
        ttl = self.ttl if ttl is None else ttl
        if ttl <= 0:
            return
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            self._items[key] = (self._clock() + ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def get_or_build(self, key: Any, build: Callable[[], Any], *, ttl: float | None = None) -> Any:
        """The value for ``key``, built (in the calling thread) when missing."""
        value = self.get(key)
        if value is None:
            generation = self._generation
            value = build()
            self.put(key, value, generation=generation, ttl=ttl)
        return value

    def clear(self) -> None:
        """Drop every entry; builds in flight are neither stored nor joined any more."""
        with self._lock:
            self._generation += 1
            self._items.clear()
        for other in self._followers:
            other.clear()

    def close(self) -> None:
        """Stop watching the database (the app shuts down)."""
        if self._changes is not None:
            self._changes.close()

    def __len__(self) -> int:
        return len(self._items)


# Small facts that logged-in pages need on every request (a user's follows, a
# paper's discussion, its authors): kept a few seconds per process, and dropped
# with the page cache (after any POST here, and at the next request after any
# commit anywhere), so a viewer's own change shows at once.
FACT_SECONDS = 5.0


def facts(state: Any) -> PageCache:
    """The app's cache of per-request facts (see :data:`FACT_SECONDS`)."""
    found = getattr(state, "fact_cache", None)
    if found is None:
        found = state.fact_cache = state.page_cache.follower(FACT_SECONDS)
    return found


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
