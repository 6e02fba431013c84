"""Several server processes on one database behave as one site.

Real ``paperwire serve`` processes: an instance and a ``--workers 2`` instance
on one SQLite file, and the same with separate homes on one PostgreSQL database
(server mode).  The page cache is set to 300 s, so anything that
shows a change sooner than that shows it because the caches agree, not because
an entry expired.  A voter sees their vote and its count at once on every
process; other viewers see the new count as soon as the change reaches the
other process's cache.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from paperwire.web.devserver import ServerProcess, make_sample_home

pytestmark = pytest.mark.slow

PASSWORD = "a long enough password"
DAY = "/day/2024-04-04"  # 12 papers of the sample
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
FORM_RE = re.compile(r'<form class="upvote([^"]*)" method="post" action="/papers/([^"]+)/upvote"')
CACHE = "[paperwire]\npage_cache_seconds = 300\n"
SECRET = "a-secret-key-shared-by-every-instance-of-this-site"


def marked(html: str) -> set[str]:
    return {pid for cls, pid in FORM_RE.findall(html) if "is-voted" in cls.split()}


def count(html: str, pid: str) -> int:
    form = rf'action="/papers/{re.escape(pid)}/upvote".*?data-count>(\d+)<'
    return int(re.search(form, html, re.S)[1])


def fresh(url: str, cookies: httpx.Cookies | None = None) -> str:
    """GET ``DAY`` on a new connection (with ``--workers``, any worker may answer)."""
    with httpx.Client(base_url=url, cookies=cookies, timeout=60) as client:
        response = client.get(DAY)
        assert response.status_code == 200
        return response.text


def until(check, seconds: float = 15.0) -> bool:
    """Whether ``check()`` holds within ``seconds`` (far less than the 300 s cache)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


def start(servers: list, home: Path, workers: int = 1, **env: str) -> ServerProcess:
    server = ServerProcess(home, env={"PAPERWIRE_OFFLINE": "1", **env}, workers=workers)
    servers.append(server)
    server.start(timeout=120)
    assert until(lambda: server.log().count("Application startup complete") >= workers, 120)
    return server


def sign_up(url: str, email: str) -> tuple[httpx.Cookies, str]:
    with httpx.Client(base_url=url, timeout=60) as client:
        form = client.get("/signup").text
        data = {"email": email, "password": PASSWORD, "csrf_token": TOKEN_RE.search(form)[1]}
        assert client.post("/signup", data=data).status_code == 303
        form = client.get("/login").text  # unverified accounts may log in, vote and save
        data = {"email": email, "password": PASSWORD, "csrf_token": TOKEN_RE.search(form)[1]}
        assert client.post("/login", data=data).status_code == 303
        return client.cookies, client.get("/api/session").json()["csrf_token"]


def vote(url: str, cookies: httpx.Cookies, csrf: str, pid: str, upvoted: bool) -> int:
    with httpx.Client(base_url=url, cookies=cookies, timeout=60) as client:
        response = client.post(
            f"/api/papers/{pid}/upvote", headers={"X-CSRF-Token": csrf}, json={"upvoted": upvoted}
        )
        assert response.status_code == 200, response.text
        return response.json()["upvotes"]


def one_site(a: ServerProcess, b: ServerProcess, tries: int = 1) -> None:
    """Vote through ``a``; ``b`` shows it (``tries`` fresh connections each, for workers)."""
    page = fresh(b.url)
    pid = FORM_RE.findall(page)[3][1]
    before = count(page, pid)
    for _ in range(tries):  # cache the page on B (on every worker)
        assert count(fresh(b.url), pid) == before
    cookies, csrf = sign_up(a.url, f"voter-{a.port}@example.com")
    assert vote(a.url, cookies, csrf, pid, True) == before + 1
    for _ in range(tries):  # the voter, at once, on every process
        page = fresh(b.url, cookies)
        assert marked(page) == {pid} and count(page, pid) == before + 1
    for _ in range(tries):  # everyone else, once the change reached that process
        assert until(lambda: count(fresh(b.url), pid) == before + 1)
    # And back, voted away through the other instance.
    assert vote(b.url, cookies, csrf, pid, False) == before
    for _ in range(tries):
        page = fresh(a.url, cookies)
        assert not marked(page) and count(page, pid) == before
        assert until(lambda: count(fresh(a.url), pid) == before)
    # A logout through one process ends the session on all of them (a copied cookie).
    with httpx.Client(base_url=b.url, cookies=cookies, timeout=60) as client:
        form = TOKEN_RE.search(client.get(DAY).text)[1]
        assert client.post("/logout", data={"csrf_token": form}).status_code == 303
    for _ in range(tries):
        assert until(lambda: "Log in</a>" in fresh(a.url, cookies))


def test_an_instance_and_two_workers_on_one_sqlite_file(fresh_sample_home: Path, servers) -> None:
    (fresh_sample_home / "config.toml").write_text(CACHE)
    a = start(servers, fresh_sample_home)
    b = start(servers, fresh_sample_home, workers=2)
    one_site(a, b, tries=6)


def test_instances_with_separate_homes_on_one_postgres(postgres_url: str, tmp_path: Path, servers):
    """Two machines sharing only the database URL and the secret key; one runs 2 workers."""
    env = {"PAPERWIRE_DATABASE_URL": postgres_url, "PAPERWIRE_SECRET_KEY": SECRET}
    first = make_sample_home(tmp_path / "a", {**env, "PAPERWIRE_OFFLINE": "1"})
    second = tmp_path / "b"
    second.mkdir()
    for home in (first, second):
        (home / "config.toml").write_text(CACHE)
    a = start(servers, first, **env)
    b = start(servers, second, workers=2, **env)
    one_site(a, b, tries=6)
