"""Settings from the environment and an optional TOML config file.

Every setting has an environment variable ``PAPERWIRE_<NAME>``; the same names
in lower case may appear in ``$PAPERWIRE_HOME/config.toml`` (or the file named
by ``PAPERWIRE_CONFIG``).  The environment wins over the file, so a deployment
can keep secrets out of the file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import tomllib
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path

import platformdirs

SMTP_TLS_MODES = ("none", "starttls", "ssl")


@dataclass(frozen=True)
class Settings:
    """Resolved configuration for one Paperwire installation."""

    home: Path
    database_url: str = ""
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_tls: str = "none"
    mail_from: str = "Paperwire <paperwire@localhost>"
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    oai_pmh_url: str = "https://oaipmh.arxiv.org/oai"
    arxiv_delay: float = 3.0
    offline: bool = False
    model_dir: Path | None = None
    # Background jobs (paperwire/jobs): how often the scheduler looks for work,
    # what the arXiv harvest keeps, and how Hugging Face Daily Papers is polled.
    jobs_interval: float = 300.0
    arxiv_categories: str = "cs.AI,cs.CL,cs.CV,cs.LG"
    sync_start: str = ""
    hf_api_url: str = "https://huggingface.co"
    hf_delay: float = 1.0
    hf_days: int = 3
    hf_refresh: float = 3600.0
    health_max_failing: float = 3600.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model_dir is None:
            object.__setattr__(self, "model_dir", self.home / "models")
        else:
            object.__setattr__(self, "model_dir", Path(self.model_dir).expanduser())

    @property
    def index_dir(self) -> Path:
        """Directory for derived search indexes (rebuildable from the catalog)."""
        return self.home / "index"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def categories(self) -> tuple[str, ...]:
        """The arXiv categories the harvest keeps (``PAPERWIRE_ARXIV_CATEGORIES``)."""
        return tuple(c for c in (p.strip() for p in self.arxiv_categories.split(",")) if c)


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("paperwire", appauthor=False))


def _coerce(name: str, raw: object) -> object:
    kinds = {f.name: f.type for f in fields(Settings)}
    kind = kinds.get(name)
    if kind == "int":
        return int(raw)  # type: ignore[arg-type]
    if kind == "float":
        return float(raw)  # type: ignore[arg-type]
    if kind == "Path | None":
        return Path(str(raw)).expanduser()
    if kind == "bool":
        return str(raw).strip().lower() in {"1", "true", "yes", "on"}
    return str(raw)


# Server mode signs with one key that every instance shares; below this length a
# key is refused (48 random bytes, URL-safe, is what `secrets.token_urlsafe(48)` gives).
SECRET_MIN_LENGTH = 32
NEW_SECRET_HINT = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


class MissingSecretKey(ValueError):
    """Server mode without a shared signing key: refuse to run rather than make one up."""


def is_server_mode(database_url: str) -> bool:
    """A database other than SQLite: several instances may share it (see docs/deploy.md)."""
    return not database_url.startswith("sqlite")


def check_secret_key(database_url: str, secret_key: str, home: Path) -> None:
    """Refuse server mode without a shared ``PAPERWIRE_SECRET_KEY`` (or with a weak one).

    In embedded mode a key is generated once per home.  With PostgreSQL any
    number of instances serve one site, each with a home of its own: a key made
    per home would make every instance refuse the sessions, CSRF tokens and
    email links of the others.  The key is not kept in the database either, so
    that a database dump or backup cannot forge sessions.
    """
    if not is_server_mode(database_url):
        return
    if not secret_key:
        existing = home / "secret_key"
        reuse = (
            f" To keep the key this home already uses, set PAPERWIRE_SECRET_KEY=$(cat {existing})."
            if existing.exists()
            else ""
        )
        raise MissingSecretKey(
            "PAPERWIRE_SECRET_KEY is not set. With a PostgreSQL database (server mode) every "
            "instance must sign sessions, CSRF tokens and email links with one shared key, so "
            "none is generated per home. Create one once, e.g. with "
            f"{NEW_SECRET_HINT}, and set PAPERWIRE_SECRET_KEY to it for every instance and "
            f"every paperwire command (environment or config.toml).{reuse} See docs/deploy.md."
        )
    if len(secret_key) < SECRET_MIN_LENGTH:
        raise MissingSecretKey(
            f"PAPERWIRE_SECRET_KEY is {len(secret_key)} characters long; server mode needs at "
            f"least {SECRET_MIN_LENGTH} (e.g. {NEW_SECRET_HINT}). See docs/deploy.md."
        )


def _load_secret(home: Path) -> str:
    """Return the home's signing key, creating it (mode 0600) on first use.

    Written to a temporary file, then linked into place: two processes starting
    at once both end up reading the one complete key that won.
    """
    path = home / "secret_key"
    if path.exists():
        return path.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=home, prefix=".secret_key-")  # mode 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_text().strip()


def _check_jobs(kwargs: dict[str, object]) -> None:
    """Fail at start-up, not at the first harvest, on a bad jobs setting."""
    start = str(kwargs.get("sync_start") or "")
    if start:
        try:
            date.fromisoformat(start)
        except ValueError as exc:
            raise ValueError(
                f"PAPERWIRE_SYNC_START must be a date (YYYY-MM-DD), got {start!r}"
            ) from exc
    interval = kwargs.get("jobs_interval")
    if interval is not None and float(interval) <= 0:  # type: ignore[arg-type]
        raise ValueError("PAPERWIRE_JOBS_INTERVAL must be a positive number of seconds")
    days = kwargs.get("hf_days")
    if days is not None and not 1 <= int(days) <= 31:  # type: ignore[call-overload]
        raise ValueError("PAPERWIRE_HF_DAYS must be between 1 and 31")


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build settings from ``env`` (default: ``os.environ``) and the config file."""
    env = dict(os.environ if env is None else env)
    home = Path(env.get("PAPERWIRE_HOME") or default_home()).expanduser()
    config_path = Path(env.get("PAPERWIRE_CONFIG") or home / "config.toml")
    values: dict[str, object] = {}
    if config_path.exists():
        with config_path.open("rb") as fh:
            data = tomllib.load(fh)
        values.update(data.get("paperwire", data))
    names = {f.name for f in fields(Settings)} - {"home", "extra"}
    for name in names:
        key = f"PAPERWIRE_{name.upper()}"
        if key in env:
            values[name] = env[key]
    kwargs = {k: _coerce(k, v) for k, v in values.items() if k in names}
    extra = {k: v for k, v in values.items() if k not in names}
    if kwargs.get("smtp_tls", "none") not in SMTP_TLS_MODES:
        raise ValueError(f"PAPERWIRE_SMTP_TLS must be one of {', '.join(SMTP_TLS_MODES)}")
    _check_jobs(kwargs)
    if not kwargs.get("database_url"):
        kwargs["database_url"] = f"sqlite:///{home / 'paperwire.db'}"
    check_secret_key(str(kwargs["database_url"]), str(kwargs.get("secret_key") or ""), home)
    if not kwargs.get("secret_key"):
        kwargs["secret_key"] = _load_secret(home)
    return Settings(home=home, extra=extra, **kwargs)  # type: ignore[arg-type]
