"""All tables, grouped by domain; importing this registers every one on ``metadata``."""

from . import accounts, catalog, inbox, jobs, search
from .base import metadata

__all__ = ["accounts", "catalog", "inbox", "jobs", "metadata", "search"]
