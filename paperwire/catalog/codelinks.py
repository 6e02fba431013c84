"""Find code repositories (GitHub, GitLab) mentioned in free text, normalised;
keep only web links (``http``/``https``) from what sources give."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

_REPO = re.compile(
    r"(?:https?://)?(?:www\.)?(?P<host>github\.com|gitlab\.com)/"
    r"(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?)/"
    r"(?P<repo>[A-Za-z0-9_.\-]+)",
    re.IGNORECASE,
)
# Path segments that are GitHub pages, not repository owners.
_NOT_OWNERS = {"orgs", "topics", "features", "about", "sponsors", "marketplace", "settings"}


def normalise_repo_url(host: str, owner: str, repo: str) -> str | None:
    """``https://github.com/owner/repo``, or None for something that is not a repo."""
    repo = repo.rstrip(".")
    if repo.lower().endswith(".git"):
        repo = repo[:-4]
    repo = repo.rstrip(".-_")
    if not repo or owner.lower() in _NOT_OWNERS:
        return None
    return f"https://{host.lower()}/{owner}/{repo}"


def find_code_links(*texts: str | None) -> list[str]:
    """Every distinct repository URL in ``texts``, in order of first appearance.

    Line breaks inside a URL (common in arXiv abstracts) are closed up first.
    """
    found: list[str] = []
    seen: set[str] = set()
    for text in texts:
        if not text or ("github" not in text.lower() and "gitlab" not in text.lower()):
            continue
        joined = re.sub(r"(github\.com|gitlab\.com)/\s+", r"\1/", text, flags=re.IGNORECASE)
        joined = re.sub(r"/\s*\n\s*", "/", joined)
        for m in _REPO.finditer(joined):
            url = normalise_repo_url(m.group("host"), m.group("owner"), m.group("repo"))
            if url and url.lower() not in seen:
                seen.add(url.lower())
                found.append(url)
    return found


_UNSAFE_IN_URL = set("\x00\r\n\t<>\"' \\`")


def http_url(value: object) -> str | None:
    """``value`` if it is an absolute ``http(s)`` URL with a host, else None.

    Sources are not trusted: a ``javascript:`` or ``data:`` "project page" must
    never reach a page, a feed or the API, where a client may turn it into a link.
    """
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > 2000 or any(ch in _UNSAFE_IN_URL or ord(ch) < 32 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def http_urls(values: Iterable[object]) -> list[str]:
    """The ``http(s)`` URLs among ``values`` (others dropped), in order."""
    return [url for url in (http_url(v) for v in values) if url]
