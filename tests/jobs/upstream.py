"""A local stand-in for arXiv's OAI-PMH endpoint and Hugging Face's ``/api/daily_papers``.

It serves recorded days (``fixtures/oai/DAY.xml``: a real ``ListRecords``
response in ``arXivRaw`` format; ``fixtures/hf/DAY.json``: a real
``daily_papers`` response) over real HTTP, once the test has *published* a day,
the way new days appear upstream.  Like arXiv it answers ``ListRecords`` by
datestamp (``from``/``until``, inclusive), per set, only the latest record of
each item, in pages chained by resumption tokens; like Hugging Face it answers
``daily_papers?date=`` with that day's list (``limit``/``p`` pages).

Tests inject faults (a status for matching requests) and gates (a matching
request waits until released: a process can be killed mid-run), and read the
request log.  The benchmark uses it too, with generated days (:meth:`add_day`).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.sax.saxutils import escape

from tests.fakes import Fault, Request

FIXTURES = Path(__file__).parent / "fixtures"
OAI_NS = "http://www.openarchives.org/OAI/2.0/"
RAW_NS = "http://arxiv.org/OAI/arXivRaw/"
_RECORD = re.compile(r"<record>.*?</record>", re.DOTALL)
_DATESTAMP = re.compile(r"<datestamp>([^<]+)</datestamp>")
_IDENTIFIER = re.compile(r"<identifier>([^<]+)</identifier>")
_SET = re.compile(r"<setSpec>([^<]+)</setSpec>")


# -- rendering (also used to build the fixtures and the benchmark's day) ----------------------


def raw_record(paper: dict[str, Any], datestamp: str, *, deleted: bool = False) -> str:
    """One OAI-PMH ``<record>`` in ``arXivRaw`` format.

    ``paper`` holds ``id``, ``title``, ``authors``, ``categories``, ``abstract``,
    ``comment`` and ``versions``: ``[(label, rfc2822_date), ...]``.
    """
    ident = f"oai:arXiv.org:{paper['id']}"
    if deleted:
        return (
            f'<record>\n<header status="deleted">\n <identifier>{ident}</identifier>\n'
            f" <datestamp>{datestamp}</datestamp>\n</header>\n</record>"
        )
    sets = "".join(
        f" <setSpec>{escape(c.split('.')[0])}:{escape(c.split('.')[0])}:"
        f"{escape(c.split('.', 1)[1])}</setSpec>\n"
        for c in paper["categories"]
        if "." in c
    )
    versions = "".join(
        f'<version version="{label}"><date>{escape(when)}</date><size>512kb</size>'
        f"<source_type>D</source_type></version>\n"
        for label, when in paper["versions"]
    )
    comment = f" <comments>{escape(paper['comment'])}</comments>\n" if paper.get("comment") else ""
    return (
        f"<record>\n<header>\n <identifier>{ident}</identifier>\n"
        f" <datestamp>{datestamp}</datestamp>\n{sets}</header>\n<metadata>\n"
        f' <arXivRaw xmlns="{RAW_NS}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://arxiv.org/OAI/arXivRaw/ '
        'https://oaipmh.arxiv.org/OAI/arXivRaw.xsd">\n'
        f" <id>{escape(paper['id'])}</id>\n"
        f" <submitter>{escape((paper['authors'] or ['Unknown'])[0])}</submitter>\n"
        f"{versions}"
        f" <title>{escape(paper['title'])}</title>\n"
        f" <authors>{escape(', '.join(paper['authors']))}</authors>\n"
        f" <categories>{escape(' '.join(paper['categories']))}</categories>\n"
        f"{comment}"
        " <license>http://arxiv.org/licenses/nonexclusive-distrib/1.0/</license>\n"
        f" <abstract>  {escape(paper['abstract'])}\n</abstract>\n"
        " </arXivRaw>\n</metadata>\n</record>"
    )


def list_records(
    records: list[str],
    *,
    response_date: str,
    request: dict[str, str],
    token: str | None = None,
    cursor: int = 0,
    size: int | None = None,
) -> bytes:
    """A ``ListRecords`` response around ``records`` (``token`` None and cursor 0: one page)."""
    attrs = "".join(
        f' {k}="{escape(v)}"' for k, v in request.items() if k not in ("verb", "resumptionToken")
    )
    if token is not None:
        resumption = (
            f'<resumptionToken cursor="{cursor}" completeListSize="{size}">'
            f"{escape(token)}</resumptionToken>\n"
        )
    elif cursor:
        resumption = f'<resumptionToken cursor="{cursor}" completeListSize="{size}"/>\n'
    else:
        resumption = ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<OAI-PMH xmlns="{OAI_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/ '
        'http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd">\n'
        f"<responseDate>{response_date}</responseDate>\n"
        f'<request verb="ListRecords"{attrs}>https://oaipmh.arxiv.org/oai</request>\n'
        "<ListRecords>\n" + "\n".join(records) + "\n" + resumption + "</ListRecords>\n</OAI-PMH>\n"
    )
    return body.encode()


def oai_error(code: str, message: str, response_date: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<OAI-PMH xmlns="{OAI_NS}">\n<responseDate>{response_date}</responseDate>\n'
        '<request verb="ListRecords">https://oaipmh.arxiv.org/oai</request>\n'
        f'<error code="{code}">{escape(message)}</error>\n</OAI-PMH>\n'
    ).encode()


def rfc2822(day: str, hour: int) -> str:
    """``Mon, 9 Jun 2025 14:00:00 GMT`` for a version date."""
    from datetime import UTC, datetime

    y, m, d = (int(x) for x in day.split("-"))
    return format_datetime(datetime(y, m, d, hour, 0, tzinfo=UTC), usegmt=True)


def hf_item(rec: dict, day: str, votes: int, n: int, *, repo: str | None) -> dict:
    """A ``daily_papers`` item for corpus record ``rec`` listed on ``day`` (made-up HF data)."""
    user = {
        "_id": f"65f0c0ffee{n:014d}",
        "avatarUrl": f"/avatars/{n:032x}.svg",
        "fullname": f"Daily Reader {n}",
        "name": f"daily-reader-{n}",
        "type": "user",
        "isPro": False,
    }
    paper = {
        "id": rec["id"],
        "authors": [
            {"_id": f"6850{n:04d}{i:012d}", "name": name, "hidden": False}
            for i, name in enumerate(rec["authors"])
        ],
        "publishedAt": f"{(date.fromisoformat(day) - timedelta(days=1)).isoformat()}T14:00:00.000Z",
        "submittedOnDailyAt": f"{day}T06:{10 + n % 40:02d}:00.000Z",
        "title": " ".join(rec["title"].split()),
        "summary": rec["abstract"],
        "upvotes": votes,
        "discussionId": f"6850{n:020x}",
        "submittedOnDailyBy": user,
    }
    if repo:
        paper["githubRepo"] = repo
        paper["githubStars"] = 40 + 17 * n
    return {
        "paper": paper,
        "publishedAt": paper["publishedAt"],
        "title": paper["title"],
        "summary": rec["abstract"],
        "thumbnail": f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{rec['id']}.png",
        "numComments": n % 4,
        "submittedBy": user,
        "isAuthorParticipating": False,
    }


# -- the server ------------------------------------------------------------------------------


@dataclass
class Gate:
    """Hold requests matching ``match`` until :meth:`release`; ``reached`` is set on arrival."""

    match: Callable[[Request], bool]
    reached: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.opened.set()


@dataclass
class Day:
    records: list[tuple[str, str, set[str], str]]  # (identifier, datestamp, sets, xml)
    hf_items: list[dict[str, Any]]


def _parse_day_file(text: str) -> list[tuple[str, str, set[str], str]]:
    out = []
    for xml in _RECORD.findall(text):
        ident = _IDENTIFIER.search(xml)
        stamp = _DATESTAMP.search(xml)
        assert ident and stamp, "every recorded record has an identifier and a datestamp"
        groups = {s.split(":")[0] for s in _SET.findall(xml)}
        out.append((ident.group(1), stamp.group(1), groups, xml))
    return out


class Upstream:
    """The server; ``publish(day)`` makes a recorded day visible on both services."""

    def __init__(self, fixtures: Path = FIXTURES, *, page_size: int = 100) -> None:
        self.page_size = page_size
        self.days: dict[str, Day] = {}
        for path in sorted((fixtures / "oai").glob("*.xml")) if (fixtures / "oai").exists() else []:
            hf = fixtures / "hf" / f"{path.stem}.json"
            items = json.loads(hf.read_text()) if hf.exists() else []
            self.days[path.stem] = Day(_parse_day_file(path.read_text()), items)
        self.published: set[str] = set()
        self.upvotes: dict[str, int] = {}  # arXiv id -> upvotes to report instead
        self.log: list[Request] = []
        self.faults: list[Fault] = []
        self.gates: list[Gate] = []
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(parts.query).items()}
                status, content_type, body = upstream.respond(
                    Request(time.monotonic(), parts.path, params)
                )
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client was killed while its request was held

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        host, port = self.httpd.server_address[:2]
        self.base = f"http://{host}:{port}"
        self.oai_url = f"{self.base}/oai"
        self.hf_url = self.base
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- test controls --------------------------------------------------------------------

    def start(self) -> Upstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        for gate in self.gates:
            gate.release()
        self.httpd.shutdown()
        self.httpd.server_close()

    def env(self, delay: float = 0.02) -> dict[str, str]:
        """Environment pointing Paperwire's jobs at this server (fast politeness for tests)."""
        return {
            "PAPERWIRE_OAI_PMH_URL": self.oai_url,
            "PAPERWIRE_HF_API_URL": self.hf_url,
            "PAPERWIRE_ARXIV_DELAY": str(delay),
            "PAPERWIRE_HF_DELAY": str(delay),
            "PAPERWIRE_ARXIV_CATEGORIES": "cs.AI,cs.CL,cs.CV,cs.LG",
        }

    def publish(self, day: str) -> None:
        with self.lock:
            self.published.add(day)

    def add_day(self, day: str, records: list[str], hf_items: list[dict[str, Any]]) -> None:
        """A generated day (not published yet)."""
        self.days[day] = Day(_parse_day_file("\n".join(records)), hf_items)

    def fault(self, match: Callable[[Request], bool], **kwargs: Any) -> Fault:
        fault = Fault(match, **kwargs)
        self.faults.append(fault)
        return fault

    def gate(self, match: Callable[[Request], bool]) -> Gate:
        gate = Gate(match)
        self.gates.append(gate)
        return gate

    def requests(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.log if r.path == path]

    # -- answering ------------------------------------------------------------------------

    def respond(self, request: Request) -> tuple[int, str, bytes]:
        with self.lock:
            self.log.append(request)
            for fault in self.faults:
                if fault.times != 0 and fault.match(request):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault.status, "text/plain", fault.body
            gates = [g for g in self.gates if g.match(request) and not g.opened.is_set()]
        for gate in gates:
            gate.reached.set()
            gate.opened.wait(120)
        if request.path == "/oai":
            return 200, "text/xml; charset=utf-8", self._oai(request.params)
        if request.path == "/api/daily_papers":
            return 200, "application/json", self._hf(request.params)
        return 404, "text/plain", b"not found"

    def _visible(self, set_spec: str | None) -> Iterator[tuple[str, str, str]]:
        """(datestamp, identifier, xml) of the latest record of each item, oldest first."""
        latest: dict[str, tuple[str, str]] = {}
        for day in sorted(self.published):
            for ident, stamp, groups, xml in self.days[day].records:
                if set_spec is None or set_spec.split(":")[0] in groups or "deleted" in xml:
                    latest[ident] = (stamp, xml)
        for ident, (stamp, xml) in sorted(latest.items(), key=lambda kv: (kv[1][0], kv[0])):
            yield stamp, ident, xml

    def _oai(self, params: dict[str, str]) -> bytes:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if params.get("verb") != "ListRecords":
            return oai_error("badVerb", "only ListRecords here", now)
        if "resumptionToken" in params:
            query = {k: v[0] for k, v in parse_qs(params["resumptionToken"]).items()}
            if "offset" not in query:
                return oai_error("badResumptionToken", "unknown token", now)
            offset = int(query.pop("offset"))
        else:
            wanted = ("metadataPrefix", "set", "from", "until")
            query = {k: v for k, v in params.items() if k in wanted}
            offset = 0
        if query.get("metadataPrefix") != "arXivRaw":
            return oai_error("cannotDisseminateFormat", "recorded in arXivRaw only", now)
        with self.lock:
            rows = [
                (stamp, xml)
                for stamp, _ident, xml in self._visible(query.get("set"))
                if query.get("from", "") <= stamp <= query.get("until", "9999")
            ]
        if not rows:
            return oai_error("noRecordsMatch", "no records match the request", now)
        page = [xml for _, xml in rows[offset : offset + self.page_size]]
        more = offset + self.page_size < len(rows)
        token = urlencode({**query, "offset": offset + self.page_size}) if more else None
        request = {"metadataPrefix": query["metadataPrefix"], **params}
        return list_records(
            page, response_date=now, request=request, token=token, cursor=offset, size=len(rows)
        )

    def _hf(self, params: dict[str, str]) -> bytes:
        day = params.get("date", "")
        limit = int(params.get("limit", 50))
        page = int(params.get("p", 0))
        with self.lock:
            known = self.days.get(day)
            items = list(known.hf_items) if known and day in self.published else []
            items = [self._with_votes(item) for item in items]
        return json.dumps(items[page * limit : (page + 1) * limit]).encode()

    def _with_votes(self, item: dict[str, Any]) -> dict[str, Any]:
        votes = self.upvotes.get(item["paper"]["id"])
        if votes is None:
            return item
        return {**item, "paper": {**item["paper"], "upvotes": votes}}
