"""Paths from the untrusted stick: resolved safely inside it, and made safe to show.

:class:`StickPaths` is the one way a path written on the stick (a setlist line, an M3U entry)
becomes a file to open; :func:`stick_file` is its safety check, which the folder walk also
uses for symlinked files. Both return the file's real path (every symlink resolved), so what
is opened later is exactly what was checked.

Names match as FAT and exFAT match them, whatever the stick's file system: across letter
case and Unicode normalization (a Mac writes ``Café`` decomposed, Windows and Linux type it
composed). Where two names on the stick differ only so, the exact one wins, with a note.
Absolute paths and ``file://`` URLs (a playlist exported on the musician's computer:
``E:\\Music\\Band\\01 Song.mp3``, ``/Volumes/STICK/...``) resolve by the longest trailing part
of the path that exists on the stick, as does a relative path that climbs out of it.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote

from stagebox.media.natsort import natural_key

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")
"""A URL; a drive letter (``C:/``) is not one."""
_FILE_URL = re.compile(r"^file:", re.IGNORECASE)
_DRIVE = re.compile(r"^/?[A-Za-z]:")
QUOTE_LIMIT = 40
"""Longest path shown in a message, in characters; longer ones keep their end (the file)."""
MAX_TRAILING_PARTS = 16
"""Folders and file of an absolute path tried against the stick, from the end."""
MAX_LISTED_NAMES = 100_000
"""Names read from one folder to match against; past it only exact names are found."""
MAX_FOLDERS_TRIED = 64
"""Folders named alike looked into for one path before it is deemed missing."""


class BadPath(ValueError):
    """A path on the stick that cannot be used; the message says why, short enough to show."""


class MissingFile(BadPath):
    """The path is fine but nothing is there."""


class ResolvedPath(NamedTuple):
    """A user-written path that passed every check."""

    rel_path: str
    """``/``-separated and relative to the stick's root, spelt as the names on the stick."""
    real_path: Path
    """The regular file it names, every symlink resolved, inside the stick."""
    note: str = ""
    """Why the file taken may not be the one meant (two names differing only in case, an
    extension guessed among several), else empty."""


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


def name_key(name: str) -> str:
    """The form two names share when FAT or exFAT would take them for the same name."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", name).casefold())


_PLAIN_FILE, _PLAIN_FOLDER, _OTHER = range(3)
"""What a listed name is, as its folder entry tells without a system call: a regular file
or a folder that is not a symlink, or anything else (symlinks included)."""


@dataclass
class _Folder:
    """One folder's names, indexed the ways a written name may match them."""

    names: dict[str, int] = field(default_factory=dict)
    """Every name, and what it is (:data:`_PLAIN_FILE`, ...)."""
    by_key: dict[str, list[str]] = field(default_factory=dict)
    by_stem: dict[str, list[str]] = field(default_factory=dict)
    """Audio files by the key of their name without its extension."""
    complete: bool = False
    """False when the folder could not be listed, or not whole: exact names may exist."""


class StickPaths:
    """Resolves the paths written on one stick, listing each folder once.

    Made for one scan (a listing is not watched for changes) and used on the scan worker
    thread. ``audio_extensions`` (lower case, with the dot) are the files a name written
    without an extension may find.
    """

    def __init__(self, root: Path, audio_extensions: Collection[str] = ()) -> None:
        self._root = root
        self._audio_extensions = frozenset(audio_extensions)
        self._root_real: Path | None = None
        self._folders: dict[tuple[str, ...], _Folder] = {}

    def resolve(self, text: str, base: str = "") -> ResolvedPath:
        """Resolve ``text``, written in a file on the stick, to a regular file inside it.

        ``base`` is the folder the path is relative to (the setlist's folder), ``/``-separated
        and relative to the root; ``""`` is the root. Backslashes count as ``/``. Refused, with
        a :class:`BadPath` saying why: URLs other than ``file:``, symlinks anywhere on the way
        that point out of the stick, and anything that is not a regular file (folders, FIFOs,
        devices); :class:`MissingFile` when nothing on the stick matches.
        """
        if "\0" in text:
            raise BadPath(f"bad file name {quote(text)}")
        path = text
        if _FILE_URL.match(text):
            path = _file_url_path(text)
        elif _URL.match(text):
            raise BadPath(f"not a file on the stick: {quote(text)}")
        path = path.replace("\\", "/")
        if path.startswith("/") or _DRIVE.match(path):
            return self._by_trailing_parts(_absolute_parts(path), text, "no file")
        rel_path = posixpath.normpath(posixpath.join(base, path))
        if rel_path == ".":
            raise BadPath(f"not a file: {quote(text)}")
        parts = rel_path.split("/")
        if parts[0] == "..":
            inside = [part for part in parts if part != ".."]
            return self._by_trailing_parts(inside, text, "outside the stick:")
        return self._at(parts, text)

    def _at(self, parts: Sequence[str], shown: str) -> ResolvedPath:
        names, note = self._match(parts)
        if names is None:
            raise MissingFile(f"no file {quote(shown)}")
        if self._root_real is not None and self._plain(names):
            # No symlink on the way (the listings say so): the path is the real path, as
            # for the folder walk, and a 10,000-line setlist costs no system call a line.
            return ResolvedPath("/".join(names), self._root_real.joinpath(*names), note)
        return ResolvedPath("/".join(names), stick_file(self._root, names, shown=shown), note)

    def _plain(self, names: Sequence[str]) -> bool:
        """Whether ``names`` are folders and a regular file, none of them a symlink."""
        for depth, name in enumerate(names):
            wanted = _PLAIN_FILE if depth == len(names) - 1 else _PLAIN_FOLDER
            if self._folder(tuple(names[:depth])).names.get(name) != wanted:
                return False
        return True

    def _by_trailing_parts(self, parts: Sequence[str], shown: str,
                           missing: str) -> ResolvedPath:
        refusal: BadPath | None = None
        tail = parts[-MAX_TRAILING_PARTS:]
        for start in range(len(tail)):
            try:
                return self._at(tail[start:], shown)
            except MissingFile:
                continue
            except BadPath as exc:
                refusal = refusal or exc
        if refusal is not None:
            raise refusal
        raise MissingFile(f"{missing} {quote(shown)}")

    def _match(self, parts: Sequence[str]) -> tuple[list[str] | None, str]:
        """The names on the stick the written ``parts`` match, and a note; None if none."""
        return self._match_below((), parts, [MAX_FOLDERS_TRIED])

    def _match_below(self, names: tuple[str, ...], parts: Sequence[str],
                     budget: list[int]) -> tuple[list[str] | None, str]:
        """``parts`` matched in the folder ``names``, depth first: of two folders named alike
        (``Música`` from a Mac and from Windows) the song may be in either, and the first
        that holds it is taken without a word. Only the file's own name gets a note."""
        written, last = parts[0], len(parts) == 1
        candidates, stem = _candidates(self._folder(names), written, last)
        for name in candidates:
            if last:
                return [*names, name], _note(written, name, len(candidates), stem)
            budget[0] -= 1
            if budget[0] < 0:
                break
            found, note = self._match_below((*names, name), parts[1:], budget)
            if found is not None:
                return found, note
        return None, ""

    def _folder(self, names: tuple[str, ...]) -> _Folder:
        folder = self._folders.get(names)
        if folder is None:
            folder = self._folders[names] = self._list(names)
        return folder

    def _list(self, names: tuple[str, ...]) -> _Folder:
        try:
            if self._root_real is None:
                self._root_real = Path(os.path.realpath(self._root, strict=True))
            path = self._root_real.joinpath(*names)
            # Every folder on the way was listed, so checked, before this one: a link out
            # is found here, before anything outside the stick is listed.
            if not _inside(Path(os.path.realpath(path)), self._root_real):
                return _Folder()
            with os.scandir(path) as listing:
                entries = {entry.name: _kind(entry) for _, entry in zip(
                    range(MAX_LISTED_NAMES + 1), listing, strict=False)}
        except OSError:
            return _Folder()
        folder = _Folder(entries, complete=len(entries) <= MAX_LISTED_NAMES)
        for name in entries:
            folder.by_key.setdefault(name_key(name), []).append(name)
            stem, extension = posixpath.splitext(name)
            if extension.lower() in self._audio_extensions and not name.startswith("."):
                folder.by_stem.setdefault(name_key(stem), []).append(name)
        return folder


def _kind(entry: os.DirEntry[str]) -> int:
    try:
        if entry.is_symlink():
            return _OTHER
        if entry.is_file(follow_symlinks=False):
            return _PLAIN_FILE
        return _PLAIN_FOLDER if entry.is_dir(follow_symlinks=False) else _OTHER
    except OSError:
        return _OTHER


def _candidates(folder: _Folder, written: str, last: bool) -> tuple[list[str], bool]:
    """The names in ``folder`` that ``written`` may mean, best first; and whether they were
    found by their stem (``written`` lacks the extension)."""
    alike = sorted(folder.by_key.get(name_key(written), []), key=natural_key)
    if written in folder.names:
        return [written, *(name for name in alike if name != written)], False
    if not folder.complete:
        return [written], False
    if alike or not last:
        return alike, False
    return sorted(folder.by_stem.get(name_key(written), []), key=natural_key), True


def _note(written: str, taken: str, count: int, stem: bool) -> str:
    """Why ``taken`` may not be the file meant, when ``count`` names matched."""
    if count < 2:
        return ""
    if stem:
        return f"{count} files {quote(written + '.*')}; took {quote(taken)}"
    which = "the exact one" if taken == written else quote(taken)
    return f"{count} files named like {quote(written)}; took {which}"


def _file_url_path(url: str) -> str:
    """The percent-decoded path of a ``file:`` URL; a host (``file://server/share``) is
    dropped, since only the path's end is looked for on the stick."""
    rest = url[len("file:"):]
    if rest.startswith("//"):
        rest = rest[2:]
        slash = rest.find("/")
        rest = rest[slash:] if slash >= 0 else "/"
    return unquote(rest, errors="surrogateescape")


def _absolute_parts(path: str) -> list[str]:
    """The names of an absolute ``/``-separated path, drive letter dropped."""
    drive = _DRIVE.match(path)
    if drive:
        path = path[drive.end():]
    return [part for part in posixpath.normpath("/" + path).split("/") if part]


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
