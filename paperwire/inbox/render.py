"""Rendering messages: multipart/alternative (text + HTML), built directly as bytes.

Messages are assembled here rather than with :mod:`email.message` because a
digest run renders thousands of them: each paper is rendered once per run and
reused (:class:`Renderer` caches the fragments), and the MIME framing is a few
string joins plus C-speed quoted-printable encoding.  Tests parse the result
with the standard :mod:`email` parser.

HTML is produced by Jinja with autoescaping, so titles, authors and abstracts
(which contain ``<`` and ``&``) are always escaped.
"""

from __future__ import annotations

import binascii
import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, Template, select_autoescape
from markupsafe import Markup, escape

from ..config import Settings
from .tokens import Tokens

if TYPE_CHECKING:
    from .compose import DigestContent, Paper
    from .periods import Period
    from .subscriptions import Preferences

TEMPLATE_DIR = Path(__file__).parent / "templates"
# Stand-ins for a subscriber's links in pages rendered once for many subscribers.
_MANAGE = "PWLINKMANAGE0PLACEHOLDER"
_UNSUBSCRIBE = "PWLINKUNSUBSCRIBE0PLACEHOLDER"
CRLF = "\r\n"

_env = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _template(name: str) -> Template:
    return _env.get_template(name)


class Identity:
    """Sender identity and URL roots, derived once from the settings."""

    def __init__(self, settings: Settings) -> None:
        name, addr = parseaddr(settings.mail_from)
        if not addr or "@" not in addr:
            raise ValueError(f"PAPERWIRE_MAIL_FROM is not an address: {settings.mail_from!r}")
        self.envelope_from = addr
        self.from_header = formataddr((name, addr), charset="utf-8") if name else addr
        self.domain = addr.rsplit("@", 1)[1]
        self.base_url = settings.base_url.rstrip("/")
        self.host = urlsplit(self.base_url).hostname or self.domain
        # Distinguishes installations, so deterministic Message-IDs never collide.
        self.instance = hashlib.sha256(settings.secret_key.encode()).hexdigest()[:8]
        self.tokens = Tokens(settings.secret_key)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def manage_url(self, subscription_id: int) -> str:
        return self.url(f"/subscriptions/manage/{self.tokens.manage(subscription_id)}")

    def unsubscribe_url(self, subscription_id: int) -> str:
        return self.url(f"/unsubscribe/{self.tokens.unsubscribe(subscription_id)}")


def _header_value(value: str) -> str:
    """RFC 2047-encode a header value when it is not plain ASCII."""
    if value.isascii() and "\n" not in value and "\r" not in value:
        return value
    return Header(" ".join(value.split()), "utf-8").encode().replace("\n", CRLF)


def _qp(text: str) -> str:
    body = CRLF.join(text.splitlines()) + CRLF
    return binascii.b2a_qp(body.encode("utf-8"), istext=True).decode("ascii")


def build_message(
    identity: Identity,
    *,
    to: str,
    subject: str,
    message_id: str,
    date: datetime,
    text: str,
    html: str,
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """A complete RFC 5322 message (CRLF line ends) with text and HTML alternatives."""
    boundary = "=_pw_" + hashlib.sha1(message_id.encode()).hexdigest()[:24]
    lines = [
        f"From: {identity.from_header}",
        f"To: {to}",
        f"Subject: {_header_value(subject)}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        *(f"{k}: {v}" for k, v in headers),
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        _qp(text),
        f"--{boundary}",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        _qp(html),
        f"--{boundary}--",
        "",
    ]
    return CRLF.join(lines).encode("ascii")


def one_line(abstract: str, limit: int = 220) -> str:
    """The first sentence of an abstract, cut at ``limit`` characters."""
    text = " ".join(abstract.split())
    for stop in (". ", "? ", "! "):
        idx = text.find(stop)
        if 0 < idx < limit:
            text = text[: idx + 1]
            break
    if len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0] + "…"
    return text


def authors_line(authors: list[str], limit: int = 6) -> str:
    if len(authors) <= limit:
        return ", ".join(authors)
    return ", ".join(authors[:limit]) + f" et al. ({len(authors)} authors)"


class Renderer:
    """Renders digests for one run, caching every paper's fragments."""

    def __init__(self, settings: Settings) -> None:
        self.identity = Identity(settings)
        self._papers: dict[str, tuple[Markup, str]] = {}
        self._bodies: dict[tuple, tuple[Markup, str]] = {}
        self._pages: dict[tuple, tuple[str, str, str]] = {}
        self._html = _template("digest.html")
        self._text = _template("digest.txt")
        self._paper_html = _template("paper.html")
        self._paper_text = _template("paper.txt")

    def paper(self, paper: Paper) -> tuple[Markup, str]:
        """HTML and text fragments of one paper (rendered once per run)."""
        cached = self._papers.get(paper.id)
        if cached is None:
            ctx = {
                "paper": paper,
                "url": self.identity.url(f"/papers/{paper.id}"),
                "authors": authors_line(paper.authors),
                "summary": one_line(paper.abstract),
            }
            cached = (Markup(self._paper_html.render(ctx)), self._paper_text.render(ctx))
            self._papers[paper.id] = cached
        return cached

    def body(self, content: DigestContent) -> tuple[Markup, str]:
        """The sections of a digest; shared by every subscriber with the same content."""
        key = content.cache_key
        cached = self._bodies.get(key)
        if cached is None:
            html_parts: list[str] = []
            text_parts: list[str] = []
            for section in content.sections:
                html_parts.append(
                    f'<h2 style="font-size:18px;margin:24px 0 8px">'
                    f'{escape(section.title)}</h2>\n<ol style="padding-left:20px">'
                )
                text_parts.append(f"\n{section.title}\n{'=' * len(section.title)}\n")
                for paper in section.papers:
                    h, t = self.paper(paper)
                    html_parts.append(h)
                    text_parts.append(t)
                html_parts.append("</ol>")
            cached = (Markup("\n".join(html_parts)), "\n".join(text_parts))
            self._bodies[key] = cached
        return cached

    def digest_parts(
        self,
        *,
        subscription_id: int,
        period: Period,
        content: DigestContent,
        unsubscribe: str | None = None,
    ) -> tuple[str, str, str]:
        """Subject, plain text and HTML of one subscriber's digest.

        The page around the papers is rendered once per distinct content, with
        placeholders for the subscriber's links, which are then substituted.
        """
        key = (period, content.cache_key)
        page = self._pages.get(key)
        if page is None:
            body_html, body_text = self.body(content)
            ctx = {
                "period": period,
                "count": content.count,
                "body_html": body_html,
                "body_text": body_text,
                "manage_url": _MANAGE,
                "unsubscribe_url": _UNSUBSCRIBE,
                "site_url": self.identity.base_url,
            }
            n = content.count
            when = period.start.strftime("%b %-d, %Y")
            if period.frequency == "weekly":
                when = f"week of {when}"
            subject = (
                f"Paperwire {period.frequency} digest: {n} paper{'s' if n != 1 else ''} ({when})"
            )
            page = (subject, self._text.render(ctx), self._html.render(ctx))
            self._pages[key] = page
        subject, text, html = page
        manage = self.identity.manage_url(subscription_id)
        unsubscribe = unsubscribe or self.identity.unsubscribe_url(subscription_id)
        text = text.replace(_MANAGE, manage).replace(_UNSUBSCRIBE, unsubscribe)
        html = html.replace(_MANAGE, str(escape(manage))).replace(
            _UNSUBSCRIBE, str(escape(unsubscribe))
        )
        return subject, text, html

    def digest(
        self,
        *,
        subscription_id: int,
        email: str,
        period: Period,
        content: DigestContent,
        now: datetime,
    ) -> tuple[str, bytes]:
        """The Message-ID and bytes of one subscriber's digest.

        The Message-ID is derived from (installation, subscription, period), so a
        digest that is ever sent twice carries the same id both times.
        """
        ident = self.identity
        message_id = (
            f"<digest.{subscription_id}.{period.frequency}.{period.delivery.isoformat()}"
            f".{ident.instance}@{ident.domain}>"
        )
        unsubscribe = ident.unsubscribe_url(subscription_id)
        subject, text, html = self.digest_parts(
            subscription_id=subscription_id,
            period=period,
            content=content,
            unsubscribe=unsubscribe,
        )
        message = build_message(
            ident,
            to=email,
            subject=subject,
            message_id=message_id,
            date=now,
            text=text,
            html=html,
            headers=(
                ("List-Id", f"Paperwire digests <digests.{ident.host}>"),
                ("List-Unsubscribe", f"<{unsubscribe}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                ("Auto-Submitted", "auto-generated"),
                ("X-Paperwire-Period", period.key),
            ),
        )
        return message_id, message


def _transactional_id(identity: Identity, kind: str, subscription_id: int) -> str:
    token = secrets.token_hex(8)
    return f"<{kind}.{subscription_id}.{token}.{identity.instance}@{identity.domain}>"


def confirm_message(
    settings: Settings,
    tokens: Tokens,
    *,
    subscription_id: int,
    nonce: str,
    email: str,
    prefs: Preferences,
    now: datetime,
) -> tuple[str, bytes]:
    """The double opt-in mail: the only one ever sent to an unconfirmed address."""
    ident = Identity(settings)
    ctx = {
        "confirm_url": ident.url(
            f"/subscriptions/confirm/{tokens.confirm(subscription_id, nonce)}"
        ),
        "prefs": prefs,
        "site_url": ident.base_url,
        "hours": 72,
    }
    message_id = _transactional_id(ident, "confirm", subscription_id)
    return message_id, build_message(
        ident,
        to=email,
        subject="Confirm your Paperwire digest subscription",
        message_id=message_id,
        date=now,
        text=_template("confirm.txt").render(ctx),
        html=_template("confirm.html").render(ctx),
        headers=(("Auto-Submitted", "auto-replied"),),
    )


def notice_message(
    settings: Settings, tokens: Tokens, *, subscription_id: int, email: str, now: datetime
) -> tuple[str, bytes]:
    """Sent instead of a confirmation when the address is already subscribed."""
    ident = Identity(settings)
    ctx = {
        "manage_url": ident.manage_url(subscription_id),
        "unsubscribe_url": ident.unsubscribe_url(subscription_id),
        "site_url": ident.base_url,
    }
    message_id = _transactional_id(ident, "notice", subscription_id)
    return message_id, build_message(
        ident,
        to=email,
        subject="You are already subscribed to Paperwire digests",
        message_id=message_id,
        date=now,
        text=_template("notice.txt").render(ctx),
        html=_template("notice.html").render(ctx),
        headers=(("Auto-Submitted", "auto-replied"),),
    )
