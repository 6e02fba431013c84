"""SMTP delivery over one reused connection, with failures classified.

- 2xx: delivered.
- 4xx replies, dropped connections, timeouts: :class:`TemporaryFailure` (retry later).
- 5xx replies to the recipient or the data: :class:`PermanentFailure`.
- Cannot connect, or the server refuses our sender / credentials:
  :class:`ServerUnavailable` — not the recipient's fault, so the run stops and
  nothing is counted against any address.
"""

from __future__ import annotations

import smtplib
import ssl
from types import TracebackType

from ..config import Settings


class DeliveryError(Exception):
    """A message was not delivered."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TemporaryFailure(DeliveryError):
    """Try again later (4xx, connection dropped)."""


class PermanentFailure(DeliveryError):
    """The server refused this recipient or message for good (5xx)."""


class ServerUnavailable(DeliveryError):
    """The SMTP server cannot be used right now; stop this run."""


def _describe(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()[:500]


class SmtpSender:
    """Sends many messages over one connection (reconnecting when it drops)."""

    def __init__(self, settings: Settings, timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._conn: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.smtp_tls == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.smtp_host,
                    s.smtp_port,
                    timeout=self.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                conn = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout)
            conn.ehlo_or_helo_if_needed()
            if s.smtp_tls == "starttls":
                conn.starttls(context=ssl.create_default_context())
                conn.ehlo()
            if s.smtp_user:
                conn.login(s.smtp_user, s.smtp_password)
        except smtplib.SMTPAuthenticationError as exc:
            raise ServerUnavailable(
                f"SMTP login failed: {_describe(exc.smtp_code, exc.smtp_error)}", exc.smtp_code
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ServerUnavailable(
                f"cannot connect to SMTP server {s.smtp_host}:{s.smtp_port}: {exc}"
            ) from exc
        return conn

    def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Deliver ``message`` to one recipient or raise a :class:`DeliveryError`."""
        if self._conn is None:
            self._conn = self._connect()
        try:
            refused = self._conn.sendmail(sender, [recipient], message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(recipient, (550, b"refused"))
            raise self._classify(code, text) from exc
        except smtplib.SMTPSenderRefused as exc:
            self.close()
            raise ServerUnavailable(
                f"sender refused: {_describe(exc.smtp_code, exc.smtp_error)}", exc.smtp_code
            ) from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:  # service closing the channel
                self.close()
            raise self._classify(exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise TemporaryFailure(f"connection lost: {exc}") from exc
        if refused:
            code, text = refused.get(recipient, (550, b"refused"))
            raise self._classify(code, text)

    @staticmethod
    def _classify(code: int, text: bytes | str) -> DeliveryError:
        if 500 <= code < 600:
            return PermanentFailure(_describe(code, text), code)
        return TemporaryFailure(_describe(code, text), code)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()
