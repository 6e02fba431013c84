"""A shared collection in a real browser: make one, make it public, open its share URL
logged out in a fresh browser context, and download it as .bib and .ris."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperwire.web.devserver import ServerProcess, home_env

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "paperwire" / "samples" / "hf-daily-papers.json.gz"
PASSWORD = "a long enough password"
PAPER = "2401.10241"  # in the sample: Zero Bubble Pipeline Parallelism


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("collections-e2e") / "home"
    home.mkdir()
    env = {"PAPERWIRE_OFFLINE": "1", "PAPERWIRE_DIGEST_SCHEDULER": "0"}
    subprocess.run(
        [sys.executable, "-m", "paperwire", "import", str(SAMPLE), "--no-index", "--no-progress"],
        env=home_env(home, env),
        check=True,
        capture_output=True,
        timeout=300,
    )
    with ServerProcess(home, env=env) as proc:
        yield proc.url


def test_share_a_public_collection(server, chromium, browser_page, console_errors, artifacts):
    page, base = browser_page, server
    page.set_default_timeout(60_000)  # password hashing on a busy machine
    page.goto(f"{base}/signup")
    page.fill("input[name=email]", "curator@example.com")
    page.fill("input[name=display_name]", "Curator")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.pw-form button[type=submit]")
    page.wait_for_url(f"{base}/signup/sent")
    page.goto(f"{base}/login")
    page.fill("input[name=email]", "curator@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.pw-form button[type=submit]")
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/collections")
    page.fill("input[name=name]", "Pipelines")
    page.click("form[action='/collections'] button[type=submit]")
    page.wait_for_url(f"{base}/collections/pipelines")
    page.fill("input[name=paper_id]", PAPER)
    page.click("form[action='/collections/pipelines/add'] button")
    page.wait_for_url(f"{base}/collections/pipelines")
    page.check("input[name=visibility][value=public]")
    page.fill("textarea[name=description]", "Papers on <pipeline> parallelism")
    page.click("form[action='/collections/pipelines/edit'] button[type=submit]")
    page.wait_for_url(f"{base}/collections/pipelines")
    assert page.locator("[data-visibility]").inner_text() == "Public"
    share = page.locator("a[data-share-url]").get_attribute("href")
    assert share.startswith("/c/") and share.endswith("/pipelines")

    visitor = chromium.new_context(accept_downloads=True)
    try:
        anon = visitor.new_page()
        anon.set_default_timeout(60_000)
        anon.goto(base + share)
        assert anon.locator("h1").inner_text() == "Pipelines"
        assert anon.locator(".pw-collection-description").inner_text().strip() == (
            "Papers on <pipeline> parallelism"
        )
        assert anon.locator(".pw-collection-papers li a").first.inner_text() == (
            "Zero Bubble Pipeline Parallelism"
        )
        assert anon.locator(".account a[href='/login']").is_visible()  # logged out
        anon.screenshot(path=str(artifacts / "collection-shared.png"))
        downloads = {}
        for ext in ("bib", "ris"):
            with anon.expect_download() as info:
                anon.click(f".pw-exports a[href$='.{ext}']")
            download = info.value
            assert download.suggested_filename == f"pipelines.{ext}"
            downloads[ext] = Path(download.path()).read_text(encoding="utf-8")
        assert f"eprint={{{PAPER}}}" in downloads["bib"]
        assert downloads["ris"].startswith("TY  - ")
        assert f"UR  - https://arxiv.org/abs/{PAPER}" in downloads["ris"]
    finally:
        visitor.close()
    assert not console_errors
