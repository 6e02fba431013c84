"""The scheduler loop: ``paperwire serve`` and ``paperwire worker`` pick up new days by
themselves, and only one process schedules at a time.

``PAPERWIRE_JOBS_INTERVAL=1`` so the tests wait seconds, not minutes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import httpx

from paperwire.web.devserver import ServerProcess

from .conftest import DAY1, DAY2
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
    env = {**jobs.env, "PAPERWIRE_JOBS_INTERVAL": "1", "PAPERWIRE_SYNC_START": "2025-06-09"}
    with (
        ServerProcess(home, env=env) as server,
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
    assert all(r["status"] != "running" for r in jobs.job_runs())  # stopped cleanly


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "paperwire", "worker"], env=env, stdout=out, stderr=out
        )


def wait_log(log: Path, text: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + DEADLINE
    while text not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def test_two_workers_one_schedules_the_other_takes_over(jobs, upstream, home) -> None:
    upstream.publish(DAY1)
    env = {
        **os.environ,
        "PAPERWIRE_HOME": str(home),
        **jobs.env,
        "PAPERWIRE_JOBS_INTERVAL": "1",
        "PAPERWIRE_SYNC_START": "2025-06-09",
    }
    log_a, log_b = home / "worker-a.log", home / "worker-b.log"
    first = start_worker(env, log_a)
    second = None
    try:
        wait_log(log_a, "embed: ok", first)
        second = start_worker(env, log_b)
        wait_log(log_b, "standing by to take over", second)
        os.kill(first.pid, signal.SIGKILL)  # the scheduling worker dies, mid-pass maybe
        first.wait(30)
        upstream.publish(DAY2)
        deadline = time.monotonic() + DEADLINE
        while not (jobs.ids() >= set(NEW[DAY2]) and jobs.pending() == 0):
            assert second.poll() is None and time.monotonic() < deadline, log_b.read_text()
            time.sleep(0.5)
        wait_log(log_b, "embed: ok", second)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(60) for proc in (first, second) if proc is not None]
    assert codes[1] == 0 and "paperwire worker: stopped" in log_b.read_text()

    runs = sorted(jobs.job_runs(), key=lambda r: r["started_at"])
    assert {r["runner"].rsplit(":", 1)[1] for r in runs} == {str(first.pid), str(second.pid)}
    assert all(r["status"] != "running" for r in runs)  # a killed run was marked interrupted
    ended = [r for r in runs if r["status"] != "interrupted"]  # (their end is not known)
    for before, after in pairwise(ended):  # one scheduler at a time: runs never overlap
        assert before["finished_at"] <= after["started_at"], (before, after)
