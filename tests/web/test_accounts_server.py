"""Accounts against a real server process (``paperwire serve``) on a copy of the sample."""

from __future__ import annotations

import re

import httpx
import pytest

PASSWORD = "correct horse battery"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')

pytestmark = pytest.mark.slow


@pytest.fixture
def server(fresh_sample_home, server_factory):
    return server_factory(fresh_sample_home, PAPERWIRE_OFFLINE="1")


def _token(client: httpx.Client, path: str) -> str:
    return TOKEN_RE.search(client.get(path).text).group(1)


def test_accounts_over_real_http(server):
    with httpx.Client(base_url=server.url, timeout=30, follow_redirects=False) as client:
        home = client.get("/")
        assert home.status_code == 200
        # Anonymous pages hand out the cookie their form tokens are bound to.
        assert "paperwire_anon=" in home.headers.get("set-cookie", "")
        card = re.search(r'action="/papers/([^"]+)/upvote"', home.text).group(1)

        response = client.post(
            "/signup",
            data={"email": "eve@example.com", "password": PASSWORD},  # no token
        )
        assert response.status_code == 403

        response = client.post(
            "/signup",
            data={
                "email": "eve@example.com",
                "password": PASSWORD,
                "csrf_token": _token(client, "/signup"),
            },
        )
        assert response.status_code == 303  # sign-up logs nobody in: answers alike for all
        assert response.headers["location"] == "/signup/sent"
        response = client.post(
            "/login",
            data={
                "email": "eve@example.com",
                "password": PASSWORD,
                "csrf_token": _token(client, "/login"),
            },
        )
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert "paperwire_session=" in cookie and "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower()

        session = client.get("/api/session").json()
        assert session["user"] is not None
        headers = {"X-CSRF-Token": session["csrf_token"], "Accept": "application/json"}
        before = client.post(f"/api/papers/{card}/upvote", headers=headers).json()
        after = client.post(f"/api/papers/{card}/upvote", headers=headers).json()
        assert before["upvoted"] and not after["upvoted"]
        assert before["upvotes"] == after["upvotes"] + 1

        # A form on the feed works with the token printed in it.
        page = client.get("/")
        response = client.post(
            f"/papers/{card}/upvote",
            data={"csrf_token": TOKEN_RE.search(page.text).group(1), "next": "/"},
        )
        assert response.status_code == 303 and response.headers["location"] == "/"
        assert f'action="/papers/{card}/upvote"' in client.get("/").text
