"""``paperwire serve`` and ``paperwire demo`` as a user runs them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from paperwire.web.devserver import free_port, home_env

MODELS = Path(__file__).resolve().parents[2] / ".cache" / "models"  # shared converted models


def test_serve_help(run_cli):
    result = run_cli("serve", "--help")
    assert result.returncode == 0
    assert "--host" in result.stdout and "--port" in result.stdout and "--reload" in result.stdout


def test_demo_imports_the_sample_and_serves_within_seconds(home):
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "paperwire", "demo", "--host", "127.0.0.1", "--port", str(port)],
        env=home_env(home, {"PAPERWIRE_MODEL_DIR": str(MODELS)}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() - started < 60, "demo did not start within 60 s"
            try:
                r = httpx.get(url + "/", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        elapsed = time.monotonic() - started
        assert r.status_code == 200 and "5 April 2024" in r.text
        assert len(httpx.get(url + "/api/daily_papers?date=2024-04-04").json()) == 12
        assert elapsed < 30, f"demo took {elapsed:.1f}s to serve"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    text = out.decode()
    assert "Loaded the bundled sample: 753 papers" in text
    assert f"Open http://127.0.0.1:{port}/" in text
    # A second start leaves the catalog alone.
    again = subprocess.run(
        [sys.executable, "-c", "from paperwire.cli.web import prepare_demo; print(prepare_demo())"],
        env=home_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.stdout.strip() == "753"
