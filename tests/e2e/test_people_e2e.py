"""People in a real browser: sign up, confirm and reset the password through the mails
a real server sends; the settings pages; the API docs with no internet; the signed-link
forms of the inbox under the origin check."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from paperwire.web.devserver import ServerProcess, free_port, home_env
from tests.inbox.conftest import SmtpSink, _Handler

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "paperwire" / "samples" / "hf-daily-papers.json.gz"
PASSWORD = "a long enough password"
NEW_PASSWORD = "an even longer new password"


@pytest.fixture(scope="module")
def mail() -> Iterator[SmtpSink]:
    port = free_port()
    sink = SmtpSink("127.0.0.1", port)
    controller = Controller(_Handler(sink), hostname="127.0.0.1", port=port)
    controller.start()
    yield sink
    controller.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, mail: SmtpSink) -> Iterator[str]:
    home = tmp_path_factory.mktemp("people-e2e") / "home"
    home.mkdir()
    env = {
        "PAPERWIRE_OFFLINE": "1",
        "PAPERWIRE_SMTP_HOST": mail.host,
        "PAPERWIRE_SMTP_PORT": str(mail.port),
        "PAPERWIRE_SMTP_TLS": "none",
        "PAPERWIRE_MAIL_FROM": "Paperwire <accounts@paperwire.test>",
        "PAPERWIRE_DIGEST_SCHEDULER": "0",
    }
    subprocess.run(
        [sys.executable, "-m", "paperwire", "import", str(SAMPLE), "--no-index", "--no-progress"],
        env=home_env(home, env),
        check=True,
        capture_output=True,
        timeout=300,
    )
    with ServerProcess(home, env=env) as proc:
        yield proc.url


@pytest.fixture
def page(chromium, console_errors):
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    yield page
    context.close()


def mailed_link(mail: SmtpSink, to: str, kind: str, path: str, after: int = 0) -> str:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = mail.to(to, kind)
        if len(found) > after:
            text = found[after].message.get_body(("plain",)).get_content()
            return next(u for u in re.findall(r"https?://\S+", text) if path in u)
        time.sleep(0.1)
    raise AssertionError(f"no {kind} mail to {to}")


def test_sign_up_confirm_and_reset_the_password_by_mail(server, mail, page, console_errors):
    email = "hedy@example.org"
    page.goto(f"{server}/signup")
    page.fill("input[name=email]", email)
    page.fill("input[name=display_name]", "Hedy")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.pw-form button[type=submit]")
    page.wait_for_url(f"{server}/signup/sent")
    assert "Check your inbox" in page.locator("h1").inner_text()

    page.goto(mailed_link(mail, email, "account-verify", "/account/verify/"))
    page.click("form.pw-form button[type=submit]")
    assert "confirmed" in page.locator(".pw-message").inner_text()

    # Forgot the password: the login page leads to a reset by mail.
    page.goto(f"{server}/login")
    page.click("a[href='/reset']")
    page.fill("input[name=email]", email)
    page.click("form.pw-form button[type=submit]")
    assert "If this address has an account" in page.locator(".pw-message").inner_text()
    page.goto(mailed_link(mail, email, "account-reset", "/reset/"))
    page.fill("input[name=password]", NEW_PASSWORD)
    page.fill("input[name=password2]", NEW_PASSWORD)
    page.click("form.pw-form button[type=submit]")
    page.wait_for_url(f"{server}/account?reset=1")
    assert "new password is set" in page.locator("p.notice").inner_text()
    assert page.locator(".account .user-name").inner_text() == "Hedy"
    assert "confirmed" in page.locator(".pw-badge").first.inner_text()

    # The old password is gone, the new one works.
    page.click(".account form[action='/logout'] button")
    page.goto(f"{server}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.pw-form button[type=submit]")
    assert page.locator(".pw-error").inner_text() == "The email or password is incorrect."
    page.fill("input[name=password]", NEW_PASSWORD)
    page.click("form.pw-form button[type=submit]")
    page.wait_for_url(f"{server}/")
    # The only error is the wrong password's 400 answer.
    assert [e for e in console_errors if "status of 400" not in e] == []


def test_settings_pages_tokens_and_sessions(server, mail, page, console_errors, artifacts):
    email = "grace@example.org"
    page.goto(f"{server}/signup")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.pw-form button[type=submit]")
    page.goto(mailed_link(mail, email, "account-verify", "/account/verify/"))
    page.click("form.pw-form button[type=submit]")
    page.goto(f"{server}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.pw-form button[type=submit]")
    page.wait_for_url(f"{server}/")
    page.click(".account a.user-name")
    page.wait_for_url(f"{server}/account")
    page.click(".pw-tabs a[href='/account/tokens']")
    page.fill("input[name=name]", "my script")
    page.check("input[name=scope][value=write]")
    page.click("form[action='/account/tokens'] button")
    secret = page.locator("[data-token]").inner_text()
    assert secret.startswith("pw_")
    page.screenshot(path=str(artifacts / "people-tokens.png"), full_page=True)
    me = httpx.get(f"{server}/api/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.json()["email"] == email
    page.reload()  # shown once
    assert secret not in page.content()
    page.click(".pw-tabs a[href='/account/sessions']")
    assert page.locator(".pw-sessions li").count() == 1
    assert "this browser" in page.locator(".pw-sessions").inner_text()
    page.click("form[action='/account/sessions/end-all'] button")
    page.wait_for_url(f"{server}/login")
    assert page.locator(".account a[href='/login']").is_visible()
    assert console_errors == []


def test_api_docs_render_with_no_internet(server, page, console_errors):
    outside: list[str] = []

    def only_this_site(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_site)
    page.goto(f"{server}/api/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() > 10
    assert "Authorize" in page.locator(".auth-wrapper").inner_text()
    assert outside == [] and console_errors == []


def test_inbox_link_forms_pass_the_origin_check(server, mail, page, console_errors):
    """The manage page posts its form with this site's Origin, not "null"."""
    email = "ada@example.org"
    assert httpx.post(f"{server}/api/subscriptions", json={"email": email}).status_code == 202
    confirm = mailed_link(mail, email, "confirm", "/subscriptions/confirm/")
    page.goto(confirm)
    page.click("form button[type=submit]")
    manage = page.locator("a[href*='/subscriptions/manage/']").first.get_attribute("href")
    page.goto(manage if manage.startswith("http") else f"{server}{manage}")
    page.check("input[name=frequency][value=weekly]")
    page.click("form[action*='/subscriptions/manage/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/subscriptions/manage/.*\?saved=1"))
    assert "weekly" in page.locator("input[name=frequency]:checked").get_attribute("value")
