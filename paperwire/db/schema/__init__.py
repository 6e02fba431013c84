"""All tables, grouped by domain; importing this registers every one on ``metadata``."""

from . import accounts, catalog, inbox, search
from .base import metadata

__all__ = ["accounts", "catalog", "inbox", "metadata", "search"]
