"""Inbox options: keys of ``config.toml`` or ``PAPERWIRE_<NAME>`` environment variables.

They are not fields of :class:`paperwire.config.Settings` (which only knows the
SMTP basics), so they are read from ``settings.extra`` and the environment here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..config import Settings

# One send is at most about 10 SMTP round trips, each bounded by smtp_timeout
# (connect, EHLO, STARTTLS, EHLO, AUTH, MAIL, RCPT, DATA, the message): a sender
# renews its lease once less than RENEW_PER_TIMEOUT x smtp_timeout is left, so the
# lease must be at least twice that.
RENEW_PER_TIMEOUT = 10
LEASE_PER_TIMEOUT = 2 * RENEW_PER_TIMEOUT
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class InboxOptions:
    """Tunables of digests and delivery, with their defaults."""

    digest_hour: int = 7  # local hour from which a day's digest is due
    digest_weekday: int = 0  # weekly digests go out on this weekday (0 = Monday)
    digest_scheduler: bool = True  # `paperwire serve` composes and sends on a schedule
    digest_interval: float = 60.0  # seconds between scheduler ticks
    max_failures: int = 3  # consecutive permanent failures before an address is paused
    retry_base: float = 300.0  # first retry delay (seconds); doubles per attempt
    retry_max_delay: float = 6 * 3600.0
    max_attempts: int = 8  # temporary failures before a message is given up
    confirm_max_age: int = 3 * 24 * 3600  # seconds a confirmation link stays valid
    subscribe_per_ip: int = 10  # subscribe requests per IP per hour
    confirmations_per_address: int = 3  # confirmation mails per address per day
    smtp_timeout: float = 30.0
    # Seconds a sender's claims on outbox messages last (it renews them while it
    # works).  Only a sender that hangs keeps its messages that long; a dead one's
    # are taken over at once.  At least 20 x smtp_timeout (see LEASE_PER_TIMEOUT).
    outbox_lease: float = 600.0
    keep_days: int = 30  # rendered messages are kept this long, then only their state

    @classmethod
    def from_settings(cls, settings: Settings, env: dict[str, str] | None = None) -> InboxOptions:
        """Read options from ``settings.extra`` (config.toml) and the environment."""
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for name, default in cls.__dataclass_fields__.items():
            raw = env.get(f"PAPERWIRE_{name.upper()}", settings.extra.get(name))
            if raw is None:
                continue
            kind = type(getattr(cls, name, default.default))
            try:
                if name == "digest_weekday" and not str(raw).strip().isdigit():
                    values[name] = WEEKDAYS.index(str(raw).strip().lower())
                elif kind is bool:
                    values[name] = str(raw).strip().lower() in {"1", "true", "yes", "on"}
                else:
                    values[name] = kind(raw)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"bad value for {name}: {raw!r}") from exc
        opts = cls(**values)  # type: ignore[arg-type]
        if not 0 <= opts.digest_hour <= 23 or not 0 <= opts.digest_weekday <= 6:
            raise ValueError("digest_hour must be 0..23 and digest_weekday 0..6")
        if opts.outbox_lease < LEASE_PER_TIMEOUT * opts.smtp_timeout:
            raise ValueError(
                f"outbox_lease ({opts.outbox_lease:g} s) must be at least {LEASE_PER_TIMEOUT} x "
                f"smtp_timeout ({opts.smtp_timeout:g} s), so that a sender never loses its "
                "claim on a message while it is still sending it"
            )
        return opts
