"""Scanning a stick in a child process.

Reading tags means parsing files from an untrusted stick, and a scan is seconds of pure
Python that holds the GIL: in the box's own process it would make the realtime output
thread wait (the benchmark's soak counted xruns from exactly that). So, like decoding,
it runs in a process of its own: ``python -m stagebox.media.scan_process ROOT LABEL
[CACHE]`` prints a JSON line of progress now and then, then the library in lines of
bounded size that the box's process parses one at a time.
A scanner that crashes or hangs costs that scan, never the show.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from stagebox.media.model import Library, Setlist, Song
from stagebox.media.options import option_texts, parse_option, song_fields
from stagebox.media.scan import StickGone, scan_stick
from stagebox.media.tags import TitleCache
from stagebox.state import write_atomically

TIMEOUT_S = 120.0
"""Longer than any bounded scan takes; past it the scanner is deemed hung."""
MEMORY_LIMIT_BYTES = 1 << 30
MAX_RESULT_BYTES = 16 << 20
"""What a library may take as JSON, its lines' framing aside: twice two setlists of
10,000 different songs with 150-byte paths; in the box's process, a few times that in
objects. More is left out, with a warning."""
RECEIVE_LIMIT_BYTES = MAX_RESULT_BYTES + MAX_RESULT_BYTES // 8
"""What the box takes: the result and its lines' framing (a few per cent)."""
WARNING_ROOM_BYTES = 128
"""Kept in a setlist's or the library's line for the warnings a cut adds."""
LINE_BYTES = 32 << 10
MAX_LINE_BYTES = 64 << 10
"""A line the child prints is at most :data:`LINE_BYTES`, unless it is one song, which
:data:`ROW_LIMIT_BYTES` bounds; the box takes nothing longer than this."""
ROW_LIMIT_BYTES = MAX_LINE_BYTES - 64
SONGS_PER_LINE = 200
"""Songs or indices in one line: each line is parsed and built in well under a
millisecond, so the scan worker never holds the GIL long while music plays."""
GIL_PAUSE_S = 0.0001
"""The scan worker's pause after each line of the library, GIL released."""
PROGRESS_INTERVAL_S = 0.1
"""How often the scanner says how far it has got: as often as the display redraws. A line
per file would be most of the work of scanning a stick whose titles are cached."""


class ScanError(Exception):
    """The scanner process failed (crashed, hung, or said something malformed)."""


def scan_in_child(root: Path, label: str, cache_path: Path | None,
                  progress: Callable[[int, int], None] | None = None) -> Library:
    """Scan the stick at ``root`` in a child process (the scan worker thread).

    ``cache_path`` is the stick's title cache, read and brought up to date by the child.
    The library arrives in bounded lines, each parsed as it comes, so the GIL is never
    held for long (see :func:`library_lines`). Raises :class:`StickGone` when the stick
    cannot be read, :class:`ScanError` when the scanner fails.
    """
    args = [sys.executable, "-m", "stagebox.media.scan_process", os.fsdecode(root), label,
            os.fsdecode(cache_path) if cache_path else ""]
    child = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
    timer = threading.Timer(TIMEOUT_S, child.kill)
    timer.start()
    reader = LibraryReader(root)
    gone: str | None = None
    try:
        assert child.stdout is not None
        with _kept_from_the_collector():
            while line := child.stdout.readline(MAX_LINE_BYTES + 1):
                message = _message(line)
                if "progress" in message:
                    if progress is not None:
                        done, total = message["progress"]
                        progress(int(done), int(total))
                elif "gone" in message:
                    gone = str(message["gone"])
                else:
                    reader.take(message, len(line))
                    # A thread that holds the GIL keeps it, against a waiting thread, for
                    # up to the interpreter's switch interval (5 ms): let the output in.
                    time.sleep(GIL_PAUSE_S)
        status = child.wait()
    except (TypeError, ValueError, RecursionError) as exc:
        raise ScanError(f"the scanner said something malformed ({exc})") from None
    finally:
        timer.cancel()
        child.kill()
        child.wait()
    if gone is not None:
        raise StickGone(gone)
    if status != 0 or reader.library is None:
        raise ScanError(f"the scanner failed ({_status_text(status)})")
    return reader.library


@contextlib.contextmanager
def _kept_from_the_collector() -> Iterator[None]:
    """Build long-lived objects that hold no cycles (a library) out of the cyclic garbage
    collector's reach: no automatic collection while they are built, and everything the
    process holds then frozen (:func:`gc.freeze`), as the box froze what it made at start.

    A full collection walks every object it tracks with the GIL held: with a library of
    10,000 songs that is 14 ms of the output thread's time, during the scan and again at
    each full collection of the show. Reference counting still frees the songs when the
    library is replaced. A cycle that another thread leaves as garbage in that moment is
    never collected: a few bytes, against a show that never stalls.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _message(line: bytes) -> dict[str, Any]:
    if len(line) > MAX_LINE_BYTES:
        raise ScanError("the scanner said something too long")
    message = json.loads(line)
    if not isinstance(message, dict) or len(message) != 1:
        raise ValueError("not one message")
    return message


def library_lines(library: Library, max_bytes: int = MAX_RESULT_BYTES) -> Iterator[str]:
    """The library as JSON lines, the child's side of :class:`LibraryReader`.

    Each distinct song is sent once, in ``songs`` lines; then each setlist as a
    ``setlist`` line (name and warnings) and ``order`` lines of indices into the songs;
    last a ``library`` line. A line holds at most :data:`SONGS_PER_LINE` items and
    :data:`LINE_BYTES`, or one song alone. The songs and headers take at most
    ``max_bytes``: the songs that would go over are left out, with a warning.
    """
    plan = _Plan(max_bytes - len(_library_line(library.label, library.warnings))
                 - WARNING_ROOM_BYTES)
    library_warnings = list(library.warnings)
    for number, setlist in enumerate(library.setlists):
        if not plan.add(setlist):
            left_out = len(library.setlists) - number - 1
            if left_out:
                library_warnings.append(f"Too many songs: {left_out} setlists left out")
            break
    yield from _packed("songs", plan.rows)
    for name, warnings, indices in plan.setlists:
        yield _setlist_line(name, warnings)
        yield from _packed("order", [str(index) for index in indices])
    yield _library_line(library.label, library_warnings)


class _Plan:
    """What :func:`library_lines` sends: the distinct songs, and each setlist's indices."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.rows: list[str] = []
        self.setlists: list[tuple[str, list[str], list[int]]] = []
        self._index_of: dict[Song, int] = {}

    def add(self, setlist: Setlist) -> bool:
        """Plan ``setlist``; False if it did not fit whole (the warning says so)."""
        warnings = list(setlist.warnings)
        self.budget_bytes -= len(_setlist_line(setlist.name, warnings)) + WARNING_ROOM_BYTES
        if self.budget_bytes < 0:
            return False
        indices: list[int] = []
        self.setlists.append((setlist.name, warnings, indices))
        too_long = 0
        fitted = True
        for song in setlist.songs:
            index = self._index_of.get(song)
            row = _row(song) if index is None else ""
            if len(row) > ROW_LIMIT_BYTES:
                too_long += 1
                continue
            if index is None:
                index = len(self.rows)
            cost = (len(row) + 1 if row else 0) + len(str(index)) + 1
            if cost > self.budget_bytes:
                fitted = False
                warnings.append(f"Too many songs: only the first {len(indices)} used")
                break
            self.budget_bytes -= cost
            if row:
                self.rows.append(row)
                self._index_of[song] = index
            indices.append(index)
        if too_long:
            warnings.append(f"{too_long} songs left out: names too long")
        return fitted


def _row(song: Song) -> str:
    return json.dumps([os.fsdecode(song.path), song.rel_path, song.title, option_texts(song)])


def _setlist_line(name: str, warnings: list[str]) -> str:
    return json.dumps({"setlist": [name, warnings]})


def _library_line(label: str, warnings: Sequence[str]) -> str:
    return json.dumps({"library": [label, list(warnings)]})


def _packed(kind: str, items: list[str]) -> Iterator[str]:
    """Lines ``{"kind": [item, ...]}`` of the JSON texts ``items``, each line at most
    :data:`LINE_BYTES` (one item alone may be longer) and :data:`SONGS_PER_LINE` items."""
    start = 0
    while start < len(items):
        end, size = start, 0
        while end < len(items) and end - start < SONGS_PER_LINE and (
                end == start or size + len(items[end]) + 1 <= LINE_BYTES):
            size += len(items[end]) + 1
            end += 1
        yield f'{{"{kind}": [{",".join(items[start:end])}]}}'
        start = end


class LibraryReader:
    """Builds the library from the lines of :func:`library_lines`, one at a time (the scan
    worker thread). Checks everything: the child reads an untrusted stick."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.library: Library | None = None
        self._received_bytes = 0
        self._songs: list[Song] = []
        self._folders: dict[str, Path] = {}
        self._setlists: list[tuple[str, tuple[str, ...], list[Song]]] = []

    def take(self, message: dict[str, Any], size_bytes: int) -> None:
        """Add one parsed line of ``size_bytes``; ValueError or TypeError if malformed."""
        self._received_bytes += size_bytes
        if self._received_bytes > RECEIVE_LIMIT_BYTES:
            raise ValueError("too much")
        if self.library is not None:
            raise ValueError("more after the end")
        ((kind, value),) = message.items()
        if kind == "songs":
            self._songs += [self._song(_list(values)) for values in _list(value)]
        elif kind == "setlist":
            name, warnings = _list(value)
            self._setlists.append((str(name), _texts(warnings), []))
        elif kind == "order":
            songs = self._setlists[-1][2] if self._setlists else None
            if songs is None:
                raise ValueError("songs before a setlist")
            songs += [self._songs[_index(index, len(self._songs))] for index in _list(value)]
        elif kind == "library":
            label, warnings = _list(value)
            if not self._setlists:
                raise ValueError("no setlists")
            self.library = Library(
                self.root, tuple(Setlist(name, tuple(songs), setlist_warnings)
                                 for name, setlist_warnings, songs in self._setlists),
                _texts(warnings), str(label))
        else:
            raise ValueError(f"unknown {kind!r}")

    def _song(self, values: list[Any]) -> Song:
        path, rel_path, title, texts = values
        if not isinstance(texts, dict):
            raise TypeError("options are not an object")
        # Read with the setlist's own parsers: no value reaches the player unchecked.
        options = {str(name).casefold(): parse_option(str(name), str(text))
                   for name, text in texts.items()}
        cue = options.get("cue")
        if isinstance(cue, Path) and not cue.is_absolute():
            raise ValueError("a guide track not found on the stick")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError("not an absolute path")
        folder_text, _, name = path.rpartition("/")
        if not name:
            raise ValueError("not a path to a file")
        # Songs in one folder share its Path, and with it the strings of its parts.
        folder = self._folders.get(folder_text)
        if folder is None:
            folder = self._folders[folder_text] = Path(folder_text or "/")
        return Song(folder / name, str(rel_path), str(title),
                    **song_fields(options))  # type: ignore[arg-type]


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"{type(value).__name__}, not a list")
    return value


def _texts(values: Any) -> tuple[str, ...]:
    return tuple(str(value) for value in _list(values))


def _index(value: Any, count: int) -> int:
    if type(value) is not int or not 0 <= value < count:
        raise ValueError(f"song {value!r}")
    return value


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
    sys.stdout.writelines(line + "\n" for line in library_lines(library))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
