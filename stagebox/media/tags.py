"""Song titles from the files' own tags (mutagen)."""

from __future__ import annotations

from pathlib import Path

import mutagen

from stagebox.media.safepath import printable

TITLE_LIMIT = 100
"""Longest title kept, in characters; the screen scrolls, but a tag may hold a novel."""


def read_title(path: Path) -> str | None:
    """The title tag of the audio file at ``path``, or ``None`` if it has none or is unreadable.

    Reads Vorbis comments (FLAC, OGG), ID3 through mutagen's easy interface (MP3), and raw ID3
    ``TIT2`` frames (WAV, AIFF, which have no easy interface). Never raises: a corrupt file is
    the decoder's business later, here it only loses its title. Called on the scan worker
    thread; it reads the file's headers, so it is the slow part of a scan.
    """
    try:
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


def _title_values(tags: object) -> list[object]:
    get = getattr(tags, "get", None)
    if get is None:
        return []
    values = get("title") or get("TIT2")
    if values is None:
        return []
    text = getattr(values, "text", values)
    return list(text) if isinstance(text, list | tuple) else [text]
