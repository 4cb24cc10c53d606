"""Property tests: whatever a stick's text files hold, the parsers and the path resolver
neither raise (but for the documented BadPath) nor lead out of the stick."""

from __future__ import annotations

import codecs
import os
import stat
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stagebox.media.safepath import BadPath, StickPaths
from stagebox.media.scan import AUDIO_EXTENSIONS, scan_stick
from stagebox.media.setlist import decode_text, parse_m3u_text, parse_setlist_text

QUICK = settings(max_examples=150, deadline=None)
"""Modest: the machine running the suite is shared."""

NAMES = ["..", ".", "", "a", "A", "Café", unicodedata.normalize("NFD", "Café"), "song",
         "Song.WAV", "song.wav", "secret.wav", "home", "HOME", "loop", "null.wav", "pipe.wav",
         "in.wav", "deep", "up", "stick", "%2e%2e", "%2F", "~", "C:", "E:", "\0", "x" * 300,
         os.fsdecode(b"caf\xe9.wav"), "Ω.flac", "ω.FLAC", "ß.mp3", "SS.mp3", " a ", "a|b"]
PREFIXES = ["", "/", "\\", "C:\\", "c:/", "E:", "//", "\\\\nas\\", "file://", "file:///",
            "file:///E:/", "file://host/", "http://", "./", "../", "~/"]


@pytest.fixture(scope="module")
def stick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stick with every trap: links out (file, folder, absolute, relative), a loop, a
    device, a FIFO, names alike but for case or normalization, an undecodable name."""
    top = tmp_path_factory.mktemp("properties")
    (top / "secret.wav").write_bytes(b"private")
    (top / "home" / "deep").mkdir(parents=True)
    (top / "home" / "deep" / "song.wav").write_bytes(b"private")
    root = top / "stick"
    (root / "deep" / "Café").mkdir(parents=True)
    for name in ("song.wav", "Song.WAV", "ß.mp3", "SS.mp3", "Ω.flac", "ω.FLAC"):
        (root / name).write_bytes(b"audio")
    (root / unicodedata.normalize("NFD", "Café.wav")).write_bytes(b"audio")
    (root / "Café.wav").write_bytes(b"audio")
    (root / os.fsdecode(b"caf\xe9.wav")).write_bytes(b"audio")
    (root / "deep" / "Café" / "song.mp3").write_bytes(b"audio")
    os.symlink(top / "secret.wav", root / "secret.wav")
    os.symlink("../secret.wav", root / "up.wav")
    os.symlink(top / "home", root / "home")
    os.symlink("..", root / "up")
    os.symlink(".", root / "loop")
    os.symlink("loop2.wav", root / "loop1.wav")
    os.symlink("loop1.wav", root / "loop2.wav")
    os.symlink("/dev/null", root / "null.wav")
    os.symlink("song.wav", root / "in.wav")
    os.mkfifo(root / "pipe.wav")
    return root


def paths_written() -> st.SearchStrategy[str]:
    structured = st.builds(
        lambda prefix, parts, separator: prefix + separator.join(parts),
        st.sampled_from(PREFIXES), st.lists(st.sampled_from(NAMES), max_size=6),
        st.sampled_from(["/", "\\"]))
    return st.one_of(structured, st.text(max_size=60))


def assert_inside(stick: Path, rel_path: str, real_path: Path) -> None:
    root_real = Path(os.path.realpath(stick))
    assert real_path.is_relative_to(root_real)
    assert os.path.realpath(real_path) == os.fspath(real_path)
    assert stat.S_ISREG(os.stat(real_path).st_mode)
    assert os.path.realpath(root_real / rel_path) == os.fspath(real_path)


@QUICK
@given(text=paths_written(), base=st.sampled_from(["", "deep", "deep/Café", "home", "up"]))
def test_no_written_path_leads_out_of_the_stick(stick: Path, text: str, base: str) -> None:
    try:
        resolved = StickPaths(stick, AUDIO_EXTENSIONS).resolve(text, base)
    except BadPath:
        return
    assert_inside(stick, resolved.rel_path, resolved.real_path)


@QUICK
@given(texts=st.lists(paths_written(), max_size=8))
def test_a_shared_resolver_answers_as_a_fresh_one(stick: Path, texts: list[str]) -> None:
    shared = StickPaths(stick, AUDIO_EXTENSIONS)
    for text in texts:
        answers = []
        for paths in (shared, StickPaths(stick, AUDIO_EXTENSIONS)):
            try:
                answers.append(paths.resolve(text))
            except BadPath as exc:
                answers.append(str(exc))
        assert answers[0] == answers[1]


@settings(max_examples=40, deadline=None)
@given(lines=st.lists(paths_written(), max_size=6), m3u=st.booleans(),
       encoding=st.sampled_from(["utf-8", "utf-16", "cp1252"]))
def test_no_setlist_on_the_stick_leads_out_of_it(stick: Path, lines: list[str], m3u: bool,
                                                 encoding: str) -> None:
    name = "setlist.m3u" if m3u else "setlist.txt"
    (stick / "setlist.m3u").unlink(missing_ok=True)
    (stick / "setlist.txt").unlink(missing_ok=True)
    text = "\r\n".join(line.replace("\0", "") for line in lines)
    (stick / name).write_bytes(text.encode(encoding, "replace"))
    library = scan_stick(stick)
    for setlist in library.setlists:
        for song in setlist.songs:
            assert song.path.is_relative_to(Path(os.path.realpath(stick)))
            assert stat.S_ISREG(os.stat(song.path).st_mode)


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_any_setlist_text_parses_without_raising(text: str) -> None:
    entries, warnings = parse_setlist_text(text, "setlist.txt")
    lines = len(text.splitlines())
    for entry in entries:
        assert entry.path and entry.path == entry.path.strip()
        assert 1 <= entry.line <= lines
    assert all(isinstance(warning, str) and warning.startswith("setlist.txt:")
               for warning in warnings)


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_any_m3u_text_parses_without_raising(text: str) -> None:
    for entry in parse_m3u_text(text):
        assert entry.path and not entry.path.startswith("#")
        assert entry.title is None or entry.title.isprintable()


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_any_bytes_decode_to_text(data: bytes) -> None:
    assert isinstance(decode_text(data), str)


@settings(max_examples=200, deadline=None)
@given(text=st.text().filter(lambda text: not text.startswith("\ufeff")),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_text_in_unicode_decodes_to_itself(text: str, encoding: str) -> None:
    data = text.encode(encoding, "surrogatepass")
    if encoding == "utf-8" and data.startswith(codecs.BOM_UTF8):
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates: not text an editor writes
    assert decode_text(data) == text
