"""The whole path a reader takes: subscribe, confirm, receive a digest, unsubscribe.

HTTP goes to the ASGI app in process; digests are sent by the real CLI
(`paperwire digest run --at ...`) to the real SMTP server of the fixtures.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .conftest import BASE_URL, links

AT = "2026-06-16T12:00:00Z"  # a Tuesday: the daily digest covers Monday 15 June


@pytest.fixture
def client(inbox_settings):
    from paperwire.web.app import create_app

    return TestClient(create_app(inbox_settings), base_url=BASE_URL)


def digest_run(run_cli, at: str) -> None:
    result = run_cli("digest", "run", "--at", at)
    assert result.returncode == 0, result.stderr + result.stdout


def test_subscribe_confirm_digest_unsubscribe(catalog, client, smtp_sink, run_cli) -> None:
    reply = client.post(
        "/api/subscriptions",
        json={
            "email": "Reader@Example.org",
            "frequency": "daily",
            "topics": ["diffusion"],
            "categories": ["cs.CL"],
            "trending": True,
        },
    )
    assert reply.status_code == 202, reply.text

    # Unconfirmed: the confirmation is the only mail, however often digests run.
    digest_run(run_cli, AT)
    digest_run(run_cli, "2026-06-17T12:00:00Z")
    mails = smtp_sink.to("reader@example.org")
    assert [m.kind for m in mails] == ["confirm"]
    confirm = mails[0].message
    assert confirm["Subject"] == "Confirm your Paperwire digest subscription"
    assert confirm["List-Unsubscribe"] is None
    url = next(u for u in links(confirm) if "/subscriptions/confirm/" in u)
    path = url.removeprefix(BASE_URL)

    # GET only shows a button (link scanners must not confirm); POST confirms.
    page = client.get(path)
    assert page.status_code == 200 and "Confirm subscription" in page.text
    digest_run(run_cli, AT)
    assert len(smtp_sink.to("reader@example.org")) == 1
    done = client.post(path)
    assert done.status_code == 200 and "Subscription confirmed" in done.text
    assert client.post(path).status_code == 200  # idempotent

    digest_run(run_cli, AT)
    digests = smtp_sink.to("reader@example.org", kind="digest")
    assert len(digests) == 1
    msg = digests[0].message
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["To"] == "reader@example.org"
    assert msg["From"] == "Paperwire <digests@paperwire.test>"
    assert msg["Subject"].startswith("Paperwire daily digest: 2 papers")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = msg["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{BASE_URL}/unsubscribe/") and unsubscribe.endswith(">")
    assert msg["Message-ID"].startswith("<digest.")
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Self-supervised video diffusion" in body  # topic "diffusion"
        assert "Speculative decoding revisited" in body  # category cs.CL
        assert f"{BASE_URL}/papers/2606.00008" in body
        assert "https://arxiv.org/abs/2606.00008" in body
        assert "Ada Lovelace, Alan Turing" in body
        assert "Vision transformers" not in body  # listed on another day
    assert "30 upvotes" in text
    assert "We study self-supervised video diffusion." in text  # the one-line abstract
    assert text.index("Self-supervised video diffusion") < text.index("Speculative decoding")

    # A re-run for the same time sends nothing more.
    digest_run(run_cli, AT)
    assert len(smtp_sink.to("reader@example.org")) == 2

    # The List-Unsubscribe URL: GET asks, POST (RFC 8058, no cookies, no CSRF) acts.
    unsub_path = unsubscribe.strip("<>").removeprefix(BASE_URL)
    assert "Unsubscribe" in client.get(unsub_path).text
    digest_run(run_cli, "2026-06-17T12:00:00Z")
    assert len(smtp_sink.to("reader@example.org")) == 3  # still subscribed after the GET
    mail_client = TestClient(client.app, base_url="https://mail.example.net")
    reply = mail_client.post(
        f"{BASE_URL}{unsub_path}",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert reply.status_code == 200 and "unsubscribed" in reply.text
    digest_run(run_cli, "2026-06-18T12:00:00Z")
    digest_run(run_cli, "2026-06-19T12:00:00Z")
    assert len(smtp_sink.to("reader@example.org")) == 3
    # The old confirmation link cannot turn it back on.
    assert client.post(path).status_code == 404


def test_html_mail_escapes_catalog_text(catalog, activate, smtp_sink, run_cli) -> None:
    activate("esc@example.org", categories=["cs.CL"])
    digest_run(run_cli, "2026-06-13T09:00:00Z")  # Saturday: Friday's listing
    (mail,) = smtp_sink.to("esc@example.org", kind="digest")
    html = mail.message.get_body(("html",)).get_content()
    assert "Attention &lt;b&gt;is&lt;/b&gt; all &amp; more: x&lt;y" in html
    assert "<b>is</b>" not in html
    text = mail.message.get_body(("plain",)).get_content()
    assert "Attention <b>is</b> all & more: x<y" in text


def test_forged_or_foreign_tokens_are_refused(catalog, client, activate, inbox_settings) -> None:
    from paperwire.inbox.tokens import Tokens

    sid = activate("tok@example.org")
    tokens = Tokens(inbox_settings.secret_key)
    manage = tokens.manage(sid)
    assert client.get(f"/subscriptions/manage/{manage}").status_code == 200
    for path in (
        f"/unsubscribe/{manage}",  # a manage token is no unsubscribe token
        f"/subscriptions/manage/{tokens.unsubscribe(sid)}",
        f"/subscriptions/confirm/{manage}",
        "/unsubscribe/1.forged",
        f"/subscriptions/manage/{Tokens('another-key').manage(sid)}",
    ):
        assert client.get(path).status_code == 404, path
        assert client.post(path).status_code in (403, 404), path
    assert client.get(f"/subscriptions/manage/{manage}").status_code == 200


def test_manage_preferences_by_signed_link(catalog, client, activate, inbox_db) -> None:
    from paperwire.inbox import subscriptions as subs
    from paperwire.inbox.tokens import Tokens

    sid = activate("prefs@example.org")
    token = Tokens(client.app.state.settings.secret_key).manage(sid)
    page = client.get(f"/subscriptions/manage/{token}")
    assert page.status_code == 200
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    reply = client.post(
        f"/subscriptions/manage/{token}",
        data={
            "csrf_token": csrf,
            "frequency": "weekly",
            "timezone": "Europe/Berlin",
            "topics": "graph neural networks\ndiffusion",
            "more_categories": "cs.CV",
        },
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text
    sub = subs.get(inbox_db, sid)
    assert sub.prefs.frequency == "weekly" and sub.prefs.timezone == "Europe/Berlin"
    assert sub.prefs.topics == ("graph neural networks", "diffusion")
    assert sub.prefs.categories == ("cs.CV",) and not sub.prefs.trending
    # Without the form token nothing changes.
    refused = client.post(f"/subscriptions/manage/{token}", data={"frequency": "daily"})
    assert refused.status_code == 403
    assert subs.get(inbox_db, sid).prefs.frequency == "weekly"
