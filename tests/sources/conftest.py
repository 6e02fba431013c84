"""A local stand-in for arXiv's API and OAI-PMH servers, over real HTTP.

Responses are the recorded pages in ``fixtures/``; tests can inject faults
(status codes, Retry-After) and read the request log to see what was fetched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakes import Fault, Request

FIXTURES = Path(__file__).parent / "fixtures"

API_PAGES = {"0": "arxiv_api_page1.xml", "2": "arxiv_api_page2.xml", "4": "arxiv_api_page3.xml"}
OAI_TOKENS = {
    "verb%3DListRecords%26metadataPrefix%3DarXivRaw%26set%3Dcs%26skip%3D2": "oai_raw_page2.xml",
    "verb%3DListRecords%26metadataPrefix%3DarXivRaw%26set%3Dcs%26skip%3D4": "oai_raw_page3.xml",
    "verb%3DListRecords%26metadataPrefix%3DarXiv%26set%3Dcs%26skip%3D2": "oai_arxiv_page2.xml",
}


class FakeArxiv:
    """The server: ``api_url``, ``oai_url``, ``log`` of requests, ``faults`` to inject."""

    def __init__(self) -> None:
        self.log: list[Request] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(parts.query).items()}
                request = Request(time.monotonic(), parts.path, params)
                status, headers, body = fake.respond(request)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        host, port = self.httpd.server_address[:2]
        self.base = f"http://{host}:{port}"
        self.api_url = f"{self.base}/api/query"
        self.oai_url = f"{self.base}/oai"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def env(self, delay: float = 0.05) -> dict[str, str]:
        """Environment for ``run_cli`` pointing Paperwire at this server."""
        return {
            "PAPERWIRE_ARXIV_API_URL": self.api_url,
            "PAPERWIRE_OAI_PMH_URL": self.oai_url,
            "PAPERWIRE_ARXIV_DELAY": str(delay),
        }

    def requests(self, path: str) -> list[Request]:
        return [r for r in self.log if r.path == path]

    def fault(self, match: Callable[[Request], bool], **kwargs: object) -> Fault:
        fault = Fault(match, **kwargs)  # type: ignore[arg-type]
        self.faults.append(fault)
        return fault

    def respond(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.log.append(request)
            for fault in self.faults:
                if fault.times != 0 and fault.match(request):
                    if fault.times is not None:
                        fault.times -= 1
                    if fault.file:
                        return (
                            200,
                            {"Content-Type": "text/xml"},
                            (FIXTURES / fault.file).read_bytes(),
                        )
                    return fault.status, fault.headers, fault.body
        name = self.route(request)
        if name is None:
            return 404, {"Content-Type": "text/plain"}, b"not found"
        if isinstance(name, bytes):
            return 200, {"Content-Type": "application/atom+xml"}, name
        content_type = "application/atom+xml" if name.startswith("arxiv_api") else "text/xml"
        return 200, {"Content-Type": content_type}, (FIXTURES / name).read_bytes()

    def api_slice(self, start: int, size: int) -> bytes:
        """A page of the recorded result for any start / max_results (the real API's paging)."""
        entries: list[str] = []
        for name in ("arxiv_api_page1.xml", "arxiv_api_page2.xml", "arxiv_api_page3.xml"):
            text = (FIXTURES / name).read_text()
            entries += [
                "  <entry>" + e.split("</entry>")[0] + "</entry>\n"
                for e in text.split("  <entry>")[1:]
            ]
        head = (FIXTURES / "arxiv_api_page1.xml").read_text().split("  <entry>")[0]
        head = head.replace("<opensearch:startIndex>0<", f"<opensearch:startIndex>{start}<")
        head = head.replace("<opensearch:itemsPerPage>2<", f"<opensearch:itemsPerPage>{size}<")
        return (head + "".join(entries[start : start + size]) + "</feed>\n").encode()

    def route(self, request: Request) -> str | bytes | None:
        p = request.params
        if request.path == "/api/query":
            if "id_list" in p:
                if p["id_list"] == "2611.00456":
                    return "arxiv_api_paper.xml"
                return "arxiv_api_none.xml"
            page = API_PAGES.get(p.get("start", "0"))
            if page and p.get("max_results") == "2":
                return page
            return self.api_slice(int(p.get("start", 0)), int(p.get("max_results", 10)))
        if request.path == "/oai" and p.get("verb") == "ListRecords":
            if "resumptionToken" in p:
                return OAI_TOKENS.get(p["resumptionToken"], "oai_bad_token.xml")
            if p.get("from", "") >= "2099":
                return "oai_no_records.xml"
            return {"arXivRaw": "oai_raw_page1.xml", "arXiv": "oai_arxiv_page1.xml"}.get(
                p.get("metadataPrefix", "")
            )
        return None


@pytest.fixture
def fake_arxiv() -> Iterator[FakeArxiv]:
    server = FakeArxiv()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
