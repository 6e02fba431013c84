"""Fixtures for the inbox tests: a real SMTP server, a small catalog, subscribers.

The SMTP server is aiosmtpd on 127.0.0.1 (a free port), in this process; the
code under test talks to it over TCP exactly as to a production MTA.  Its
handler can be told to answer 4xx/5xx per recipient, to be slow (so a test
can kill a sender midway), to hold every message until several senders are
connected (``barrier``: so concurrent senders really overlap), to hold the
first message until its sender goes away (``hold_first``), or to run a hook
just before it accepts (``before_accept``).  A message counts as received
only if the handler returned 250: when the client vanishes first, aiosmtpd
cancels the handler.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

BASE_URL = "http://paperwire.test"

# A small catalog: Thu 11 and Fri 12 June 2026, nothing on the weekend, Mon 15 June.
PAPERS = [
    ("2606.00001", "2026-06-11", "Diffusion models for protein design", ["cs.LG", "q-bio.BM"], 40),
    ("2606.00002", "2026-06-11", "A survey of retrieval-augmented generation", ["cs.CL"], 12),
    ("2606.00003", "2026-06-11", "Vision transformers at scale", ["cs.CV"], 3),
    ("2606.00004", "2026-06-12", "Attention <b>is</b> all & more: x<y", ["cs.CL", "cs.LG"], 25),
    ("2606.00005", "2026-06-12", "Efficient diffusion samplers", ["cs.CV", "cs.LG"], 7),
    ("2606.00006", "2026-06-12", "Graph neural networks for chemistry", ["cs.LG"], 1),
    ("2606.00007", "2026-06-15", "Speculative decoding revisited", ["cs.CL"], 9),
    ("2606.00008", "2026-06-15", "Self-supervised video diffusion", ["cs.CV"], 30),
    ("2606.00009", "2026-06-16", "Robust reinforcement learning", ["cs.LG"], 2),
    ("2606.00010", "2026-06-17", "Retrieval for code generation", ["cs.SE", "cs.CL"], 5),
    ("2606.00011", "2026-06-18", "Diffusion for weather forecasting", ["cs.LG"], 4),
    ("2606.00012", "2026-06-19", "Sparse attention kernels", ["cs.LG"], 6),
]


@dataclass
class Received:
    """One message the server accepted."""

    envelope_from: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]

    @property
    def kind(self) -> str:
        mid = self.message["Message-ID"] or ""
        return mid.strip("<").split(".", 1)[0]


@dataclass
class SmtpSink:
    """The test SMTP server's state and behaviour."""

    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    # (recipient, attempt number) -> reply such as "451 try later", or None for 250
    rcpt_reply: Callable[[str, int], str | None] = lambda rcpt, n: None
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Accept nothing until this many distinct SMTP sessions have sent DATA (or 60 s).
    barrier: int = 0
    # Never accept the first message: hold it until its client disconnects.
    hold_first: bool = False
    holding: threading.Event = field(default_factory=threading.Event)
    # Called (in the server's thread) with each message just before it is accepted.
    before_accept: Callable[[bytes], None] | None = None
    sessions: set[int] = field(default_factory=set)

    def to(self, address: str, kind: str | None = None) -> list[Received]:
        with self.lock:
            found = [m for m in self.received if address in m.recipients]
        return [m for m in found if kind is None or m.kind == kind]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, got {len(self.received)}")

    def clear(self) -> None:
        with self.lock:
            self.received.clear()
            self.attempts.clear()


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.sink.lock:
            n = self.sink.attempts.get(address, 0) + 1
            self.sink.attempts[address] = n
        reply = self.sink.rcpt_reply(address, n)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        sink = self.sink
        with sink.lock:
            sink.sessions.add(id(session))
            hold = sink.hold_first and not sink.holding.is_set()
            if hold:
                sink.holding.set()
        if hold:
            await asyncio.sleep(120)  # cancelled when the client goes away
            return "451 4.3.0 held too long"
        deadline = time.monotonic() + 60
        while len(sink.sessions) < sink.barrier and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if sink.delay:
            await asyncio.sleep(sink.delay)  # cancelled if the client goes away
        if sink.before_accept is not None:
            sink.before_accept(bytes(envelope.content))
        with sink.lock:
            sink.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    port = free_port()
    sink = SmtpSink("127.0.0.1", port)
    controller = Controller(_Handler(sink), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def inbox_env(home: Path, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment pointing Paperwire at the test SMTP server (set in os.environ too)."""
    env = {
        "PAPERWIRE_SMTP_HOST": smtp_sink.host,
        "PAPERWIRE_SMTP_PORT": str(smtp_sink.port),
        "PAPERWIRE_SMTP_TLS": "none",
        "PAPERWIRE_BASE_URL": BASE_URL,
        "PAPERWIRE_MAIL_FROM": "Paperwire <digests@paperwire.test>",
        "PAPERWIRE_DIGEST_SCHEDULER": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def inbox_settings(inbox_env: dict[str, str]):
    from paperwire.config import load_settings

    return load_settings()


@pytest.fixture
def inbox_db(inbox_settings):
    from paperwire.db import open_database

    return open_database(inbox_settings)


@pytest.fixture
def catalog(home: Path, run_cli, tmp_path: Path) -> list[tuple]:
    """Import :data:`PAPERS` through the CLI (no search index: topics match words)."""
    path = tmp_path / "papers.jsonl"
    with path.open("w") as fh:
        for pid, day, title, cats, votes in PAPERS:
            rec = {
                "id": pid,
                "announced": day,
                "title": title,
                "authors": ["Ada Lovelace", "Alan Turing"],
                "categories": cats,
                "abstract": f"We study {title.lower()}. Results are strong. More text follows.",
                "upvotes": votes,
            }
            fh.write(json.dumps(rec) + "\n")
    result = run_cli("import", "--no-index", str(path))
    assert result.returncode == 0, result.stderr
    return PAPERS


@pytest.fixture
def activate(inbox_db, inbox_settings):
    """Create a confirmed subscription directly through the domain (for setup)."""
    from paperwire.inbox import subscriptions as subs
    from paperwire.inbox.tokens import Tokens

    def make(address: str, **prefs) -> int:
        subs.subscribe(inbox_db, inbox_settings, address, subs.make_preferences(**prefs))
        sub = subs.find_by_email(inbox_db, address)
        assert sub is not None
        token = Tokens(inbox_settings.secret_key).confirm(sub.id, sub.nonce)
        return subs.confirm(inbox_db, inbox_settings, token).id

    return make


def links(message: EmailMessage) -> list[str]:
    """Every URL in the plain-text part."""
    text = message.get_body(("plain",)).get_content()
    return re.findall(r"https?://\S+", text)


@dataclass
class Deployment:
    """Where concurrent senders run: two homes on one PostgreSQL, or one SQLite home."""

    kind: str  # "sqlite" or "postgresql"
    homes: list[Path]  # the home of instance 0 and of instance 1 (the same on SQLite)

    def start(self, instance: int, *args: str, **env: str) -> subprocess.Popen[str]:
        """``paperwire ARGS...`` as instance ``instance`` (a real process)."""
        full_env = {**os.environ, "PAPERWIRE_HOME": str(self.homes[instance]), **env}
        return subprocess.Popen(
            [sys.executable, "-m", "paperwire", *args],
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def finish(proc: subprocess.Popen[str], timeout: float = 300) -> dict:
    """Wait for a ``--json`` command; its report (fails with its stderr if it failed)."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}: {err}"
    return json.loads(out)


@pytest.fixture(params=["sqlite", "postgresql"])
def deployment(
    request: pytest.FixtureRequest, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Deployment:
    """Request it first: on PostgreSQL it points every later fixture at the database."""
    if request.param == "sqlite":
        return Deployment("sqlite", [home, home])
    monkeypatch.setenv("PAPERWIRE_DATABASE_URL", request.getfixturevalue("postgres_url"))
    other = tmp_path / "home-b"
    other.mkdir()
    return Deployment("postgresql", [home, other])
