"""The site in headless Chromium: browse the feed, open a paper, search; screenshots.

Screenshots of the home and a paper page (light and dark, desktop and phone)
are written to ``test-artifacts/`` for people to look at.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MATH_PAPER = "2312.17276"  # "PanGu-$π$: ..." (math in the title)


def test_browse_days_and_weeks(browser_page, e2e_server, console_errors):
    page = browser_page
    page.goto(e2e_server.url + "/")
    assert page.locator("h1").inner_text() == "Friday, 5 April 2024"
    assert page.locator("article.card").count() == 4
    page.get_by_role("link", name="← Previous day").click()
    page.wait_for_url("**/day/2024-04-04")
    assert page.locator("h1").inner_text() == "Thursday, 4 April 2024"
    assert page.locator("article.card").count() == 12
    page.get_by_role("link", name="Next day →").click()
    page.wait_for_url("**/day/2024-04-05")
    page.get_by_role("link", name="the whole week").click()
    page.wait_for_url("**/week/2024-W14")
    assert "Week 14, 2024" in page.locator("h1").inner_text()
    counts = [int(c) for c in page.locator("article.card [data-count]").all_inner_texts()]
    assert counts == sorted(counts, reverse=True) and len(counts) > 10
    page.get_by_role("link", name="Trending").first.click()
    page.wait_for_url("**/trending")
    assert page.locator("article.card").count() > 0
    assert console_errors == []


def test_open_a_paper_and_copy_its_bibtex(browser_page, e2e_server, console_errors):
    page = browser_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(e2e_server.url + "/day/2024-04-04")
    first = page.locator("article.card .card-title a").first
    title = first.inner_text()
    first.click()
    page.wait_for_url(re.compile(r".*/papers/\d{4}\.\d{4,5}$"))
    assert page.locator("h1").inner_text() == title
    assert (
        page.get_by_role("link", name="PDF")
        .first.get_attribute("href")
        .startswith("https://arxiv.org/pdf/")
    )
    copy = page.get_by_role("button", name="Copy BibTeX")
    assert copy.is_visible()
    copy.click()
    page.get_by_text("BibTeX copied to the clipboard.").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("@misc{") and "archivePrefix={arXiv}" in copied
    assert console_errors == []


def test_math_is_rendered_by_katex(browser_page, e2e_server, console_errors):
    page = browser_page
    page.goto(f"{e2e_server.url}/papers/{MATH_PAPER}")
    page.locator("h1 .katex").wait_for()
    assert "$" not in page.locator("h1").inner_text()
    assert console_errors == []


def test_search_and_filters(browser_page, e2e_server, console_errors):
    page = browser_page
    page.goto(e2e_server.url + "/")
    page.get_by_role("searchbox", name="Search papers").fill("diffusion")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=diffusion")
    assert page.locator("article.card").count() == 20
    assert re.search(r"\d+ results", page.locator(".result-count").inner_text())
    page.get_by_text("Filters and sorting").click()
    page.get_by_label("Sort by").select_option("upvotes")
    page.get_by_label("Min. upvotes").fill("20")
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_url(re.compile(r".*min_upvotes=20.*"))
    counts = [int(c) for c in page.locator("article.card [data-count]").all_inner_texts()]
    assert counts and min(counts) >= 20 and counts == sorted(counts, reverse=True)
    page.get_by_role("link", name="Next →").count()  # present only with many results
    page.goto(e2e_server.url + "/search?q=qqqzzznothing&min_upvotes=100000")
    assert page.get_by_text("No papers match").is_visible()
    assert console_errors == []


def test_keyboard_skip_link_and_dark_mode_toggle(browser_page, e2e_server, console_errors):
    page = browser_page
    page.goto(e2e_server.url + "/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert skip.evaluate("el => el === document.activeElement")
    assert skip.bounding_box()["y"] >= 0  # visible when focused
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.get_by_role("button", name="Switch between dark and light theme").click()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert light != dark
    assert console_errors == []


def test_anonymous_upvote_leads_to_login(browser_page, e2e_server):
    page = browser_page
    page.goto(e2e_server.url + "/day/2024-04-04")
    if page.get_by_role("link", name="Log in").count() == 0:
        pytest.skip("accounts are not installed")
    page.locator("form[data-upvote] button").first.click()
    page.wait_for_url(re.compile(r".*/login.*"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(
    ("device", "viewport"),
    [("desktop", {"width": 1200, "height": 900}), ("phone", {"width": 390, "height": 844})],
)
def test_screenshots(chromium, e2e_server, artifacts, scheme, device, viewport):
    context = chromium.new_context(viewport=viewport, color_scheme=scheme)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        for name, path in (("home", "/"), ("paper", f"/papers/{MATH_PAPER}")):
            page.goto(e2e_server.url + path)
            page.wait_for_load_state("networkidle")
            out = artifacts / f"{name}-{device}-{scheme}.png"
            page.screenshot(path=str(out), full_page=name == "home")
            assert out.stat().st_size > 10_000
            # Nothing sticks out sideways on a phone.
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], f"{path} is {width}px wide"
    finally:
        context.close()
    assert errors == []
