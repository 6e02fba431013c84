"""The subscribe API and form: validation (4xx, never 500), rate limits, no enumeration."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .conftest import BASE_URL

GOOD = {"email": "someone@example.org", "frequency": "weekly", "topics": ["llm agents"]}


@pytest.fixture
def client(inbox_settings):
    from paperwire.web.app import create_app

    return TestClient(create_app(inbox_settings), base_url=BASE_URL)


BAD_BODIES = [
    {},
    {"email": None},
    {"email": 42},
    {"email": "not-an-address"},
    {"email": "a@b"},
    {"email": "x" * 400 + "@example.org"},
    {"email": "ünïcode@exämple.org"},
    {"email": "a@example.org\r\nBcc: victim@example.org"},
    {**GOOD, "frequency": "hourly"},
    {**GOOD, "frequency": ["daily"]},
    {**GOOD, "topics": [1, 2]},
    {**GOOD, "topics": {"a": 1}},
    {**GOOD, "topics": [f"t{i}" for i in range(11)]},
    {**GOOD, "topics": ["x" * 101]},
    {**GOOD, "categories": ["../../etc/passwd"]},
    {**GOOD, "categories": "cs.CL"},
    {**GOOD, "timezone": "Mars/Olympus_Mons"},
    {**GOOD, "timezone": "../../etc/passwd"},
    {**GOOD, "timezone": 3},
    {**GOOD, "trending": "yes"},
    {**GOOD, "similar_to_upvotes": 1},
    {**GOOD, "admin": True},
    {"email": "x@example.org", "trending": False},  # asks for nothing at all
    [GOOD],
    "someone@example.org",
]


@pytest.mark.parametrize("body", BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_invalid_subscriptions_are_422(client, body) -> None:
    reply = client.post("/api/subscriptions", json=body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["detail"][0]["msg"]


def test_malformed_requests_are_4xx(client) -> None:
    assert client.post("/api/subscriptions", content=b"{nope").status_code == 415
    bad_json = client.post(
        "/api/subscriptions", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400
    utf = client.post(
        "/api/subscriptions", content=b"\xff\xfe", headers={"content-type": "application/json"}
    )
    assert utf.status_code == 400
    big = client.post(
        "/api/subscriptions",
        content=b'{"email": "' + b"a" * 20000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert big.status_code == 413


def test_valid_subscription_is_accepted_with_defaults(client, inbox_db) -> None:
    from paperwire.inbox import subscriptions as subs

    reply = client.post("/api/subscriptions", json={"email": "Plain@Example.ORG"})
    assert reply.status_code == 202
    sub = subs.find_by_email(inbox_db, "plain@example.org")
    assert sub.status == "pending"
    assert sub.prefs == subs.Preferences(frequency="daily", timezone="UTC", trending=True)


def test_answers_never_reveal_whether_an_address_is_subscribed(
    client, activate, run_cli, smtp_sink
) -> None:
    activate("known@example.org")
    known = client.post("/api/subscriptions", json={**GOOD, "email": "known@example.org"})
    unknown = client.post("/api/subscriptions", json={**GOOD, "email": "unknown@example.org"})
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.headers.get("content-length") == unknown.headers.get("content-length")

    form = client.get("/subscribe")
    csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    pages = [
        client.post("/subscribe", data={"csrf_token": csrf, "email": addr, "trending": "1"})
        for addr in ("known@example.org", "unknown2@example.org")
    ]
    assert pages[0].status_code == pages[1].status_code == 200
    assert pages[0].text == pages[1].text

    # Only the mailbox owner learns the difference: a notice instead of a confirmation,
    # and the confirmed subscription's preferences are untouched.
    assert run_cli("digest", "run", "--no-compose").returncode == 0
    assert [m.kind for m in smtp_sink.to("known@example.org")] == ["notice", "notice"]
    assert [m.kind for m in smtp_sink.to("unknown@example.org")] == ["confirm"]
    assert [m.kind for m in smtp_sink.to("unknown2@example.org")] == ["confirm"]


def test_form_requires_csrf_token(client, inbox_db) -> None:
    from paperwire.inbox import subscriptions as subs

    client.get("/subscribe")
    reply = client.post("/subscribe", data={"email": "csrf@example.org", "trending": "1"})
    assert reply.status_code == 403
    assert subs.find_by_email(inbox_db, "csrf@example.org") is None


def test_form_shows_validation_errors(client) -> None:
    form = client.get("/subscribe")
    assert form.status_code == 200 and 'name="email"' in form.text
    csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    reply = client.post("/subscribe", data={"csrf_token": csrf, "email": "nope", "trending": "1"})
    assert reply.status_code == 422 and "pw-error" in reply.text


def test_subscribing_is_rate_limited_per_ip(inbox_settings, monkeypatch) -> None:
    from paperwire.web.app import create_app

    monkeypatch.setenv("PAPERWIRE_SUBSCRIBE_PER_IP", "3")
    client = TestClient(create_app(inbox_settings), base_url=BASE_URL)
    codes = [
        client.post("/api/subscriptions", json={**GOOD, "email": f"r{i}@example.org"}).status_code
        for i in range(5)
    ]
    assert codes == [202, 202, 202, 429, 429]
    limited = client.post("/api/subscriptions", json=GOOD)
    assert int(limited.headers["retry-after"]) > 0


def test_mail_to_one_address_is_rate_limited(inbox_db, inbox_settings, run_cli, smtp_sink) -> None:
    from paperwire.inbox import subscriptions as subs

    prefs = subs.make_preferences()
    outcomes = [
        subs.subscribe(inbox_db, inbox_settings, "victim@example.org", prefs) for _ in range(6)
    ]
    assert outcomes == ["confirm"] * 3 + ["limited"] * 3
    assert run_cli("digest", "run", "--no-compose").returncode == 0
    assert len(smtp_sink.to("victim@example.org")) == 3


def test_any_confirmation_link_of_a_pending_subscription_works(inbox_db, inbox_settings) -> None:
    from sqlalchemy import select

    from paperwire.db.schema.inbox import subscriptions
    from paperwire.inbox import subscriptions as subs
    from paperwire.inbox.tokens import Tokens

    subs.subscribe(inbox_db, inbox_settings, "twice@example.org", subs.make_preferences())
    with inbox_db.connect() as conn:
        first = conn.execute(select(subscriptions.c.id, subscriptions.c.nonce)).one()
    weekly = subs.make_preferences(frequency="weekly")
    subs.subscribe(inbox_db, inbox_settings, "twice@example.org", weekly)
    token = Tokens(inbox_settings.secret_key).confirm(first.id, first.nonce)
    confirmed = subs.confirm(inbox_db, inbox_settings, token)
    assert confirmed.status == "active" and confirmed.prefs.frequency == "weekly"


def test_fuzzed_bodies_never_cause_a_server_error(client) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    scalar = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=30)
    )
    value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=4), max_leaves=8)
    field = st.sampled_from(
        sorted(
            [
                "email",
                "frequency",
                "topics",
                "categories",
                "timezone",
                "trending",
                "similar_to_upvotes",
                "other",
            ]
        )
    )
    emails = st.sampled_from(["a@example.org", "bad", "", "x@y.z"]) | st.text(max_size=20)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=st.dictionaries(field, value, max_size=5), email=emails)
    def check(body, email) -> None:
        reply = client.post("/api/subscriptions", json={"email": email, **body})
        assert reply.status_code in (202, 422, 429), (body, reply.text)

    check()
