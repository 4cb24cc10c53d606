"""Scanning a stick: which setlists it holds, their songs in order, and their titles.

The default setlist is, first match wins: ``setlist.txt`` at the stick's root; else the first
``*.m3u``/``*.m3u8`` at the root (natural order); else "All songs": every audio file on the
stick, folders included, in natural order of their paths, but the guide tracks that setlists
name (``cue=``), which are for the musician's ears only. Every ``setlists/*.txt`` is an extra
setlist the menu offers. Names match case-insensitively; hidden files and folders (``.x``,
macOS ``._x`` AppleDouble files, ``.Trashes``) and Windows' system folders are skipped.

A setlist whose lines match none of the stick's files (or that has no song lines) gives way to
"All songs", with a warning saying so: better the stick's songs than nothing. ``setlist.txt.txt``
(Windows hides the extension it added) and ``setlist`` without an extension count as
``setlist.txt``; a setlist saved as RTF or a word processor's document is refused with a
warning asking for plain text.

Audio files are chosen by extension (:data:`AUDIO_FORMATS`), so the walk only lists folders;
tags are read once per distinct file and scan. Files that look like audio but cannot be played
(copy-protected iTunes songs, MIDI, CD track shortcuts) are counted in one warning per stick
and named by a setlist line that asks for one, never silently dropped. Only "All songs" walks
the folders, so with a setlist the stick's other files go unmentioned.

The walk does not follow folder symlinks, and takes a symlinked file only if it resolves
inside the stick. Everything is bounded (folder depth, songs, folder entries, setlist size,
warnings) so a hostile stick cannot hang the box; each bound that bites says so in a warning.
"""

from __future__ import annotations

import itertools
import os
import posixpath
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType

from stagebox.media.model import Library, Setlist, Song
from stagebox.media.natsort import natural_key
from stagebox.media.options import song_fields
from stagebox.media.safepath import (
    BadPath,
    MissingFile,
    StickPaths,
    printable,
    quote,
    stick_file,
)
from stagebox.media.setlist import (
    SetlistEntry,
    decode_text,
    parse_m3u_text,
    parse_setlist_text,
)
from stagebox.media.tags import TitleCache

PLAYS = None
AUDIO_FORMATS: Mapping[str, str | None] = MappingProxyType({
    # libsndfile
    ".wav": PLAYS, ".wave": PLAYS, ".flac": PLAYS, ".ogg": PLAYS, ".oga": PLAYS,
    ".mp3": PLAYS, ".aif": PLAYS, ".aiff": PLAYS, ".aifc": PLAYS, ".w64": PLAYS,
    ".rf64": PLAYS, ".au": PLAYS, ".snd": PLAYS, ".caf": PLAYS,
    # FFmpeg (PyAV)
    ".m4a": PLAYS, ".m4b": PLAYS, ".mp4": PLAYS, ".aac": PLAYS, ".alac": PLAYS,
    ".wma": PLAYS, ".opus": PLAYS, ".spx": PLAYS, ".ape": PLAYS, ".wv": PLAYS,
    ".mpc": PLAYS, ".tta": PLAYS, ".tak": PLAYS, ".shn": PLAYS, ".mka": PLAYS,
    ".webm": PLAYS, ".ac3": PLAYS, ".eac3": PLAYS, ".dts": PLAYS, ".mp2": PLAYS,
    ".mpa": PLAYS, ".amr": PLAYS, ".3ga": PLAYS, ".dsf": PLAYS, ".dff": PLAYS,
    ".ra": PLAYS, ".rm": PLAYS,
    # what looks like a song but is not audio the box can play
    ".m4p": "copy-protected", ".aa": "copy-protected", ".aax": "copy-protected",
    ".mid": "", ".midi": "", ".kar": "", ".mod": "", ".xm": "", ".it": "", ".s3m": "",
    ".cda": "CD shortcut",
})
"""Every file name extension (lower case) the box knows as audio: :data:`PLAYS` (``None``), or
the short reason it cannot play it (``""`` when the extension says it all)."""
AUDIO_EXTENSIONS = frozenset(ext for ext, reason in AUDIO_FORMATS.items() if reason is PLAYS)
"""The files the box plays, and the walk lists."""
_UNPLAYABLE_EXTENSIONS = frozenset(AUDIO_FORMATS) - AUDIO_EXTENSIONS
SETLIST_NAMES = ("setlist.txt", "setlist.txt.txt", "setlist")
"""Names (case-folded) taken for ``setlist.txt``, best first."""
DOCUMENT_EXTENSIONS = frozenset({".rtf", ".rtfd", ".doc", ".docx", ".odt", ".pages", ".wps"})
"""A setlist saved by a word processor, which the box cannot read."""
_DOCUMENT_MAGIC = (b"{\\rtf", b"PK\x03\x04", b"\xd0\xcf\x11\xe0")
"""How RTF, zipped (docx, odt, pages) and old Word files start."""
MAX_KINDS_SHOWN = 3
"""Extensions named in the warning about files the box cannot play."""
PLAYLIST_EXTENSIONS = frozenset({".m3u", ".m3u8"})
SETLISTS_FOLDER = "setlists"
ALL_SONGS = "All songs"
SKIPPED_FOLDERS = frozenset({"system volume information", "$recycle.bin", "recycler",
                             "lost+found"})
"""Folders (case-folded) a file system or OS keeps on the stick; never songs."""

MAX_DEPTH = 8
"""Folders below the root the walk goes into."""
MAX_SONGS = 10_000
"""Songs in one setlist; the rest are left out."""
MAX_FOLDER_ENTRIES = 100_000
"""Names the walk looks at, over all folders, before it stops."""
MAX_SETLISTS = 50
"""Setlists taken from the ``setlists`` folder."""
MAX_SETLIST_BYTES = 1 << 20
MAX_WARNINGS = 20
"""Warnings kept per setlist and per stick; one more line counts the rest."""

Progress = Callable[[int, int], None]


class StickGone(Exception):
    """The stick's root cannot be read any more (pulled out, unmounted): treat as removal."""


def scan_stick(root: Path, progress: Progress | None = None, label: str = "",
               titles: TitleCache | None = None) -> Library:
    """Everything on the stick mounted at ``root``; problems are warnings in the result.

    Runs on the scan worker thread. ``progress(done, total)`` is called on that thread as
    titles are read: once with ``done == 0`` when ``total`` is known, then after each file.
    ``titles`` holds the titles of an earlier scan of this stick, and is brought up to date.
    Raises :class:`StickGone` if ``root`` itself cannot be read, before or after the scan.
    """
    root_real = _open_root(root)
    top = _list_root(root_real)
    paths = StickPaths(root_real, AUDIO_EXTENSIONS)
    stick_warnings: list[str] = []
    pending = [_default_setlist(paths, root_real, top, stick_warnings)]
    for rel_path in _extra_setlists(root_real, top, stick_warnings):
        extra = _read_setlist_file(paths, root_real, rel_path)
        if extra.readable and not extra.items:
            extra.warnings.insert(0, _nothing_matched(extra))
        pending.append(extra)
    if pending[0].name == ALL_SONGS:
        _leave_out_guides(pending[0], pending[1:])
    found = _read_titles(pending, progress, titles or TitleCache())
    _open_root(root)
    return Library(root=root,
                   setlists=tuple(setlist.build(found) for setlist in pending),
                   warnings=_capped(stick_warnings),
                   label=label or printable(root.name))


def load_setlist(root: Path, setlist_path: Path) -> Setlist:
    """One setlist file (``setlist.txt`` format, or M3U by extension) of the stick at ``root``.

    ``setlist_path`` is relative to ``root`` or absolute inside it. Runs on the caller's
    thread and reads tags, so not on the main loop. Raises :class:`StickGone` like
    :func:`scan_stick`.
    """
    root_real = _open_root(root)
    if setlist_path.is_absolute():
        for base in (root, root_real):
            if setlist_path.is_relative_to(base):
                setlist_path = setlist_path.relative_to(base)
                break
    pending = _read_setlist_file(StickPaths(root_real, AUDIO_EXTENSIONS), root_real,
                                 setlist_path.as_posix())
    return pending.build(_read_titles([pending], None, TitleCache()))


@dataclass(frozen=True)
class _Item:
    rel_path: str
    real_path: Path
    options: dict[str, object] = field(default_factory=dict)
    title: str | None = None


@dataclass
class _PendingSetlist:
    """A setlist whose files are resolved but whose titles are not read yet."""

    name: str
    items: list[_Item] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lines: int = 0
    """Song lines the setlist has, whether or not they found a file."""
    readable: bool = True
    """False when the file could not be read, or is not text."""

    def build(self, titles: dict[Path, str | None]) -> Setlist:
        songs = tuple(Song(path=item.real_path,
                           rel_path=printable(item.rel_path),
                           title=item.title or titles.get(item.real_path)
                           or printable(PurePosixPath(item.rel_path).stem),
                           **song_fields(item.options))  # type: ignore[arg-type]
                      for item in self.items)
        return Setlist(self.name, songs, _capped(self.warnings))


def _open_root(root: Path) -> Path:
    try:
        root_real = Path(os.path.realpath(root, strict=True))
        if not root_real.is_dir():
            raise StickGone(f"{quote(str(root))} is not a folder")
        with os.scandir(root_real) as entries:
            next(entries, None)
    except OSError as exc:
        raise StickGone(f"{quote(str(root))}: {exc.strerror or exc}") from exc
    return root_real


def _list_root(root_real: Path) -> list[os.DirEntry[str]]:
    try:
        return _list_folder(root_real, MAX_FOLDER_ENTRIES)
    except OSError as exc:
        raise StickGone(f"{quote(str(root_real))}: {exc.strerror or exc}") from exc


def _list_folder(folder: Path, limit: int) -> list[os.DirEntry[str]]:
    """Up to ``limit`` + 1 visible entries of ``folder``, in natural order of their names."""
    with os.scandir(folder) as listing:
        entries = list(itertools.islice(listing, limit + 1))
    entries = [entry for entry in entries if not _is_hidden(entry.name)]
    entries.sort(key=lambda entry: natural_key(entry.name))
    return entries


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name.casefold() in SKIPPED_FOLDERS


def _is_regular_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _is_real_folder(entry: os.DirEntry[str]) -> bool:
    """A folder, not a symlink to one (the walk never follows those)."""
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _default_setlist(paths: StickPaths, root_real: Path, top: Sequence[os.DirEntry[str]],
                     stick_warnings: list[str]) -> _PendingSetlist:
    files = [entry.name for entry in top if _is_regular_file(entry)]
    candidates = [name for wanted in SETLIST_NAMES for name in files
                  if name.casefold() == wanted]
    candidates += [name for name in files
                   if os.path.splitext(name)[1].casefold() in PLAYLIST_EXTENSIONS]
    for name in candidates:
        try:
            stick_file(root_real, [name])
        except BadPath as exc:
            stick_warnings.append(str(exc))
            continue
        pending = _read_setlist_file(paths, root_real, name)
        if not pending.readable:
            stick_warnings += pending.warnings
            continue
        if pending.items:
            return pending
        return _instead_of_setlist(pending, root_real, top, stick_warnings)
    stick_warnings += [f"{printable(entry.name)}: save it as plain text (setlist.txt)"
                       for entry in top if _is_document_setlist(entry.name)]
    return _all_songs(root_real, top, stick_warnings)


def _instead_of_setlist(setlist: _PendingSetlist, root_real: Path,
                        top: Sequence[os.DirEntry[str]],
                        stick_warnings: list[str]) -> _PendingSetlist:
    """"All songs", for a setlist in which nothing plays, with a warning saying why."""
    all_songs = _all_songs(root_real, top, stick_warnings)
    summary = _nothing_matched(setlist)
    if all_songs.items:
        summary += f"; playing all {_count(len(all_songs.items), 'song')}"
    stick_warnings[:0] = [summary, *setlist.warnings]
    return all_songs


def _nothing_matched(setlist: _PendingSetlist) -> str:
    if setlist.lines > 1:
        return f"{setlist.name}: none of its {setlist.lines} lines matches a file"
    if setlist.lines:
        return f"{setlist.name}: its one line matches no file"
    return f"{setlist.name} has no songs"


def _is_document_setlist(name: str) -> bool:
    stem, extension = os.path.splitext(name)
    return stem.casefold() == "setlist" and extension.casefold() in DOCUMENT_EXTENSIONS


def _extra_setlists(root_real: Path, top: Sequence[os.DirEntry[str]],
                    stick_warnings: list[str]) -> list[str]:
    for entry in top:
        if entry.name.casefold() != SETLISTS_FOLDER or not _is_real_folder(entry):
            continue
        try:
            inside = _list_folder(root_real / entry.name, MAX_FOLDER_ENTRIES)
        except OSError as exc:
            stick_warnings.append(f"cannot read {quote(entry.name)}: {exc.strerror or exc}")
            return []
        names = [inner.name for inner in inside
                 if inner.name.casefold().endswith(".txt") and _is_regular_file(inner)]
        stick_warnings += [f"{printable(inner.name)}: save it as plain text (.txt)"
                           for inner in inside
                           if os.path.splitext(inner.name)[1].casefold() in DOCUMENT_EXTENSIONS]
        if len(names) > MAX_SETLISTS:
            stick_warnings.append(f"Only the first {MAX_SETLISTS} setlists are used")
        return [f"{entry.name}/{name}" for name in names[:MAX_SETLISTS]]
    return []


def _read_setlist_file(paths: StickPaths, root_real: Path, rel_path: str) -> _PendingSetlist:
    """Parse the setlist at ``rel_path`` and resolve its paths; no tags read yet."""
    rel_path = posixpath.normpath(rel_path)
    pending = _PendingSetlist(printable(rel_path))
    source_name = printable(posixpath.basename(rel_path))
    try:
        resolved = paths.resolve(rel_path)
        with open(resolved.real_path, "rb") as setlist_file:
            data = setlist_file.read(MAX_SETLIST_BYTES + 1)
    except BadPath as exc:
        pending.warnings.append(str(exc))
        pending.readable = False
        return pending
    except OSError as exc:
        pending.warnings.append(f"cannot read {quote(rel_path)}: {exc.strerror or exc}")
        pending.readable = False
        return pending
    if data.startswith(_DOCUMENT_MAGIC):
        pending.warnings.append(f"{source_name}: save it as plain text")
        pending.readable = False
        return pending
    if len(data) > MAX_SETLIST_BYTES:
        pending.warnings.append(f"{source_name}: too big, read the first 1 MB")
        data = data[:MAX_SETLIST_BYTES]
    text = decode_text(data)
    if os.path.splitext(rel_path)[1].casefold() in PLAYLIST_EXTENSIONS:
        entries = parse_m3u_text(text)
    else:
        entries, warnings = parse_setlist_text(text, source_name)
        pending.warnings += warnings
    pending.lines = len(entries)
    base = posixpath.dirname(resolved.rel_path)
    for entry in entries:
        if len(pending.items) == MAX_SONGS:
            pending.warnings.append(f"{source_name}: only the first {MAX_SONGS} songs are used")
            break
        item = _resolve_entry(paths, entry, base, f"{source_name}:{entry.line}",
                              pending.warnings)
        if item is not None:
            pending.items.append(item)
    pending.warnings.sort(key=lambda warning: _line_number(warning, source_name))
    return pending


def _resolve_entry(paths: StickPaths, entry: SetlistEntry, base: str, where: str,
                   warnings: list[str]) -> _Item | None:
    """The entry's file: from the setlist's folder, else (for a setlist in a subfolder, whose
    author may well have written paths from the stick's root) from the root. A file the box
    cannot play is left out with a warning."""
    try:
        resolved = paths.resolve(entry.path, base)
    except MissingFile as exc:
        if not base:
            warnings.append(f"{where}: {exc}")
            return None
        try:
            resolved = paths.resolve(entry.path)
        except BadPath:
            warnings.append(f"{where}: {exc}")
            return None
    except BadPath as exc:
        warnings.append(f"{where}: {exc}")
        return None
    reason = AUDIO_FORMATS.get(posixpath.splitext(resolved.rel_path)[1].lower())
    if reason is not None:
        warnings.append(f"{where}: can't play {quote(resolved.rel_path)}"
                        + (f" ({reason})" if reason else ""))
        return None
    if resolved.note:
        warnings.append(f"{where}: {resolved.note}")
    options = entry.options
    if "cue" in options:
        options = _with_guide(paths, options, base, where, warnings)
    return _Item(resolved.rel_path, resolved.real_path, options, entry.title)


def _with_guide(paths: StickPaths, options: dict[str, object], base: str, where: str,
                warnings: list[str]) -> dict[str, object]:
    """``options`` with its ``cue=`` guide track found on the stick as its song is (from
    the setlist's folder, else from the root), or left out with a warning: the song plays
    without it."""
    written = str(options["cue"])
    options = {name: value for name, value in options.items() if name != "cue"}
    try:
        try:
            resolved = paths.resolve(written, base)
        except MissingFile:
            if not base:
                raise
            resolved = paths.resolve(written)
    except (MissingFile, BadPath) as exc:
        warnings.append(f"{where}: cue: {exc}; the song plays without its guide")
        return options
    if posixpath.splitext(resolved.rel_path)[1].lower() not in AUDIO_EXTENSIONS:
        warnings.append(f"{where}: cue: can't play {quote(resolved.rel_path)}; the song "
                        "plays without its guide")
        return options
    if resolved.note:
        warnings.append(f"{where}: cue: {resolved.note}")
    return {**options, "cue": resolved.real_path}


def _line_number(warning: str, source_name: str) -> int:
    """Sort key putting a setlist's warnings in line order (file-level ones first)."""
    number, _, _ = warning.removeprefix(f"{source_name}:").partition(":")
    return int(number) if number.isdigit() else 0


@dataclass
class _Walk:
    """The folder walk for "All songs": state shared by the recursion."""

    root_real: Path
    items: list[_Item] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    entries_left: int = MAX_FOLDER_ENTRIES
    unplayable: Counter[str] = field(default_factory=Counter)
    """Files that look like audio the box cannot play, by extension."""
    too_deep: bool = False
    stopped: bool = False

    def folder(self, rel_parts: tuple[str, ...], entries: Sequence[os.DirEntry[str]]) -> None:
        """Collect the audio files under one folder, depth first, in natural order."""
        self.entries_left -= len(entries)
        for entry in entries:
            if self.stopped:
                return
            parts = (*rel_parts, entry.name)
            try:
                extension = os.path.splitext(entry.name)[1].lower()
                if entry.is_dir(follow_symlinks=False):
                    self.subfolder(parts)
                elif extension in AUDIO_EXTENSIONS:
                    self.audio_file(parts, entry)
                elif extension in _UNPLAYABLE_EXTENSIONS and entry.is_file():
                    self.unplayable[extension] += 1
            except OSError as exc:
                self.warnings.append(f"cannot read {quote('/'.join(parts))}: "
                                     f"{exc.strerror or exc}")
        if self.entries_left < 0:
            self.stop(f"Too many files; stopped after {MAX_FOLDER_ENTRIES}")

    def subfolder(self, parts: tuple[str, ...]) -> None:
        if len(parts) > MAX_DEPTH:
            self.too_deep = True
            return
        if self.entries_left <= 0:
            self.stop(f"Too many files; stopped after {MAX_FOLDER_ENTRIES}")
            return
        try:
            entries = _list_folder(self.root_real.joinpath(*parts), self.entries_left)
        except OSError as exc:
            self.warnings.append(f"cannot read folder {quote('/'.join(parts))}: "
                                 f"{exc.strerror or exc}")
            return
        self.folder(parts, entries)

    def audio_file(self, parts: tuple[str, ...], entry: os.DirEntry[str]) -> None:
        if entry.is_symlink():
            try:
                real_path = stick_file(self.root_real, parts)
            except BadPath as exc:
                self.warnings.append(f"skipped {exc}")
                return
        elif entry.is_file(follow_symlinks=False):
            real_path = self.root_real.joinpath(*parts)
        else:
            return
        if len(self.items) == MAX_SONGS:
            self.stop(f"Only the first {MAX_SONGS} songs are listed")
            return
        self.items.append(_Item("/".join(parts), real_path))

    def stop(self, reason: str) -> None:
        """End the walk where it is; the songs found so far stay."""
        if not self.stopped:
            self.stopped = True
            self.warnings.append(reason)


def _all_songs(root_real: Path, top: Sequence[os.DirEntry[str]],
               stick_warnings: list[str]) -> _PendingSetlist:
    walk = _Walk(root_real)
    walk.folder((), top)
    if walk.too_deep:
        walk.warnings.append(f"Folders over {MAX_DEPTH} deep were skipped")
    if walk.unplayable:
        kinds = _kinds(walk.unplayable)
        count = walk.unplayable.total()
        walk.warnings.append(f"No songs: found {kinds}" if not walk.items else
                             f"Can't play {_count(count, 'file')}: {kinds}")
    elif not walk.items:
        walk.warnings.append("No audio files on the stick")
    stick_warnings += walk.warnings
    return _PendingSetlist(ALL_SONGS, walk.items)


def _leave_out_guides(all_songs: _PendingSetlist, setlists: Sequence[_PendingSetlist]) -> None:
    """Take out of "All songs" the files ``setlists`` play as guide tracks (and never as
    songs): spoken cues on the main outputs would reach the audience."""
    songs = {item.real_path for setlist in setlists for item in setlist.items}
    guides = {item.options["cue"] for setlist in setlists for item in setlist.items
              if "cue" in item.options} - songs
    if guides:
        all_songs.items = [item for item in all_songs.items if item.real_path not in guides]


def _kinds(counts: Counter[str]) -> str:
    """``2 .m4p (copy-protected), 1 .mid``: the commonest first."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown = [f"{number} {extension}" + (f" ({AUDIO_FORMATS[extension]})"
                                         if AUDIO_FORMATS[extension] else "")
             for extension, number in ranked[:MAX_KINDS_SHOWN]]
    if len(ranked) > MAX_KINDS_SHOWN:
        shown.append("...")
    return ", ".join(shown)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _read_titles(pending: Sequence[_PendingSetlist], progress: Progress | None,
                 cache: TitleCache) -> dict[Path, str | None]:
    """Each distinct file's title tag, read once, for items the setlist did not title."""
    paths = list(dict.fromkeys(item.real_path for setlist in pending
                               for item in setlist.items if item.title is None))
    if progress is not None:
        progress(0, len(paths))
    titles: dict[Path, str | None] = {}
    for done, path in enumerate(paths, start=1):
        titles[path] = cache.title(path)
        if progress is not None:
            progress(done, len(paths))
    cache.keep_only(set(paths))
    return titles


def _capped(warnings: list[str]) -> tuple[str, ...]:
    if len(warnings) <= MAX_WARNINGS:
        return tuple(warnings)
    extra = len(warnings) - MAX_WARNINGS + 1
    return (*warnings[:MAX_WARNINGS - 1], f"... and {extra} more problems")
