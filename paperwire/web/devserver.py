"""Run a real Paperwire server in a child process (tests, benchmarks, local checks).

The server is ``paperwire serve`` on 127.0.0.1 and a free port, over the given
``PAPERWIRE_HOME``; :meth:`ServerProcess.start` returns once it answers HTTP.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SAMPLE = SAMPLES / "hf-daily-papers.json.gz"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def home_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` pointed at ``home`` (and nothing else: no database URL or config)."""
    env = {**os.environ, "PAPERWIRE_HOME": str(home)}
    env.pop("PAPERWIRE_DATABASE_URL", None)
    env.pop("PAPERWIRE_CONFIG", None)
    env.update(extra or {})
    return env


def make_sample_home(home: Path, extra_env: Mapping[str, str] | None = None) -> Path:
    """Create ``home`` with the bundled sample loaded as ``paperwire demo`` loads it."""
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-c", "from paperwire.cli.web import prepare_demo; prepare_demo(False)"],
        env=home_env(home, extra_env),
        check=True,
        capture_output=True,
        timeout=600,
    )
    return home


class ServerProcess:
    """``paperwire serve`` in a child process; a context manager that stops it."""

    def __init__(
        self,
        home: Path,
        *,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        access_log: bool = False,
        workers: int = 1,
        jobs: bool = True,
    ) -> None:
        self.home = Path(home)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = home_env(self.home, {"PAPERWIRE_BASE_URL": self.url, **(env or {})})
        self.access_log = access_log
        self.workers = workers
        self.jobs = jobs  # False: --no-jobs (benchmarks measure serving alone)
        self.log_path = self.home / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        """Start the server and wait until it answers (raises with its log if it cannot)."""
        args = [sys.executable, "-m", "paperwire", "serve", "--host", "127.0.0.1"]
        args += ["--port", str(self.port), "--workers", str(self.workers)]
        if not self.access_log:
            args.append("--no-access-log")
        if not self.jobs:
            args.append("--no-jobs")
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.log()}")
            try:
                if httpx.get(self.url + "/static/favicon.svg", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        """The server's output so far (for failing tests)."""
        try:
            return self.log_path.read_text(errors="replace")[-8000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)

    def __enter__(self) -> ServerProcess:
        return self.start() if self.proc is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
