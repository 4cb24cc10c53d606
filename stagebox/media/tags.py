"""Song titles from the files' own tags (mutagen, and WAV's RIFF chunks read here)."""

from __future__ import annotations

import functools
import io
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stagebox.media.file_cache import FileCache
from stagebox.media.safepath import printable
from stagebox.media.setlist import decode_text

if TYPE_CHECKING:
    import mutagen

TITLE_LIMIT = 100
"""Longest title kept, in characters; the screen scrolls, but a tag may hold a novel."""
MAX_RIFF_CHUNKS = 64
"""Chunks of a WAV file looked at for its title before giving up."""
MAX_TAG_CHUNK_BYTES = 1 << 20
"""Largest ``LIST`` or ID3 chunk read for a title; bigger ones are skipped, not read."""
_RIFF_SUFFIXES = frozenset({".wav", ".wave", ".rf64"})
_NOT_RIFF = object()
"""What :func:`_riff_title` says of a file that is not RIFF/WAVE at all (a renamed FLAC)."""


@functools.cache
def _kinds_by_suffix() -> dict[str, list[type[mutagen.FileType]]]:
    """The mutagen classes to try first for a file's name. Left to itself, mutagen scores
    every format it knows against each file, which was most of the time of a first scan."""
    from mutagen.aac import AAC
    from mutagen.aiff import AIFF
    from mutagen.asf import ASF
    from mutagen.dsdiff import DSDIFF
    from mutagen.dsf import DSF
    from mutagen.easymp4 import EasyMP4
    from mutagen.flac import FLAC
    from mutagen.monkeysaudio import MonkeysAudio
    from mutagen.mp3 import EasyMP3
    from mutagen.musepack import Musepack
    from mutagen.oggflac import OggFLAC
    from mutagen.oggopus import OggOpus
    from mutagen.oggspeex import OggSpeex
    from mutagen.oggvorbis import OggVorbis
    from mutagen.tak import TAK
    from mutagen.trueaudio import TrueAudio
    from mutagen.wave import WAVE
    from mutagen.wavpack import WavPack

    ogg: list[type[mutagen.FileType]] = [OggVorbis, OggOpus, OggFLAC, OggSpeex]
    mp4: list[type[mutagen.FileType]] = [EasyMP4]
    return {".flac": [FLAC], ".ogg": ogg, ".oga": ogg, ".opus": [OggOpus], ".spx": [OggSpeex],
            ".mp3": [EasyMP3], ".mp2": [EasyMP3], ".mpa": [EasyMP3], ".wav": [WAVE],
            ".wave": [WAVE], ".aif": [AIFF], ".aiff": [AIFF], ".aifc": [AIFF],
            ".m4a": mp4, ".m4b": mp4, ".mp4": mp4, ".alac": mp4, ".aac": [AAC],
            ".wma": [ASF], ".ape": [MonkeysAudio], ".wv": [WavPack], ".mpc": [Musepack],
            ".tta": [TrueAudio], ".tak": [TAK], ".dsf": [DSF], ".dff": [DSDIFF]}


def read_title(path: Path) -> str | None:
    """The title tag of the audio file at ``path``, or ``None`` if it has none or is unreadable.

    Reads Vorbis comments (FLAC, OGG, Opus), ID3 through mutagen's easy interface (MP3), MP4
    atoms (``©nam``: M4A, AAC, ALAC), ASF (WMA), APEv2 (APE, WavPack, Musepack), raw ID3
    ``TIT2`` frames (AIFF), and for WAV its ``id3 `` chunk, else its ``LIST``/``INFO`` ``INAM``.
    Never raises: a corrupt file is the decoder's business later, here it only loses its
    title. Called on the scan worker thread; it reads the file's headers, so it is the slow
    part of a scan.
    """
    # Imported here: a stick seen before takes its titles from the cache, and its scan
    # then never needs mutagen, nor the time it takes to import.
    import mutagen

    try:
        if path.suffix.lower() in _RIFF_SUFFIXES:
            riff_title = _riff_title(path)
            if riff_title is not _NOT_RIFF:
                return _shown_title([riff_title] if riff_title else [])
        audio = _open_as_named(path)
        if audio is None:
            audio = mutagen.File(path, easy=True)
        tags = audio.tags if audio is not None else None
        values = _title_values(tags) if tags is not None else []
    # mutagen wraps most failures in MutagenError, but a crafted file can still raise from
    # deep in a parser (struct.error, IndexError, ...); any of them only costs the title.
    except Exception:
        return None
    return _shown_title(values)


def _shown_title(values: Sequence[object]) -> str | None:
    """The first value that is a title once made printable, capped to :data:`TITLE_LIMIT`."""
    for value in values:
        title = printable(str(value)[:4 * TITLE_LIMIT]).strip()
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
    values = get("title") or get("TIT2") or get("Title")  # ASF's names have capitals
    if values is None:
        return []
    text = getattr(values, "text", values)
    if isinstance(text, str | bytes) or not isinstance(text, Sequence):
        return [text]
    return list(text)


def _riff_title(path: Path) -> object:
    """The title a WAV file's own chunks give (``None`` if none), or :data:`_NOT_RIFF`.

    Read here rather than by mutagen, which gives up on the files a recorder leaves when the
    power fails (RIFF and data sizes 0) and has no ``LIST``/``INFO``. Every size is checked
    against the file's: a chunk may claim anything.
    """
    with open(path, "rb") as riff:
        file_size = os.fstat(riff.fileno()).st_size
        header = riff.read(12)
        if len(header) < 12 or header[:4] not in (b"RIFF", b"RF64") or header[8:] != b"WAVE":
            return _NOT_RIFF
        info_title: str | None = None
        offset = 12
        for _ in range(MAX_RIFF_CHUNKS):
            riff.seek(offset)
            chunk_header = riff.read(8)
            if len(chunk_header) < 8:
                break
            chunk_id = chunk_header[:4]
            size = int.from_bytes(chunk_header[4:], "little")
            in_file = 0 < size <= file_size - offset - 8
            if chunk_id == b"data" and not in_file:
                break  # a size of 0, or past the end: the rest of the file is the audio
            readable = in_file and size <= MAX_TAG_CHUNK_BYTES
            if chunk_id in (b"id3 ", b"ID3 ") and readable:
                id3_title = _id3_title(riff.read(size))
                if id3_title:
                    return id3_title
            elif chunk_id == b"LIST" and readable and info_title is None:
                info_title = _info_title(riff.read(size))
            offset += 8 + size + (size & 1)
    return info_title


def _id3_title(chunk: bytes) -> str | None:
    """``TIT2`` of an ID3 tag; a broken one loses only itself (the INFO title may stand)."""
    from mutagen.id3 import ID3

    try:
        frame = ID3(io.BytesIO(chunk)).get("TIT2")
    except Exception:  # see read_title
        return None
    return str(frame.text[0]) if frame is not None and frame.text else None


def _info_title(body: bytes) -> str | None:
    """``INAM`` of a ``LIST`` chunk's body, if it is an ``INFO`` list."""
    if body[:4] != b"INFO":
        return None
    offset = 4
    while offset + 8 <= len(body):
        size = int.from_bytes(body[offset + 4:offset + 8], "little")
        if body[offset:offset + 4] == b"INAM":
            return decode_text(body[offset + 8:offset + 8 + size].split(b"\0", 1)[0])
        offset += 8 + size + (size & 1)
    return None


class TitleCache(FileCache):
    """Titles read on an earlier scan, kept while a file's size and time stay the same.

    Reading tags is most of a scan; a stick inserted again (every gig) mostly holds the
    same files, so their titles come from here. Used on the scan worker thread only.
    """

    def __init__(self, entries: dict[str, list] | None = None,
                 read: Callable[[Path], str | None] = read_title) -> None:
        super().__init__(entries)
        self._read = read

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
