"""Fixtures for end-to-end tests: a real server on the sample and headless Chromium.

Reusable by every e2e module:

- ``e2e_home`` (session): a PAPERWIRE_HOME with the bundled sample (read-only).
- ``e2e_server`` (session): ``paperwire serve`` on it; ``e2e_server.url``.
- ``chromium`` (session): a Playwright browser (``/usr/bin/chromium``, headless);
  tests skip when Chromium or Playwright is missing.
- ``browser_page``: a fresh context and page (1200x900, light), closed afterwards;
  ``console_errors`` collects its console errors and page errors.
- ``artifacts``: the git-ignored ``test-artifacts/`` folder for screenshots.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from paperwire.web.devserver import ServerProcess, make_sample_home

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def e2e_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sample_home(tmp_path_factory.mktemp("e2e-sample") / "home")


@pytest.fixture(scope="session")
def e2e_server(e2e_home: Path) -> Iterator[ServerProcess]:
    env = {"PAPERWIRE_OFFLINE": "1", "PAPERWIRE_MODEL_DIR": str(ROOT / ".cache" / "models")}
    with ServerProcess(e2e_home, env=env) as server:
        # The first search loads the query encoder (seconds, once): not inside a page wait.
        httpx.get(server.url + "/search", params={"q": "warm up"}, timeout=300)
        yield server


@pytest.fixture(scope="session")
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def console_errors() -> list[str]:
    return []


@pytest.fixture
def browser_page(chromium, console_errors: list[str]):
    context = chromium.new_context(viewport={"width": 1200, "height": 900}, color_scheme="light")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    yield page
    context.close()
