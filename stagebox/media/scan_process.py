"""Scanning a stick in a child process.

Reading tags means parsing files from an untrusted stick, and a scan is seconds of pure
Python that holds the GIL: in the box's own process it would make the realtime output
thread wait (the benchmark's soak counted xruns from exactly that). So, like decoding,
it runs in a process of its own: ``python -m stagebox.media.scan_process ROOT LABEL
[CACHE]`` prints a JSON line of progress now and then and a last line with the library.
A scanner that crashes or hangs costs that scan, never the show.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stagebox.media.model import Library, Setlist, Song
from stagebox.media.scan import StickGone, scan_stick
from stagebox.media.tags import TitleCache
from stagebox.state import write_atomically

TIMEOUT_S = 120.0
"""Longer than any bounded scan takes; past it the scanner is deemed hung."""
MEMORY_LIMIT_BYTES = 1 << 30
PROGRESS_INTERVAL_S = 0.1
"""How often the scanner says how far it has got: as often as the display redraws. A line
per file would be most of the work of scanning a stick whose titles are cached."""


class ScanError(Exception):
    """The scanner process failed (crashed, hung, or said something malformed)."""


def scan_in_child(root: Path, label: str, cache_path: Path | None,
                  progress: Callable[[int, int], None] | None = None) -> Library:
    """Scan the stick at ``root`` in a child process (the scan worker thread).

    ``cache_path`` is the stick's title cache, read and brought up to date by the child.
    Raises :class:`StickGone` when the stick cannot be read, :class:`ScanError` when the
    scanner fails.
    """
    args = [sys.executable, "-m", "stagebox.media.scan_process", os.fsdecode(root), label,
            os.fsdecode(cache_path) if cache_path else ""]
    child = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, encoding="utf-8",
                             errors="surrogateescape")
    timer = threading.Timer(TIMEOUT_S, child.kill)
    timer.start()
    try:
        last: dict[str, Any] = {}
        assert child.stdout is not None
        for line in child.stdout:
            try:
                last = json.loads(line)
            except ValueError:
                raise ScanError("the scanner said something malformed") from None
            if "progress" in last and progress is not None:
                done, total = last["progress"]
                progress(int(done), int(total))
        status = child.wait()
    finally:
        timer.cancel()
        child.kill()
        child.wait()
    if "gone" in last:
        raise StickGone(str(last["gone"]))
    if status != 0 or "library" not in last:
        raise ScanError(f"the scanner failed ({_status_text(status)})")
    return library_from_json(last["library"], root)


def library_to_json(library: Library) -> dict[str, Any]:
    """A library as JSON-ready values (paths as strings; odd bytes survive as escapes)."""
    return {
        "label": library.label,
        "warnings": list(library.warnings),
        "setlists": [{
            "name": setlist.name,
            "warnings": list(setlist.warnings),
            "songs": [[os.fsdecode(song.path), song.rel_path, song.title, song.gain_db,
                       song.then] for song in setlist.songs],
        } for setlist in library.setlists],
    }


def library_from_json(data: Any, root: Path) -> Library:
    """The library :func:`library_to_json` wrote; ScanError if it is not that shape."""
    try:
        setlists = tuple(
            Setlist(str(entry["name"]),
                    tuple(_song(values) for values in entry["songs"]),
                    tuple(str(warning) for warning in entry["warnings"]))
            for entry in data["setlists"])
        if not setlists:
            raise ValueError("no setlists")
        return Library(root, setlists, tuple(str(w) for w in data["warnings"]),
                       str(data["label"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ScanError(f"the scanner said something malformed ({exc})") from None


def _song(values: list[Any]) -> Song:
    path, rel_path, title, gain_db, then = values
    if then not in (None, "stop", "next"):
        raise ValueError(f"then={then!r}")
    return Song(Path(str(path)), str(rel_path), str(title), float(gain_db), then)


def scan_with_cache(root: Path, label: str, cache_path: Path | None,
                    progress: Callable[[int, int], None] | None = None) -> Library:
    """Scan in this process, titles from and back to the stick's cache at ``cache_path``.

    What the child runs; raises :class:`StickGone` if the stick cannot be read.
    """
    titles = TitleCache()
    # No cache yet, or an unreadable one: every title is read afresh.
    with contextlib.suppress(OSError, UnicodeDecodeError):
        if cache_path is not None:
            titles = TitleCache.from_json(cache_path.read_text(encoding="utf-8"))
    library = scan_stick(root, progress=progress, label=label, titles=titles)
    if cache_path is not None and titles.changed:
        with contextlib.suppress(OSError):  # a full or read-only disk only loses the cache
            write_atomically(cache_path, titles.to_json().encode())
    return library


def _status_text(status: int) -> str:
    return f"signal {-status}" if status < 0 else f"exit {status}"


def main(argv: list[str]) -> int:
    """The child: scan, keep the title cache, print progress and the library."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    root, label, cache = Path(argv[0]), argv[1], argv[2]

    said_s = -PROGRESS_INTERVAL_S

    def progress(done: int, total: int) -> None:
        nonlocal said_s
        now_s = time.monotonic()
        if done < total and now_s - said_s < PROGRESS_INTERVAL_S:
            return
        said_s = now_s
        print(json.dumps({"progress": [done, total]}), flush=True)

    try:
        library = scan_with_cache(root, label, Path(cache) if cache else None, progress)
    except StickGone as exc:
        print(json.dumps({"gone": str(exc)}), flush=True)
        return 0
    print(json.dumps({"library": library_to_json(library)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
