"""docs/deploy.md's nginx configuration in front of two `paperwire serve` instances
(separate homes, one PostgreSQL, one shared secret) behaves as one site."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from paperwire.web.devserver import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx not installed (apt-get install nginx)")


def documented_config(backends: list[int], listen: int) -> str:
    """The ```nginx block of docs/deploy.md, pointed at local ports, TLS taken out."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    (conf,) = re.findall(r"```nginx\n(.*?)```", text, re.S)

    def sub(pattern: str, repl: str, count: int = 1, flags: int = re.M) -> None:
        nonlocal conf
        conf, n = re.subn(pattern, repl, conf, flags=flags)
        assert n == count, f"docs/deploy.md changed: {pattern!r} matched {n} times"

    ports = iter(backends)
    sub(r"server 10\.0\.0\.\d+:8000", lambda _m: f"server 127.0.0.1:{next(ports)}", count=2)
    sub(r"^server \{\n    listen 80;.*?^\}\n", "", flags=re.M | re.S)  # the https redirect
    sub(r"listen 443 ssl;", f"listen 127.0.0.1:{listen};")
    sub(r"^\s*http2 on;\n", "")
    sub(r"^\s*ssl_certificate(_key)? .*\n", "", count=2)
    # For the test only: which instance answered.
    sub(
        r"location / \{\n",
        "location / {\n        add_header X-Test-Upstream $upstream_addr always;\n",
    )
    return conf


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[[list[int], int], str]]:
    procs: list[subprocess.Popen] = []

    def start(backends: list[int], port: int) -> str:
        root = tmp_path / "nginx"
        root.mkdir()
        temp = "\n".join(
            f"    {kind}_temp_path {root / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        main = (
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"worker_processes 1;\npid {root / 'nginx.pid'};\n"
            + f"error_log {root / 'error.log'} warn;\n"
            + "events { worker_connections 128; }\n"
            + f"http {{\n    access_log off;\n{temp}\n"
            + documented_config(backends, port)
            + "}\n"
        )
        (root / "nginx.conf").write_text(main)
        args = [
            NGINX,
            "-p",
            str(root),
            "-c",
            str(root / "nginx.conf"),
            "-e",
            str(root / "error.log"),
        ]
        check = subprocess.run([*args, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        procs.append(subprocess.Popen([*args, "-g", "daemon off;"]))
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return f"http://127.0.0.1:{port}"
            assert time.monotonic() < deadline, (root / "error.log").read_text()
            time.sleep(0.05)

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_two_instances_behind_nginx_serve_one_site(
    server_db, inbox_env, catalog, home, tmp_path, smtp_sink, nginx
) -> None:
    ports, proxy = [free_port(), free_port()], free_port()
    public = f"http://127.0.0.1:{proxy}"
    env = {
        "PAPERWIRE_DATABASE_URL": server_db,
        "PAPERWIRE_BASE_URL": public,  # the proxy's address, as in production
        "PAPERWIRE_DIGEST_INTERVAL": "0.5",  # both senders keep polling the outbox
        "PAPERWIRE_OFFLINE": "1",
    }
    homes = [home, tmp_path / "home-b"]
    homes[1].mkdir()
    servers = [ServerProcess(h, port=p, env=env) for h, p in zip(homes, ports, strict=True)]
    try:
        for server in servers:
            server.start(timeout=120)
        assert nginx(ports, proxy) == public
        check_site(public, servers, smtp_sink)
    finally:
        for server in servers:
            server.stop()


def check_site(public: str, servers: list[ServerProcess], smtp_sink) -> None:
    for server in servers:  # one catalog: imported once, served by both
        paper = httpx.get(server.url + "/api/papers/2606.00012", timeout=30)
        assert paper.status_code == 200 and paper.json()["title"] == "Sparse attention kernels"
    with httpx.Client(base_url=public, timeout=30) as http:
        seen = {http.get("/").headers["x-test-upstream"] for _ in range(4)}
        assert seen == {f"127.0.0.1:{s.port}" for s in servers}  # spread over both

        # A form from one instance, posted through the proxy to the other one.
        form = http.get("/subscribe")
        assert form.status_code == 200
        posted = http.post(
            "/subscribe",
            data={
                "csrf_token": csrf_token(form.text),
                "email": "proxy@example.org",
                "trending": "1",
            },
            headers={"origin": public},
        )
        assert posted.status_code == 200, posted.text
        assert "Check your inbox" in posted.text
        assert posted.headers["x-test-upstream"] != form.headers["x-test-upstream"]

    # Both instances poll the outbox twice a second; the reader still gets one mail.
    (confirm,) = smtp_sink.wait_for(1, timeout=60)
    time.sleep(3)
    assert len(smtp_sink.received) == 1
    link = re.search(
        r"https?://\S+/subscriptions/confirm/\S+",
        confirm.message.get_body(("plain",)).get_content(),
    ).group(0)
    assert link.startswith(public + "/")
    path = link[len(public) :]
    for server in servers:  # either instance honours a link the other one signed
        page = httpx.get(server.url + path, timeout=30)
        assert page.status_code == 200 and "Confirm your subscription" in page.text
    with httpx.Client(base_url=public, timeout=30) as http:
        done = http.post(path)
        assert done.status_code == 200 and "Subscription confirmed" in done.text
