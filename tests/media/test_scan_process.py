"""The scan in its own process: the same library, and a failed scanner costs only the scan."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from stagebox.media import scan_process
from stagebox.media.model import Library, MidiMessage, Section, Setlist, Song
from stagebox.media.scan import StickGone, scan_stick
from stagebox.media.scan_process import (
    LINE_BYTES,
    MAX_LINE_BYTES,
    MAX_RESULT_BYTES,
    LibraryReader,
    ScanError,
    library_lines,
    scan_in_child,
)


def make_stick(root: Path) -> Path:
    root.mkdir()
    for name in ("01 one.wav", "02 zwei\u00e4.flac"):
        soundfile.write(root / name, np.zeros(100, np.float32), 8000)
    soundfile.write(root / "plain.wav", np.zeros(100, np.float32), 8000)
    # A Latin-1 name, not valid UTF-8 (soundfile cannot open it by name, hence the rename).
    os.rename(root / "plain.wav", os.fsencode(root) + b"/03 caf\xe9.wav")
    (root / "setlist.txt").write_text("01 one.wav | gain=-2dB then=next\n02 zwei\u00e4.flac\n"
                                      "missing.wav\n03 caf\udce9.wav\n", encoding="utf-8",
                                      errors="surrogateescape")
    return root


def test_the_child_finds_what_an_in_process_scan_finds(tmp_path: Path):
    stick = make_stick(tmp_path / "stick")
    steps: list[tuple[int, int]] = []
    library = scan_in_child(stick, "GIG", tmp_path / "cache.json",
                            lambda done, total: steps.append((done, total)))
    assert library == scan_stick(stick, label="GIG")
    assert steps[-1] == (steps[-1][1], steps[-1][1])
    assert (tmp_path / "cache.json").exists(), "the titles were kept for next time"


def test_progress_comes_now_and_then_from_the_first_file_to_the_last(tmp_path: Path):
    stick = tmp_path / "stick"
    stick.mkdir()
    for number in range(300):
        soundfile.write(stick / f"{number:03d}.wav", np.zeros(100, np.float32), 8000)
    steps: list[tuple[int, int]] = []
    scan_in_child(stick, "GIG", None, lambda done, total: steps.append((done, total)))
    assert steps[0] == (0, 300) and steps[-1] == (300, 300)
    assert steps == sorted(steps)
    # Not a line per file: the display redraws a few times a second at most.
    assert len(steps) < 30


def test_a_stick_gone_before_the_scan_is_reported_as_gone(tmp_path: Path):
    with pytest.raises(StickGone):
        scan_in_child(tmp_path / "nothing-here", "GIG", None)


def test_a_scanner_that_crashes_costs_the_scan_not_the_box(tmp_path: Path, monkeypatch):
    stick = make_stick(tmp_path / "stick")
    crash = tmp_path / "crash.py"
    crash.write_text("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)\n")
    real_popen = scan_process.subprocess.Popen

    def crashing(args, **kwargs):
        return real_popen([sys.executable, str(crash)], **kwargs)

    monkeypatch.setattr(scan_process.subprocess, "Popen", crashing)
    with pytest.raises(ScanError, match="signal 11"):
        scan_in_child(stick, "GIG", None)


def fake_scanner(monkeypatch, tmp_path: Path, output: bytes) -> None:
    """Make the box's scanner a process that prints ``output``, whatever the stick."""
    said = tmp_path / "said"
    said.write_bytes(output)
    real_popen = scan_process.subprocess.Popen

    def printing(args, **kwargs):
        return real_popen([sys.executable, "-c", "import sys; sys.stdout.buffer.write("
                           "open(sys.argv[1], 'rb').read())", str(said)], **kwargs)

    monkeypatch.setattr(scan_process.subprocess, "Popen", printing)


def lines(*messages: object) -> bytes:
    return b"".join(json.dumps(message).encode() + b"\n" for message in messages)


SONG = ["/stick/a.flac", "a.flac", "A", {}]
SETLIST = {"setlist": ["setlist.txt", []]}
END = {"library": ["GIG", []]}


def test_a_well_formed_library_in_pieces_is_taken_whole(tmp_path: Path, monkeypatch):
    fake_scanner(monkeypatch, tmp_path, lines(
        {"progress": [1, 1]}, {"songs": [SONG]},
        {"songs": [[*SONG[:3], {"then": "next", "key": "+2", "loop": "1:02-1:30",
                                "midi": "pc:4", "split": "click-left",
                                "cue": "/stick/guides/a.wav"}]]}, SETLIST,
        {"order": [1, 0]}, {"order": [0]}, {"setlist": ["b.txt", ["b.txt:3: no file"]]},
        END))
    library = scan_in_child(Path("/stick"), "GIG", None)
    first = Song(Path("/stick/a.flac"), "a.flac", "A", then="next", key_semitones=2,
                 loop=Section(62.0, 90.0), midi=(MidiMessage("pc", 4),), split="click-left",
                 cue=Path("/stick/guides/a.wav"))
    again = Song(Path("/stick/a.flac"), "a.flac", "A")
    assert library == Library(Path("/stick"), (
        Setlist("setlist.txt", (first, again, again)), Setlist("b.txt", (), ("b.txt:3: no file",))),
        (), "GIG")


@pytest.mark.parametrize("messages", [
    [{}],
    ["songs"],
    [{"songs": [SONG], "library": ["GIG", []]}],
    [{"songs": [SONG]}, END],
    [{"songs": [[*SONG[:3], {"then": "later"}]]}, SETLIST, END],
    [{"songs": [SONG[:2]]}, SETLIST, END],
    [{"songs": [[*SONG[:3], {"gain": 1e400}]]}, SETLIST, END],
    [{"songs": [[*SONG[:3], {"gain": "1e400"}]]}, SETLIST, END],
    [{"songs": [[*SONG[:3], {"speed": "1000%"}]]}, SETLIST, END],
    [{"songs": [[*SONG[:3], {"colour": "red"}]]}, SETLIST, END],
    [{"songs": [[*SONG[:3], {"midi": "pc:128"}]]}, SETLIST, END],
    [{"songs": [[*SONG[:3], ["gain", "-1"]]]}, SETLIST, END],
    [{"songs": [["", "a", "A", {}]]}, SETLIST, END],
    [{"songs": [["stick/a.flac", "a", "A", {}]]}, SETLIST, END],
    [{"songs": [["/stick/", "a", "A", {}]]}, SETLIST, END],
    [{"songs": {"/a.flac": 1}}, SETLIST, END],
    [{"songs": [SONG]}, SETLIST, {"order": {"0": 0}}, END],
    [{"songs": [SONG]}, {"order": [0]}, SETLIST, END],
    [{"songs": [SONG]}, SETLIST, {"order": [1]}, END],
    [{"songs": [SONG]}, SETLIST, {"order": [-1]}, END],
    [{"songs": [SONG]}, SETLIST, {"order": [True]}, END],
    [{"songs": [SONG]}, SETLIST, {"order": [0.0]}, END],
    [{"songs": [SONG]}, {"setlist": ["s", "not a list"]}, END],
    [{"songs": [SONG]}, SETLIST, {"verse": []}, END],
    [{"songs": [SONG]}, SETLIST, END, END],
    [{"songs": [[*SONG[:3], {"midi": 5}]]}, SETLIST, END],
    [{"songs": [[*SONG, "pc:4"]]}, SETLIST, END],
    [{"songs": [[*SONG[:3], {"cue": "guides/a.wav"}]]}, SETLIST, END],
    [{"songs": [[*SONG[:3], {"split": "both"}]]}, SETLIST, END],
])
def test_malformed_scanner_output_is_an_error_not_a_crash(tmp_path: Path, monkeypatch, messages):
    fake_scanner(monkeypatch, tmp_path, lines(*messages))
    with pytest.raises(ScanError):
        scan_in_child(Path("/stick"), "GIG", None)


def test_json_nested_too_deep_for_the_parser_is_an_error_not_a_crash(tmp_path: Path,
                                                                      monkeypatch):
    fake_scanner(monkeypatch, tmp_path, b"[" * 50_000 + b"\n")
    with pytest.raises(ScanError):
        scan_in_child(Path("/stick"), "GIG", None)


def test_a_line_too_long_to_parse_at_once_is_refused(tmp_path: Path, monkeypatch):
    # The whole library in one line, as scanners once printed it: over the line limit.
    songs = [[f"/stick/{number}.flac", f"{number}.flac", "A", {}]
             for number in range(3000)]
    old_style = {"library": {"label": "GIG", "warnings": [],
                             "setlists": [{"name": "s", "warnings": [], "songs": songs}]}}
    fake_scanner(monkeypatch, tmp_path, lines(old_style))
    with pytest.raises(ScanError, match="too long"):
        scan_in_child(Path("/stick"), "GIG", None)


def test_more_than_a_library_may_take_is_refused(tmp_path: Path, monkeypatch):
    # Lines under the line limit, cheap to parse (no songs, all padding), but too many.
    padded = b'{"songs": [' + b" " * (MAX_LINE_BYTES - 20) + b"]}\n"
    fake_scanner(monkeypatch, tmp_path, padded * (2 * MAX_RESULT_BYTES // len(padded))
                 + lines(SETLIST, END))
    with pytest.raises(ScanError):
        scan_in_child(Path("/stick"), "GIG", None)


def long_setlist_stick(root: Path, files: int, repeats: int) -> Path:
    root.mkdir()
    names = [f"folder {number % 7}/{number:04d} song.wav" for number in range(files)]
    for folder in {name.partition("/")[0] for name in names}:
        (root / folder).mkdir()
    for name in names:
        soundfile.write(root / name, np.zeros(10, np.float32), 8000)
    setlist = names + [f"{name} | gain=-{number % 3 + 1}dB"
                       for number, name in enumerate(names * (repeats - 1))]
    (root / "setlist.txt").write_text("\n".join(setlist) + "\n", encoding="utf-8")
    (root / "setlists").mkdir()
    (root / "setlists" / "reverse.txt").write_text("\n".join(reversed(names)) + "\n",
                                                   encoding="utf-8")
    return root


def test_a_long_setlist_comes_in_bounded_lines_and_arrives_whole_and_in_order(tmp_path: Path):
    stick = long_setlist_stick(tmp_path / "stick", files=400, repeats=5)
    said = subprocess.run([sys.executable, "-m", "stagebox.media.scan_process", str(stick),
                           "GIG", ""], capture_output=True, check=True).stdout.splitlines()
    assert sum(map(len, said)) > 4 * LINE_BYTES
    assert max(map(len, said)) <= LINE_BYTES

    library = scan_in_child(stick, "GIG", None)
    assert library == scan_stick(stick, label="GIG")
    assert [len(setlist.songs) for setlist in library.setlists] == [2000, 400]
    played, reverse = library.setlists
    # The same song in two setlists is one object in the box's memory, not two.
    assert played.songs[0] is reverse.songs[-1]


def test_a_scanned_library_is_kept_out_of_the_collectors_sweeps(tmp_path: Path):
    """A full collection walks all it tracks with the GIL held: not 2,000 songs."""
    stick = long_setlist_stick(tmp_path / "stick", files=2000, repeats=1)
    collections: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(note)
    try:
        library = scan_in_child(stick, "GIG", None)
    finally:
        gc.callbacks.remove(note)
    assert gc.isenabled()
    assert collections == [], "no collection ran while the songs were built"
    tracked = {id(thing) for generation in range(3) for thing in gc.get_objects(generation)}
    songs = library.setlists[0].songs
    assert len(songs) == 2000
    assert not any(id(song) in tracked for song in songs)


def library_of(*setlists: Setlist) -> Library:
    return Library(Path("/stick"), setlists, ("stick warning",), "GIG")


def taken(library: Library, max_bytes: int = MAX_RESULT_BYTES) -> Library:
    """``library`` through the lines the child prints and the box's reader."""
    reader = LibraryReader(library.root)
    for line in library_lines(library, max_bytes):
        assert len(line) <= MAX_LINE_BYTES
        reader.take(json.loads(line), len(line) + 1)
    assert reader.library is not None
    return reader.library


def songs(count: int, folder: str = "f") -> tuple[Song, ...]:
    return tuple(Song(Path(f"/stick/{folder}/{number} song.flac"),
                      f"{folder}/{number} song.flac", f"Song {number}", -1.5, "stop")
                 for number in range(count))


def test_a_library_goes_through_its_lines_unchanged():
    library = library_of(Setlist("setlist.txt", songs(1000) * 3, ("setlist.txt:2: no file",)),
                         Setlist("setlists/b.txt", songs(500, "g")), Setlist("empty.txt", ()))
    assert taken(library) == library


def test_songs_over_the_size_cap_are_left_out_with_a_warning():
    library = library_of(Setlist("setlist.txt", songs(1000), ("setlist.txt:2: no file",)),
                         Setlist("setlists/b.txt", songs(500, "g")), Setlist("c.txt", ()))
    capped = taken(library, max_bytes=50_000)
    kept = capped.default.songs
    assert 0 < len(kept) < 1000 and kept == library.default.songs[:len(kept)]
    assert capped.default.warnings == ("setlist.txt:2: no file",
                                       f"Too many songs: only the first {len(kept)} used")
    assert [setlist.name for setlist in capped.setlists] == ["setlist.txt"]
    assert capped.warnings == ("stick warning", "Too many songs: 2 setlists left out")


def test_a_song_too_long_to_send_is_left_out_with_a_warning():
    long_title = Song(Path("/stick/long.flac"), "long.flac", "la" * MAX_LINE_BYTES)
    library = library_of(Setlist("setlist.txt", (songs(1)[0], long_title, songs(2)[1])))
    capped = taken(library)
    assert capped.default.songs == songs(2)
    assert capped.default.warnings == ("1 songs left out: names too long",)
