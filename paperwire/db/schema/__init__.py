"""All tables, grouped by domain; importing this registers every one on ``metadata``."""

from . import accounts, catalog, community, inbox, jobs, search
from .base import metadata

__all__ = ["accounts", "catalog", "community", "inbox", "jobs", "metadata", "search"]
