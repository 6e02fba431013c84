"""Units of the inbox: periods, tokens, preferences, message format, backoff."""

from __future__ import annotations

import email
import email.policy
import time
from datetime import UTC, date, datetime

import pytest

from paperwire.inbox.periods import due_period, valid_timezone
from paperwire.inbox.subscriptions import InvalidInput, make_preferences, normalise_email
from paperwire.inbox.tokens import InvalidToken, Tokens


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_daily_period_is_the_local_day_after_the_send_hour() -> None:
    p = due_period("daily", "UTC", at("2026-06-16T07:00:00"))
    assert (p.key, p.start, p.end) == ("daily:2026-06-16", date(2026, 6, 15), date(2026, 6, 15))
    assert due_period("daily", "UTC", at("2026-06-16T06:59:59")).key == "daily:2026-06-15"
    # Same instant, three zones, three local days.
    now = at("2026-06-15T20:00:00")
    assert due_period("daily", "Pacific/Auckland", now).key == "daily:2026-06-16"
    assert due_period("daily", "UTC", now).key == "daily:2026-06-15"
    assert due_period("daily", "America/Los_Angeles", now).key == "daily:2026-06-15"
    assert due_period("daily", "America/Los_Angeles", at("2026-06-15T13:59:00")).key == (
        "daily:2026-06-14"
    )


def test_daily_period_across_a_dst_change() -> None:
    # Europe/Berlin springs forward on 29 March 2026: 07:00 local is 05:00 UTC after it.
    assert due_period("daily", "Europe/Berlin", at("2026-03-28T06:00:00")).key == (
        "daily:2026-03-28"
    )
    assert due_period("daily", "Europe/Berlin", at("2026-03-29T04:59:00")).key == (
        "daily:2026-03-28"
    )
    assert due_period("daily", "Europe/Berlin", at("2026-03-29T05:00:00")).key == (
        "daily:2026-03-29"
    )


def test_weekly_period_is_fixed_to_a_weekday() -> None:
    for day in range(15, 22):  # Monday 15 .. Sunday 21 June 2026
        p = due_period("weekly", "UTC", at(f"2026-06-{day}T12:00:00"))
        assert p.key == "weekly:2026-06-15"
        assert (p.start, p.end) == (date(2026, 6, 8), date(2026, 6, 14))
    assert due_period("weekly", "UTC", at("2026-06-15T06:00:00")).key == "weekly:2026-06-08"
    friday = due_period("weekly", "UTC", at("2026-06-21T12:00:00"), weekday=4)
    assert friday.key == "weekly:2026-06-19"


def test_tokens_are_purpose_bound_and_confirmations_expire() -> None:
    tokens = Tokens("k" * 40)
    assert tokens.check_manage(tokens.manage(7)) == 7
    assert tokens.check_unsubscribe(tokens.unsubscribe(7)) == 7
    with pytest.raises(InvalidToken):
        tokens.check_unsubscribe(tokens.manage(7))
    with pytest.raises(InvalidToken):
        Tokens("other" * 10).check_manage(tokens.manage(7))
    with pytest.raises(InvalidToken):
        tokens.check_manage(tokens.manage(7)[:-2] + "xx")
    confirm = tokens.confirm(7, "nonce")
    assert tokens.check_confirm(confirm, max_age=60).nonce == "nonce"
    time.sleep(1.1)
    with pytest.raises(InvalidToken):
        tokens.check_confirm(confirm, max_age=0)


def test_preferences_validation() -> None:
    prefs = make_preferences(
        topics=["  LLM   agents ", "llm agents", ""], categories="cs.CL, cs.CV"
    )
    assert prefs.topics == ("LLM agents",) and prefs.categories == ("cs.CL", "cs.CV")
    assert prefs.trending is False  # defaults to trending only without topics/categories
    assert make_preferences().trending is True
    for bad in (
        {"frequency": "monthly"},
        {"timezone": "Not/AZone"},
        {"categories": ["CS.CL"]},
        {"trending": False},
    ):
        with pytest.raises(InvalidInput):
            make_preferences(**bad)
    assert valid_timezone("Asia/Kolkata") and not valid_timezone("../../etc/passwd")
    assert normalise_email(" Someone@EXAMPLE.org ") == "someone@example.org"
    for bad in ("", "no-at", "a@b", "a b@example.org", "x@localhost"):
        with pytest.raises(InvalidInput):
            normalise_email(bad)


def test_messages_parse_and_encode_non_ascii(settings) -> None:
    from dataclasses import replace

    from paperwire.inbox.render import Identity, build_message

    ident = Identity(replace(settings, mail_from="Pâpérwire <news@example.org>"))
    raw = build_message(
        ident,
        to="r@example.org",
        subject="Über façade — ünïcode",
        message_id="<m.1@example.org>",
        date=at("2026-06-16T12:00:00"),
        text="héllo\n.starts with a dot\n" + "x" * 200,
        html="<p>héllo</p>",
    )
    assert raw.isascii() and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "Über façade — ünïcode"
    assert msg["From"].addresses[0].display_name == "Pâpérwire"
    assert msg.get_body(("plain",)).get_content().startswith("héllo\r\n.starts with a dot")
    assert msg.get_body(("html",)).get_content().strip() == "<p>héllo</p>"


def test_backoff_doubles_and_is_capped() -> None:
    from paperwire.inbox.options import InboxOptions
    from paperwire.inbox.outbox import backoff

    opts = InboxOptions(retry_base=60, retry_max_delay=600)
    assert [backoff(n, opts).total_seconds() for n in (1, 2, 3, 4, 5, 9)] == [
        60,
        120,
        240,
        480,
        600,
        600,
    ]


def test_options_from_environment(settings) -> None:
    from paperwire.inbox.options import InboxOptions

    opts = InboxOptions.from_settings(
        settings, {"PAPERWIRE_DIGEST_WEEKDAY": "friday", "PAPERWIRE_DIGEST_SCHEDULER": "off"}
    )
    assert opts.digest_weekday == 4 and opts.digest_scheduler is False
    with pytest.raises(ValueError):
        InboxOptions.from_settings(settings, {"PAPERWIRE_DIGEST_HOUR": "25"})
