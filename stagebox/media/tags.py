"""Song titles from the files' own tags (mutagen)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from stagebox.media.safepath import printable

if TYPE_CHECKING:
    import mutagen

TITLE_LIMIT = 100
"""Longest title kept, in characters; the screen scrolls, but a tag may hold a novel."""


@functools.cache
def _kinds_by_suffix() -> dict[str, list[type[mutagen.FileType]]]:
    """The mutagen classes to try first for a file's name. Left to itself, mutagen scores
    every format it knows against each file, which was most of the time of a first scan."""
    from mutagen.aiff import AIFF
    from mutagen.flac import FLAC
    from mutagen.mp3 import EasyMP3
    from mutagen.oggflac import OggFLAC
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis
    from mutagen.wave import WAVE

    ogg: list[type[mutagen.FileType]] = [OggVorbis, OggOpus, OggFLAC]
    return {".flac": [FLAC], ".ogg": ogg, ".oga": ogg, ".mp3": [EasyMP3], ".wav": [WAVE],
            ".wave": [WAVE], ".aif": [AIFF], ".aiff": [AIFF], ".aifc": [AIFF]}


def read_title(path: Path) -> str | None:
    """The title tag of the audio file at ``path``, or ``None`` if it has none or is unreadable.

    Reads Vorbis comments (FLAC, OGG), ID3 through mutagen's easy interface (MP3), and raw ID3
    ``TIT2`` frames (WAV, AIFF, which have no easy interface). Never raises: a corrupt file is
    the decoder's business later, here it only loses its title. Called on the scan worker
    thread; it reads the file's headers, so it is the slow part of a scan.
    """
    # Imported here: a stick seen before takes its titles from the cache, and its scan
    # then never needs mutagen, nor the time it takes to import.
    import mutagen

    try:
        audio = _open_as_named(path)
        if audio is None:
            audio = mutagen.File(path, easy=True)
        tags = audio.tags if audio is not None else None
        values = _title_values(tags) if tags is not None else []
    # mutagen wraps most failures in MutagenError, but a crafted file can still raise from
    # deep in a parser (struct.error, IndexError, ...); any of them only costs the title.
    except Exception:
        return None
    for value in values:
        title = printable(str(value)).strip()
        if title:
            return title[:TITLE_LIMIT]
    return None


def _open_as_named(path: Path) -> mutagen.FileType | None:
    """The file read as the format its name says, or None if it is not that (or unknown):
    then every format is tried."""
    import mutagen

    kinds = _kinds_by_suffix().get(path.suffix.lower())
    if kinds is None:
        return None
    try:
        return mutagen.File(path, options=kinds)
    except Exception:  # see read_title
        return None


def _title_values(tags: object) -> list[object]:
    get = getattr(tags, "get", None)
    if get is None:
        return []
    values = get("title") or get("TIT2")
    if values is None:
        return []
    text = getattr(values, "text", values)
    return list(text) if isinstance(text, list | tuple) else [text]


class TitleCache:
    """Titles read on an earlier scan, kept while a file's size and time stay the same.

    Reading tags is most of a scan; a stick inserted again (every gig) mostly holds the
    same files, so their titles come from here. Used on the scan worker thread only.
    """

    def __init__(self, entries: dict[str, list] | None = None,
                 read: Callable[[Path], str | None] = read_title) -> None:
        self._entries = dict(entries or {})
        self._read = read
        self.changed = False
        """True when a title was read afresh or a gone file dropped: worth saving."""

    def title(self, path: Path) -> str | None:
        """The title of the file at ``path``, from the cache when the file is unchanged."""
        key = os.fsdecode(path)
        try:
            stat = os.stat(path)
        except OSError:
            return self._read(path)
        stamp = [stat.st_size, stat.st_mtime_ns]
        cached = self._entries.get(key)
        if cached is not None and cached[:2] == stamp:
            return cached[2]
        title = self._read(path)
        self._entries[key] = [*stamp, title]
        self.changed = True
        return title

    def keep_only(self, paths: set[Path]) -> None:
        """Forget files that are no longer on the stick."""
        keys = {os.fsdecode(path) for path in paths}
        gone = [key for key in self._entries if key not in keys]
        for key in gone:
            del self._entries[key]
        self.changed = self.changed or bool(gone)

    def to_json(self) -> str:
        """The cache as JSON text."""
        return json.dumps(self._entries, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str,
                  read: Callable[[Path], str | None] = read_title) -> TitleCache:
        """A cache from :meth:`to_json`'s text; anything malformed is simply left out."""
        try:
            data = json.loads(text)
        except ValueError:
            return cls(read=read)
        if not isinstance(data, dict):
            return cls(read=read)
        return cls({key: value for key, value in data.items() if _valid_entry(value)}, read)


def _valid_entry(value: object) -> bool:
    return (isinstance(value, list) and len(value) == 3
            and all(type(number) is int for number in value[:2])
            and (value[2] is None or isinstance(value[2], str)))
