"""The discussion in a real browser: comment, reply to a comment, math rendered by KaTeX,
and hostile Markdown that stays text (no dialog, no console error)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from paperwire.web.devserver import ServerProcess, home_env

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "paperwire" / "samples" / "hf-daily-papers.json.gz"
EMAIL = "emmy@example.org"
PASSWORD = "a long enough password"
ENV = {"PAPERWIRE_OFFLINE": "1", "PAPERWIRE_DIGEST_SCHEDULER": "0"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("discussion-e2e") / "home"
    home.mkdir()
    env = home_env(home, ENV)
    for args, stdin in (
        (["import", str(SAMPLE), "--no-index", "--no-progress"], None),
        (["users", "create-admin", EMAIL, "--name", "Emmy", "--password-stdin"], PASSWORD),
    ):
        subprocess.run(
            [sys.executable, "-m", "paperwire", *args],
            env=env,
            input=stdin,
            text=True,
            check=True,
            capture_output=True,
            timeout=300,
        )
    with ServerProcess(home, env=ENV) as proc:
        yield proc.url


def test_reply_with_math_and_hostile_markdown(server, chromium, console_errors):
    paper = httpx.get(f"{server}/api/daily_papers", params={"limit": 1}).json()[0]["paper"]["id"]
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    try:
        page.goto(f"{server}/login")
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=password]", PASSWORD)
        page.click("form.pw-form button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)

        page.goto(f"{server}/papers/{paper}")
        form = page.locator("#discussion > form.pw-comment-form")
        form.locator("textarea").fill("Why is $\\sum_i x_i^2$ *bounded*?")
        form.locator("button").click()
        first = page.locator("#discussion .pw-comment").first
        first.locator(".pw-comment-body .katex").wait_for()
        assert "$" not in first.locator(".pw-comment-body").inner_text()

        first.locator("details.pw-reply summary").click()
        reply = first.locator("details.pw-reply form")
        reply.locator("textarea").fill(
            "<script>alert('x')</script> <img src=x onerror=alert(1)> "
            "[click](javascript:alert(2)) and $$E = mc^2$$"
        )
        reply.locator("button").click()
        nested = page.locator("#discussion .pw-comments .pw-comments .pw-comment")
        nested.locator(".katex").first.wait_for()
        text = nested.locator(".pw-comment-body").inner_text()
        assert "<script>alert('x')</script>" in text and "onerror" in text  # shown as text
        assert nested.locator(".pw-comment-body a, .pw-comment-body img").count() == 0
        assert page.locator("#discussion h2").inner_text().endswith("(2 comments)")
        assert dialogs == [] and console_errors == []
    finally:
        context.close()
