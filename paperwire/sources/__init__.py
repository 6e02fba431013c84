"""Ingestion sources.  Each module turns one format into :class:`PaperRecord` items.

Sources know nothing about storage: they yield records and :class:`Problem` s,
and :mod:`paperwire.catalog.importer` writes them.  Adding a source means adding
a module here and, for files, a line in ``FILE_FORMATS``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from . import hf_daily, jsonl, kaggle
from .base import Problem, SourceItem, SourceStream
from .files import CountingReader, open_binary, sniff

FILE_FORMATS: dict[str, Callable[[Path, BinaryIO | None], SourceStream]] = {
    jsonl.FORMAT: jsonl.read,
    kaggle.FORMAT: kaggle.read,
    hf_daily.FORMAT: hf_daily.read,
}


def open_source(path: Path, fmt: str | None = None) -> tuple[str, SourceStream, CountingReader]:
    """Detect (or take) the format of ``path`` and return its record stream.

    The :class:`CountingReader` reports on-disk bytes read, for progress.
    """
    fmt = fmt or sniff(path)
    if fmt not in FILE_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FILE_FORMATS)}")
    stream, counter = open_binary(path)
    return fmt, FILE_FORMATS[fmt](path, stream), counter


__all__ = ["FILE_FORMATS", "Problem", "SourceItem", "SourceStream", "open_source"]
