"""End to end against `paperwire serve`: the server itself mails the confirmation."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from .conftest import free_port


@pytest.fixture
def server(home, inbox_env, catalog):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PAPERWIRE_HOME": str(home), "PAPERWIRE_BASE_URL": base}
    proc = subprocess.Popen(
        [sys.executable, "-m", "paperwire", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/subscribe", timeout=2)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("server did not start")
            time.sleep(0.2)
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.slow
def test_real_server_subscribe_confirm_digest_one_click_unsubscribe(
    server, smtp_sink, run_cli
) -> None:
    with httpx.Client(base_url=server, timeout=10) as http:
        reply = http.post("/api/subscriptions", json={"email": "live@example.org"})
        assert reply.status_code == 202
        (confirm,) = smtp_sink.wait_for(1)  # sent by the server, without any cron run
        assert confirm.kind == "confirm"
        url = re.search(
            r"https?://\S+/subscriptions/confirm/\S+",
            confirm.message.get_body(("plain",)).get_content(),
        ).group(0)
        assert http.post(url).status_code == 200

    env = {"PAPERWIRE_BASE_URL": server}
    assert run_cli("digest", "run", "--at", "2026-06-16T12:00:00Z", env=env).returncode == 0
    digest = smtp_sink.to("live@example.org", kind="digest")[0].message
    target = digest["List-Unsubscribe"].strip("<>")
    assert target.startswith(server)
    # What a mail provider does for RFC 8058: a bare POST, no cookies, no CSRF token.
    reply = httpx.post(
        target,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert reply.status_code == 200
    assert run_cli("digest", "run", "--at", "2026-06-17T12:00:00Z", env=env).returncode == 0
    assert len(smtp_sink.to("live@example.org")) == 2
