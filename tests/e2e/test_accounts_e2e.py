"""Accounts in a real browser against a real server on the bundled sample.

Sign up, log out and in, upvote on the feed and see the count change (and
stay changed after a reload), submit a paper and find it on today's feed, and
the clear message for an unknown paper while offline.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "paperwire" / "samples" / "hf-daily-papers.json.gz"
EXTRA_PAPER = "2602.00042"  # in the catalog, on no feed: what the test submits
PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``paperwire serve`` on a home with the sample plus one paper on no feed (offline)."""
    from paperwire.web.devserver import ServerProcess, home_env

    home = tmp_path_factory.mktemp("accounts-e2e") / "home"
    home.mkdir()
    env = home_env(home, {"PAPERWIRE_OFFLINE": "1"})
    subprocess.run(
        [sys.executable, "-m", "paperwire", "import", str(SAMPLE), "--no-index", "--no-progress"],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    script = (
        "from paperwire.catalog.record import PaperRecord\n"
        "from paperwire.catalog.store import upsert_records\n"
        "from paperwire.config import load_settings\n"
        "from paperwire.db import open_database\n"
        f"rec = PaperRecord(id={EXTRA_PAPER!r}, title='Submitted Test Paper on Wires',"
        " abstract='A paper the end-to-end test submits.', authors=['Ada Lovelace'])\n"
        "upsert_records(open_database(load_settings()), [rec.normalise()])\n"
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    with ServerProcess(home, env={"PAPERWIRE_OFFLINE": "1"}) as proc:
        yield proc.url


@pytest.fixture(scope="module")
def browser(chromium):
    """The session's Chromium: one Playwright per process (a second one refuses to start)."""
    return chromium


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def sign_up(page, base: str, email: str, name: str) -> None:
    """Sign up, then log in (an account may log in before its address is confirmed)."""
    page.goto(f"{base}/signup")
    page.fill("input[name=email]", email)
    page.fill("input[name=display_name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.pw-form button[type=submit]")
    page.wait_for_url(f"{base}/signup/sent")
    page.click("main a[href='/login']")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.pw-form button[type=submit]")
    page.wait_for_url(f"{base}/")
    assert page.locator(".account .user-name").inner_text() == name


def test_sign_up_log_out_log_in(server, page):
    sign_up(page, server, "ada@example.com", "Ada")
    page.click(".account form[action='/logout'] button")
    page.wait_for_url(f"{server}/")
    assert page.locator(".account a[href='/login']").is_visible()
    assert page.locator(".account .user-name").count() == 0

    page.goto(f"{server}/login")
    page.fill("input[name=email]", "ada@example.com")
    page.fill("input[name=password]", "not the password")
    page.click("form.pw-form button[type=submit]")
    assert page.locator(".pw-error").inner_text() == "The email or password is incorrect."
    page.fill("input[name=password]", PASSWORD)
    page.click("form.pw-form button[type=submit]")
    page.wait_for_url(f"{server}/")
    assert page.locator(".account .user-name").inner_text() == "Ada"


def _count(form) -> int:
    return int(form.locator("[data-count]").inner_text())


def test_upvote_on_the_feed(server, page):
    sign_up(page, server, "grace@example.com", "Grace")
    form = page.locator("form[data-upvote]").first
    action = form.get_attribute("action")
    before = _count(form)
    form.locator("button").click()
    page.wait_for_function(
        "([sel, n]) => document.querySelector(sel).textContent.trim() === String(n)",
        arg=[f"form[action='{action}'] [data-count]", before + 1],
    )
    assert form.locator("button").get_attribute("aria-pressed") == "true"
    page.reload()
    again = page.locator(f"form[action='{action}']").first
    assert _count(again) == before + 1
    assert again.locator("button").get_attribute("aria-pressed") == "true"
    # Once per user: a second click takes the vote back.
    again.locator("button").click()
    page.wait_for_function(
        "([sel, n]) => document.querySelector(sel).textContent.trim() === String(n)",
        arg=[f"form[action='{action}'] [data-count]", before],
    )
    page.reload()
    assert _count(page.locator(f"form[action='{action}']").first) == before


def test_anonymous_upvote_leads_to_login(server, page):
    page.goto(f"{server}/")
    page.locator("form[data-upvote] button").first.click()
    page.wait_for_url(re.compile(r"/login\?next=/"))
    assert page.locator("h1").inner_text() == "Log in"


def test_submit_a_paper_and_see_it_on_todays_feed(server, page):
    sign_up(page, server, "alan@example.com", "Alan")
    page.click(".account a[href='/submit']")
    page.wait_for_url(f"{server}/submit")
    page.fill("input[name=paper]", f"https://arxiv.org/abs/{EXTRA_PAPER}v1")
    page.click("form.pw-form button[type=submit]")
    notice = page.locator("p.notice")
    assert f"arXiv:{EXTRA_PAPER} is on the feed of" in notice.inner_text()
    page.click("text=See the feed")
    page.wait_for_url(f"{server}/day/*")
    titles = page.locator(".card-title").all_inner_texts()
    assert "Submitted Test Paper on Wires" in titles
    # It is the latest day now, so the home page shows it too.
    page.goto(f"{server}/")
    assert "Submitted Test Paper on Wires" in page.locator(".card-title").all_inner_texts()

    # A second submission is answered, not an error.
    page.goto(f"{server}/submit")
    page.fill("input[name=paper]", EXTRA_PAPER)
    page.click("form.pw-form button[type=submit]")
    assert "already on today's feed" in page.locator("p.notice").inner_text()

    # An unknown paper while offline: a clear message, nothing added.
    page.fill("input[name=paper]", "2609.99999")
    page.click("form.pw-form button[type=submit]")
    message = page.locator(".pw-error").inner_text()
    assert "offline" in message and "cannot be fetched" in message
    assert httpx.get(f"{server}/papers/2609.99999").status_code == 404


def test_collections_from_the_browser(server, page):
    sign_up(page, server, "barbara@example.com", "Barbara")
    page.goto(f"{server}/collections")
    page.fill("input[name=name]", "Must read")
    page.click("form.pw-form button[type=submit]")
    page.wait_for_url(f"{server}/collections/must-read")
    page.fill("input[name=paper_id]", EXTRA_PAPER)
    page.click("form[action='/collections/must-read/add'] button")
    page.wait_for_url(f"{server}/collections/must-read")
    assert page.locator(".pw-collection-papers li a").first.inner_text() == (
        "Submitted Test Paper on Wires"
    )
    page.click("form[action='/collections/must-read/delete'] button")
    page.wait_for_url(f"{server}/collections")
    assert "No collections yet" in page.content()
