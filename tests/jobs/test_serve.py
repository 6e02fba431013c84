"""A running ``paperwire serve`` picks up a newly published day by itself.

Two uvicorn workers share the database; the scheduler lock lets one of them
run the jobs.  ``PAPERWIRE_JOBS_INTERVAL=1`` so the test waits seconds, not minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import pairwise

import httpx

from paperwire.web.devserver import ServerProcess

from .conftest import DAY1, DAY2, MODELS
from .test_days import NEW

DEADLINE = 180.0  # seconds; the machine may be busy, one interval is 1 s


def wait_for(what: str, check: Callable[[], bool], server: ServerProcess) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen; server log:\n{server.log()}")
        time.sleep(0.5)


def day_ids(http: httpx.Client, day: str) -> set[str]:
    reply = http.get("/api/daily_papers", params={"date": day, "limit": 100})
    assert reply.status_code == 200, reply.text
    return {item["paper"]["id"] for item in reply.json()}


def test_serve_picks_up_a_new_day_by_itself(jobs, upstream, home) -> None:
    upstream.publish(DAY1)
    env = {
        **jobs.env,
        "PAPERWIRE_JOBS_INTERVAL": "1",
        "PAPERWIRE_SYNC_START": "2025-06-09",  # the recorded days are in the past
        "PAPERWIRE_MODEL_DIR": str(MODELS),
    }
    with (
        ServerProcess(home, env=env, workers=2) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        wait_for("day 1 on its feed", lambda: day_ids(http, DAY1) >= set(NEW[DAY1]), server)
        upstream.publish(DAY2)  # a new day appears upstream; nobody runs a command
        wait_for("day 2 on its feed", lambda: day_ids(http, DAY2) >= set(NEW[DAY2]), server)
        target = NEW[DAY2][3]

        def searchable() -> bool:
            title = http.get(f"/api/papers/{target}").json()["title"]
            hits = http.get("/api/papers/search", params={"q": title}).json()
            similar = http.get(f"/api/papers/{target}/similar").json()
            return bool(hits) and hits[0]["paper"]["id"] == target and bool(similar)

        wait_for("day 2 searchable, with vectors", searchable, server)

        health = http.get("/healthz")
        assert health.status_code == 200, health.text
        body = health.json()
        assert body["database"]["ok"] and body["failing_jobs"] == []
        assert body["jobs"]["arxiv"]["last_success"] and body["jobs"]["embed"]["last_success"]
        assert "Catalog updated" in http.get(f"/day/{DAY2}").text

    # Two workers, one scheduler: runs never overlap, whichever process made them.  The
    # scheduler changes hands at most once: when the leader stops first at shutdown.
    runs = sorted(jobs.job_runs(), key=lambda r: r["started_at"])
    assert all(r["finished_at"] is not None for r in runs)
    for before, after in pairwise(runs):
        assert before["finished_at"] <= after["started_at"], (before, after)
    runners = [r["runner"] for r in runs]
    assert sum(a != b for a, b in pairwise(runners)) <= 1


def test_worker_runs_the_jobs_and_stops_cleanly(jobs, upstream, home) -> None:
    import os
    import signal
    import subprocess
    import sys

    upstream.publish(DAY1)
    env = {
        **os.environ,
        "PAPERWIRE_HOME": str(home),
        **jobs.env,
        "PAPERWIRE_JOBS_INTERVAL": "1",
        "PAPERWIRE_SYNC_START": "2025-06-09",
    }
    log = home / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "paperwire", "worker"], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + DEADLINE
        while "paperwire worker: jobs every" not in log.read_text():  # migrated, started
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        while jobs.pending() or not jobs.ids() >= set(NEW[DAY1]):
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(60)
    assert code == 0, log.read_text()
    text = log.read_text()
    assert "arxiv: ok" in text and "embed: ok" in text and "paperwire worker: stopped" in text
    assert all(r["status"] != "running" for r in jobs.job_runs())
