"""Paths from the untrusted stick: resolved safely inside it, and made safe to show.

:func:`resolve_user_path` is the one way a path written on the stick (a setlist line, an M3U
entry) becomes a file to open; :func:`stick_file` is its safety check, which the folder walk
also uses for symlinked files. Both return the file's real path (every symlink resolved), so
what is opened later is exactly what was checked.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DRIVE = re.compile(r"^[A-Za-z]:")
QUOTE_LIMIT = 40
"""Longest path shown in a message, in characters; longer ones keep their end (the file)."""


class BadPath(ValueError):
    """A path on the stick that cannot be used; the message says why, short enough to show."""


class MissingFile(BadPath):
    """The path is fine but nothing is there."""


class ResolvedPath(NamedTuple):
    """A user-written path that passed every check."""

    rel_path: str
    """Normalised, ``/``-separated and relative to the stick's root, as the user wrote it."""
    real_path: Path
    """The regular file it names, every symlink resolved, inside the stick."""


def printable(text: str) -> str:
    """``text`` with undecodable bytes and control characters replaced by ``?``.

    File names and tags from the stick may hold anything (``surrogateescape`` leftovers of
    non-UTF-8 names, newlines, bidi overrides); screens, logs and JSON get this instead.
    """
    if text.isprintable():  # the usual name, checked in C: it has no C* character
        return text
    return "".join("?" if unicodedata.category(ch).startswith("C") else ch for ch in text)


def quote(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` printable, in double quotes, shortened from the start to ``limit`` characters."""
    shown = printable(text)
    if len(shown) > limit:
        shown = "…" + shown[-(limit - 1):]
    return f'"{shown}"'


def resolve_user_path(root: Path, text: str, base: str = "") -> ResolvedPath:
    """Resolve ``text``, written in a file on the stick, to a regular file inside ``root``.

    ``base`` is the folder the path is relative to (the setlist's folder), ``/``-separated and
    relative to ``root``; ``""`` is the root. Backslashes count as ``/`` (playlists written on
    Windows). Refused, with a :class:`BadPath` saying why: URLs, absolute paths (``/x``,
    ``C:\\x``), paths that climb out of the stick, symlinks anywhere on the way that point out
    of it, and anything that is not a regular file (folders, FIFOs, devices).
    :class:`MissingFile` when nothing is there. Called on the scan worker thread.
    """
    if "\0" in text:
        raise BadPath(f"bad file name {quote(text)}")
    if _URL.match(text):
        raise BadPath(f"not a file on the stick: {quote(text)}")
    path = text.replace("\\", "/")
    if path.startswith("/") or _DRIVE.match(path):
        raise BadPath(f"absolute path refused: {quote(text)}")
    rel_path = posixpath.normpath(posixpath.join(base, path))
    if rel_path == ".." or rel_path.startswith("../"):
        raise BadPath(f"outside the stick: {quote(text)}")
    if rel_path == ".":
        raise BadPath(f"not a file: {quote(text)}")
    return ResolvedPath(rel_path, stick_file(root, rel_path.split("/"), shown=text))


def stick_file(root: Path, rel_parts: Sequence[str], shown: str | None = None) -> Path:
    """The real path of the regular file ``root/rel_parts``, checked to lie inside ``root``.

    ``rel_parts`` are plain names (no ``..``, ``.`` or empty parts). Every component that is a
    symlink must resolve inside ``root`` (itself resolved first, so a mount point that is a
    symlink is fine), even if a later component would lead back in. ``shown`` is how messages
    name the path. Raises :class:`BadPath`, or :class:`MissingFile`. Called on the scan worker
    thread.
    """
    shown_text = quote(shown if shown is not None else "/".join(rel_parts))
    if any(part in ("", ".", "..") or "/" in part for part in rel_parts):
        raise BadPath(f"bad path {shown_text}")
    try:
        root_real = Path(os.path.realpath(root, strict=True))
        current = root_real
        for part in rel_parts:
            current = current / part
            if stat.S_ISLNK(os.lstat(current).st_mode) and not _inside(
                    Path(os.path.realpath(current, strict=True)), root_real):
                raise BadPath(f"link out of the stick: {shown_text}")
        real_path = Path(os.path.realpath(current, strict=True))
        mode = os.stat(real_path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise MissingFile(f"no file {shown_text}") from None
    except OSError as exc:
        raise BadPath(f"cannot read {shown_text}: {exc.strerror or exc}") from None
    if not _inside(real_path, root_real):
        raise BadPath(f"outside the stick: {shown_text}")
    if not stat.S_ISREG(mode):
        raise BadPath(f"not a file: {shown_text}")
    return real_path


def _inside(path: Path, root_real: Path) -> bool:
    return path.is_relative_to(root_real)
