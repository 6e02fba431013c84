"""Following and "For you" in a real browser: follow an author from a paper's page,
then see "For you" change after three upvotes (the issue's acceptance criterion)."""

from __future__ import annotations

import re
import uuid

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "a long enough password"
VIDEO = ["2401.12945", "2401.09047", "2402.14797"]  # text-to-video generation papers


def _reasons(page) -> list[str]:
    return page.locator("ol.for-you p.why").all_inner_texts()


def test_follow_an_author_then_for_you_changes_after_three_upvotes(
    e2e_server, browser_page, console_errors, artifacts
) -> None:
    base, page = e2e_server.url, browser_page
    email = f"follow-{uuid.uuid4().hex[:8]}@example.org"
    page.goto(f"{base}/signup")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.pw-form button[type=submit]")
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.pw-form button[type=submit]")
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/for-you")
    assert "Tell us what you read" in page.locator("main").inner_text()

    page.goto(f"{base}/papers/2403.13788")
    page.click("button[aria-label='Follow Björn Ommer']")
    page.wait_for_url(f"{base}/papers/2403.13788")
    assert page.locator("button[aria-label='Unfollow Björn Ommer']").is_visible()

    page.goto(f"{base}/for-you")
    before = _reasons(page)
    assert before and set(before) == {"because you follow Björn Ommer"}

    for pid in VIDEO:
        page.goto(f"{base}/papers/{pid}")
        button = page.locator(".paper-actions form.upvote button")
        button.click()
        page.wait_for_selector(".paper-actions form.upvote button[aria-pressed='true']")

    page.goto(f"{base}/for-you")
    after = _reasons(page)
    assert after != before
    assert any(re.match(r"because you upvoted “", r) for r in after[:5]), after[:5]
    assert not set(VIDEO) & {
        h.split("/papers/")[1]
        for h in page.locator("ol.for-you .card-title a").evaluate_all(
            "els => els.map(e => e.getAttribute('href'))"
        )
    }
    page.screenshot(path=str(artifacts / "for-you.png"), full_page=True)
    assert console_errors == []
