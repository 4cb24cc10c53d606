"""Reading ``setlist.txt`` and M3U playlists into entries: pure text parsing, no files.

``setlist.txt`` (this project's format)::

    # one song per line, in playing order
    01 Opening Jam.flac
    Wonderwall.mp3 | gain=-1.5dB      # a bit hot
    ballads/Hallelujah.wav | then=stop

- A path is relative to the setlist file's folder; ``\\`` works as ``/``. Surrounding double
  quotes are dropped (Windows' "Copy as path" adds them). Names match in any letter case and
  Unicode form, as on FAT; a name without its extension finds the song of that name.
- An absolute path or a ``file://`` URL pasted from a computer
  (``C:\\Users\\me\\Music\\Set 1\\Song.mp3``) is taken too, as in M3U: the setlist is typed
  by hand, but pasting is how many people type. See :class:`~stagebox.media.safepath.StickPaths`.
- Options follow the first ``|`` as ``name=value`` separated by spaces (see
  :mod:`stagebox.media.options`). A name cannot contain ``|``; no stick file system that
  Windows or macOS writes allows it anyway.
- Comments: a line whose first non-blank character is ``#`` is a comment. After the ``|``, a
  ``#`` at its start or after a blank starts a comment to the end of the line. In the path a
  ``#`` is part of the name ("Song #2.wav"); to comment a line with no options, write
  ``Song.wav | # comment``.
- Blank lines are ignored. A bad option or value is a warning and the song loads without that
  option (a typo in a gain must not drop a song); a line with no path is a warning.

M3U / M3U8: every line not starting with ``#`` is a path (relative to the playlist's folder),
or an absolute path or ``file://`` URL from the computer that wrote it (found on the stick by
the longest end of the path that exists there); ``#EXTINF:<secs>,<title>`` names the next
entry, and that title wins over the file's tags (the playlist's author chose it for this
list). M3U has no options.

Text files are decoded by :func:`decode_text`: UTF-8 (with or without BOM), UTF-16 with a BOM,
else Windows-1252, else Latin-1 (Windows Notepad's "ANSI").
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

from stagebox.media.options import BEAT_OPTIONS, parse_option
from stagebox.media.safepath import printable, quote

_OPTIONS_COMMENT = re.compile(r"(?:^|\s)#.*$")
_OPTION_TOKEN = re.compile(r'[^\s=]+="[^"]*"|\S+')
"""An option, its value in double quotes if it has spaces (``cue="guides/verse 1.wav"``)."""


@dataclass(frozen=True)
class SetlistEntry:
    """One song line of a setlist, not yet resolved to a file."""

    line: int
    """1-based line number in the setlist file."""
    path: str
    """The path as written (quotes and surrounding blanks removed)."""
    options: dict[str, object] = field(default_factory=dict)
    """Parsed option values by option name (``{"gain": -1.5}``)."""
    title: str | None = None
    """A title given by the playlist itself (M3U ``#EXTINF``), else ``None``."""


def decode_text(data: bytes) -> str:
    """Text of a setlist or playlist file, whatever editor wrote it."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", "replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "replace")
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def parse_setlist_text(text: str, source_name: str) -> tuple[list[SetlistEntry], list[str]]:
    """Entries and warnings (``"setlist.txt:4: ..."``) of a ``setlist.txt``. Pure; any thread."""
    entries: list[SetlistEntry] = []
    warnings: list[str] = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        where = f"{source_name}:{number}"
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        path_text, bar, options_text = line.partition("|")
        path = _unquote(path_text.strip())
        if not path:
            warnings.append(f"{where}: no file name in {quote(line)}")
            continue
        options: dict[str, object] = {}
        if bar:
            for problem in _parse_options(options_text, options):
                warnings.append(f"{where}: {problem}")
        entries.append(SetlistEntry(number, path, options))
    return entries, warnings


def parse_m3u_text(text: str) -> list[SetlistEntry]:
    """Entries of an M3U/M3U8 playlist, titled by ``#EXTINF``. Pure; any thread.

    Every line of an M3U is a comment or a path, so its problems (missing files, URLs) only
    show when the paths are resolved.
    """
    entries: list[SetlistEntry] = []
    title: str | None = None
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line[:8].upper() == "#EXTINF:":
                title = printable(line.partition(",")[2].strip()) or None
            continue
        entries.append(SetlistEntry(number, line, title=title))
        title = None
    return entries


def _parse_options(options_text: str, options: dict[str, object]) -> list[str]:
    """Fill ``options`` from ``name=value`` tokens; return one message per problem."""
    problems: list[str] = []
    for token in _OPTION_TOKEN.findall(_OPTIONS_COMMENT.sub("", options_text)):
        name, equals, value = token.partition("=")
        value = _unquote(value)
        if not equals or not name:
            problems.append(f"{quote(token)} is not name=value")
            continue
        try:
            parsed = parse_option(name, value)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if name.casefold() in options:
            problems.append(f"{quote(name)} given twice; the last counts")
        options[name.casefold()] = parsed
    beats_without_tempo = [name for name in BEAT_OPTIONS
                           if name in options and "bpm" not in options]
    if beats_without_tempo:
        problems.append(f"{'= and '.join(beats_without_tempo)}= need bpm=; no click")
    return problems


def _unquote(path: str) -> str:
    if len(path) >= 2 and path[0] == path[-1] == '"':
        return path[1:-1].strip()
    return path
