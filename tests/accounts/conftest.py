"""Fixtures for the people tests: a real server, a real SMTP server, SQLite and PostgreSQL.

- ``site`` (session, parametrised ``sqlite``/``postgres``): ``paperwire serve`` on a
  fresh home with a small catalog, delivering its mail to an aiosmtpd server in
  this process.  Every test module here shares it, so each test uses its own
  addresses and papers and leaves the catalog as it found it; the per-address
  limits are raised in its config.toml (tests of the limits make their own app).
- ``Site.client(ip=...)``: an httpx client whose connections come from that
  loopback address (127.0.0.2, 127.0.0.3, ...), so the server sees distinct
  client addresses exactly as it would on a network.
- ``Site.mail_to(address, kind)``: waits for a message the server sent.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from paperwire.web.devserver import ServerProcess, free_port, home_env
from tests.conftest import SERVER_SECRET_KEY
from tests.inbox.conftest import Received, SmtpSink, _Handler

PASSWORD = "correct horse battery"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK_RE = re.compile(r"https?://\S+")

# A small catalog: three papers on the feed of 2026-03-02, one more on 2026-03-03,
# and one on no feed (for submissions).
PAPERS = [
    ("2603.00001", "2026-03-02", "Diffusion models for protein design", 10),
    ("2603.00002", "2026-03-02", "A survey of retrieval-augmented generation", 5),
    ("2603.00003", "2026-03-02", "Spam: buy cheap watches", 1),
    ("2603.00004", "2026-03-03", "Vision transformers at scale", 3),
    ("2603.00005", None, "An unlisted preprint on graph kernels", 0),
    ("2603.00006", None, "An unlisted preprint on sparse solvers", 0),
    ("2603.00007", None, "An unlisted preprint on quantum codes", 0),
    ("2603.00008", None, "An unlisted preprint on label noise", 0),
]


def write_catalog(path: Path, extra: list[dict] | None = None) -> Path:
    with path.open("w") as fh:
        for pid, day, title, votes in PAPERS:
            rec = {
                "id": pid,
                **({"announced": day} if day else {}),
                "title": title,
                "authors": ["Ada Lovelace"],
                "categories": ["cs.LG"],
                "abstract": f"We study {title.lower()}.",
                "upvotes": votes,
            }
            fh.write(json.dumps(rec) + "\n")
        for rec in extra or []:
            fh.write(json.dumps(rec) + "\n")
    return path


@dataclass
class Site:
    """A running server, its home and database, and the mail it sent."""

    server: ServerProcess
    backend: str
    database_url: str
    mail: SmtpSink
    env: dict[str, str] = field(default_factory=dict)
    admin: str | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, ip: str = "127.0.0.1", **kwargs) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=ip)
        return httpx.Client(
            base_url=self.url, timeout=30, follow_redirects=False, transport=transport, **kwargs
        )

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "paperwire", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            input=input,
        )

    def mail_to(self, address: str, kind: str, *, after: int = 0, timeout: float = 30) -> Received:
        """The ``after``-th (0: first) message of ``kind`` to ``address``, waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.mail.to(address, kind)
            if len(found) > after:
                return found[after]
            time.sleep(0.05)
        sent = [(m.recipients, m.kind) for m in self.mail.received]
        raise AssertionError(f"no {kind} mail to {address}; the server sent {sent}")

    def db(self):
        from paperwire.db import Database

        return Database(self.database_url)

    def promote(self, user_id: int, role: str = "moderator") -> None:
        """Give a user a role, as this site's admin does on the moderation page."""
        if self.admin is None:  # made once per site, with the CLI
            self.admin = unique("admin")
            done = self.cli("users", "create-admin", self.admin, "--password-stdin", input=PASSWORD)
            assert done.returncode == 0, done.stderr
        with self.client() as admin:
            assert log_in(admin, self.admin).status_code == 303
            done = post_form(admin, f"/moderation/users/{user_id}/role", "/moderation", role=role)
            assert done.status_code == 303, done.text


def link(message: Received, path: str) -> str:
    """The URL in the message's text part whose path starts with ``path``, as a path."""
    text = message.message.get_body(("plain",)).get_content()
    for url in LINK_RE.findall(text):
        rest = url.split("://", 1)[1]
        found = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        if found.startswith(path):
            return found
    raise AssertionError(f"no link to {path} in:\n{text}")


def text_of(message: Received) -> str:
    return message.message.get_body(("plain",)).get_content()


def token(client: httpx.Client, path: str = "/login") -> str:
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code, page.text[:500])
    return TOKEN_RE.search(page.text).group(1)


def post_form(client: httpx.Client, path: str, form_page: str, **data: str) -> httpx.Response:
    return client.post(path, data={**data, "csrf_token": token(client, form_page)})


def sign_up(client: httpx.Client, email: str, password: str = PASSWORD, **extra: str):
    return post_form(client, "/signup", "/signup", email=email, password=password, **extra)


def log_in(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return post_form(client, "/login", "/login", email=email, password=password)


def confirm(site: Site, client: httpx.Client, email: str) -> None:
    """Follow the confirmation link the server mailed to ``email`` (GET page, then POST)."""
    path = link(site.mail_to(email, "account-verify"), "/account/verify/")
    assert client.get(path).status_code == 200
    assert post_form(client, path, path).status_code == 200


def register(site: Site, client: httpx.Client, email: str, *, verified: bool = True) -> None:
    """Sign up, confirm the address (unless ``verified`` is False) and log in."""
    assert sign_up(client, email).status_code == 303
    if verified:
        confirm(site, client, email)
    response = log_in(client, email)
    assert response.status_code == 303, response.text
    assert whoami(client)["verified"] is verified


def whoami(client: httpx.Client) -> dict | None:
    return client.get("/api/session").json()["user"]


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.org"


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[SmtpSink]:
    port = free_port()
    sink = SmtpSink("127.0.0.1", port)
    controller = Controller(_Handler(sink), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def database_url_for(backend: str, home: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{home / 'paperwire.db'}"
    server = request.getfixturevalue("postgres_server")
    import psycopg

    name = "people_" + uuid.uuid4().hex[:12]
    admin = server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    host = admin.split("host=", 1)[1]
    return f"postgresql+psycopg://postgres:@/{name}?host={host}"


def site_env(
    backend: str, home: Path, url: str, mail_sink: SmtpSink, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of a test site's server and CLI: offline, mail to the sink."""
    return home_env(
        home,
        {
            "PAPERWIRE_DATABASE_URL": url,
            "PAPERWIRE_OFFLINE": "1",
            "PAPERWIRE_SMTP_HOST": mail_sink.host,
            "PAPERWIRE_SMTP_PORT": str(mail_sink.port),
            "PAPERWIRE_SMTP_TLS": "none",
            "PAPERWIRE_MAIL_FROM": "Paperwire <accounts@paperwire.test>",
            "PAPERWIRE_DIGEST_SCHEDULER": "0",
            # Server mode refuses to start without one key shared by every instance.
            **({"PAPERWIRE_SECRET_KEY": SERVER_SECRET_KEY} if backend == "postgres" else {}),
            **(extra or {}),
        },
    )


@pytest.fixture(scope="session")
def site(
    backend: str,
    mail_sink: SmtpSink,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Site]:
    home = tmp_path_factory.mktemp(f"people-{backend}") / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        "[paperwire]\n"
        "signups_per_ip = 100000\n"
        "login_failures_per_ip = 100000\n"
        "resets_per_ip = 100000\n"
        "subscribe_per_ip = 100000\n"
    )
    url = database_url_for(backend, home, request)
    env = site_env(backend, home, url, mail_sink)
    catalog = write_catalog(home.parent / "papers.jsonl")
    done = subprocess.run(
        [sys.executable, "-m", "paperwire", "import", "--no-index", "--no-progress", str(catalog)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    server = ServerProcess(home, env={k: v for k, v in env.items() if k.startswith("PAPERWIRE_")})
    server.start()
    site = Site(server, backend, url, mail_sink, {**env, "PAPERWIRE_BASE_URL": server.url})
    try:
        yield site
    finally:
        server.stop()
