"""What the per-stick caches share: entries by file path, each starting with the file's
size and modification time, kept only while those stay the same."""

from __future__ import annotations

import json
import os
from pathlib import Path


class FileCache:
    """Entries by path, ``[size, mtime_ns, ...]``; the scanner's title cache and the
    measurer's loudness cache are made of these. One thread at a time."""

    def __init__(self, entries: dict[str, list] | None = None) -> None:
        self._entries = dict(entries or {})
        self.changed = False
        """True when an entry was made afresh or a gone file dropped: worth saving."""

    def keep_only(self, paths: set[Path]) -> None:
        """Forget files that are no longer on the stick."""
        self.keep_only_keys({os.fsdecode(path) for path in paths})

    def keep_only_keys(self, keys: set[str]) -> None:
        """Forget the entries not under one of ``keys``."""
        gone = [key for key in self._entries if key not in keys]
        for key in gone:
            del self._entries[key]
        self.changed = self.changed or bool(gone)

    def to_json(self) -> str:
        """The cache as JSON text, ASCII only: a file name that is not UTF-8 is held with
        lone surrogates (``os.fsdecode``), which only ``\\udcXX`` escapes can carry into
        a file; ``json.loads`` gives them back as they were."""
        return json.dumps(self._entries, allow_nan=False)
