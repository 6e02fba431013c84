"""Reading import files: transparent gzip, format detection, JSON-lines iteration."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .base import Problem, RecordError, SourceStream

GZIP_MAGIC = b"\x1f\x8b"


class CountingReader(io.RawIOBase):
    """Wraps a binary file and counts the bytes read (for progress bars)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self.raw.readinto(b)
        self.count += n or 0
        return n or 0

    def close(self) -> None:
        self.raw.close()
        super().close()


def open_binary(path: Path) -> tuple[BinaryIO, CountingReader]:
    """Decompressed bytes of ``path`` (gzip or plain) and the on-disk byte counter."""
    counter = CountingReader(path.open("rb"))
    buffered = io.BufferedReader(counter, buffer_size=1 << 20)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered), counter  # type: ignore[return-value]
    return buffered, counter


def sniff(path: Path, limit: int = 50) -> str:
    """The format of ``path``: ``paperwire-jsonl``, ``kaggle``, ``hf-daily``.

    Looks at the first parsable JSON line, so one malformed first line does not
    hide the format of the rest of the file.
    """
    stream, _ = open_binary(path)
    with stream:
        head = stream.read(1 << 16)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text:
        raise ValueError(f"{path}: empty file")
    if text[0] == "[":
        return "hf-daily"
    for line in text.splitlines()[:limit]:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        if "paper" in obj:
            return "hf-daily"
        if "announced" in obj:
            return "paperwire-jsonl"
        if "authors_parsed" in obj or "update_date" in obj or "versions" in obj:
            return "kaggle"
    raise ValueError(
        f"{path}: unrecognised format (expected arXiv JSON-lines, the Kaggle arXiv "
        "snapshot, or a Hugging Face daily_papers response)"
    )


def iter_json_lines(
    path: Path, parse: Callable[[dict], object], stream: BinaryIO | None = None
) -> SourceStream:
    """Parse each non-blank line of a JSON-lines file with ``parse``.

    A bad line becomes a :class:`Problem` naming ``path:line``; reading goes on.
    """
    if stream is None:
        stream, _ = open_binary(path)
    with stream:
        for lineno, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError as exc:
                yield Problem(f"{path}:{lineno}", f"invalid JSON ({exc})")
                continue
            if not isinstance(obj, dict):
                yield Problem(f"{path}:{lineno}", "expected a JSON object")
                continue
            try:
                record = parse(obj)
            except RecordError as exc:
                yield Problem(f"{path}:{lineno}", str(exc))
                continue
            yield record.normalise()  # type: ignore[union-attr]
