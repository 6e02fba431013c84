"""The page cache: expiry, LRU bound, single flight, stale-while-rebuilding."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest

from paperwire.web.cache import PageCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_expiry_and_bound():
    clock = Clock()
    cache = PageCache(ttl=5, max_entries=2, clock=clock)
    cache.put("a", "1")
    cache.put("b", "2")
    cache.put("c", "3")
    assert cache.get("a") is None and cache.get("b") == "2"
    clock.now = 6
    assert cache.get("b") is None
    off = PageCache(ttl=0)
    off.put("a", "1")
    assert off.get("a") is None


def run_isolated(coro) -> None:
    """asyncio.run in a worker thread: Playwright's sync API (e2e tests in the same
    session) keeps an event loop running on the main thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


def test_single_flight_and_stale_while_rebuilding():
    clock = Clock()
    cache = PageCache(ttl=5, clock=clock, stale=30)
    builds = 0

    async def build() -> str:
        nonlocal builds
        builds += 1
        await asyncio.sleep(0.01)
        return f"v{builds}"

    async def scenario() -> None:
        first = await asyncio.gather(*(cache.shared("k", build) for _ in range(20)))
        assert first == ["v1"] * 20 and builds == 1
        clock.now = 6  # expired: one rebuild, the others get the stale page meanwhile
        rebuilding = asyncio.ensure_future(cache.shared("k", build))
        await asyncio.sleep(0)
        others = await asyncio.gather(*(cache.shared("k", build) for _ in range(5)))
        assert others == ["v1"] * 5
        assert await rebuilding == "v2" and builds == 2
        clock.now = 100  # far too old to serve: rebuilt before answering
        assert await cache.shared("k", build) == "v3"

    run_isolated(scenario())


def test_responses_and_errors_are_not_cached():
    cache = PageCache(ttl=5)

    async def scenario() -> None:
        calls = 0

        async def redirect() -> object:
            nonlocal calls
            calls += 1
            return object()

        await cache.shared("r", redirect)
        await cache.shared("r", redirect)
        assert calls == 2

        async def fail() -> str:
            raise LookupError("nope")

        with pytest.raises(LookupError):
            await cache.shared("e", fail)
        assert cache.get("e") is None

    run_isolated(scenario())


def test_a_build_that_started_before_a_clear_is_not_kept_nor_joined():
    """A page rendered from the database as it was before a vote must not outlive the vote."""
    cache = PageCache(ttl=60)

    async def scenario() -> None:
        release = asyncio.Event()
        builds: list[str] = []

        async def slow_old() -> str:
            builds.append("old")
            await release.wait()
            return "before the vote"

        async def fresh() -> str:
            builds.append("new")
            return "after the vote"

        started = asyncio.ensure_future(cache.shared("k", slow_old))
        await asyncio.sleep(0)
        cache.clear()  # the vote commits while the old build runs
        # Does not wait for the old build (which only ends below: waiting would hang).
        after = await asyncio.wait_for(cache.shared("k", fresh), timeout=30)
        assert after == "after the vote"
        release.set()
        assert await started == "before the vote"  # its own caller still gets an answer
        assert await cache.shared("k", fresh) == "after the vote"
        assert builds == ["old", "new"]

    run_isolated(scenario())


class Counter:
    """A stand-in for the database's change counter (paperwire.db.changes)."""

    def __init__(self) -> None:
        self.n = 0
        self.closed = False

    def value(self) -> int:
        return self.n

    def close(self) -> None:
        self.closed = True


def test_a_change_elsewhere_clears_the_cache_at_the_next_lookup():
    changes = Counter()
    cache = PageCache(ttl=60, changes=changes)
    cache.put("a", "1")
    assert cache.get("a") == "1"
    changes.n += 1  # another process committed
    assert cache.get("a") is None
    cache.put("a", "2")
    assert cache.get_or_build("a", lambda: "3") == "2"
    changes.n += 1
    assert cache.get_or_build("a", lambda: "3") == "3"
    cache.close()
    assert changes.closed
