"""Paths written on an untrusted stick never lead out of it, nor to anything but a file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stagebox.media.safepath import (
    BadPath,
    MissingFile,
    ResolvedPath,
    StickPaths,
    printable,
    quote,
    stick_file,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "stick"
    (root / "ballads").mkdir(parents=True)
    (root / "ballads" / "Hallelujah.wav").write_bytes(b"RIFF")
    (root / "Wonderwall.mp3").write_bytes(b"ID3")
    (tmp_path / "secret.wav").write_bytes(b"private")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "song.wav").write_bytes(b"private")
    return root


def resolve(root: Path, text: str, base: str = "") -> ResolvedPath:
    return StickPaths(root).resolve(text, base)


def refusal(root: Path, text: str, base: str = "") -> str:
    with pytest.raises(BadPath) as caught:
        resolve(root, text, base)
    return str(caught.value)


def test_a_plain_relative_path_resolves_to_the_real_file(root: Path) -> None:
    resolved = resolve(root, "ballads/Hallelujah.wav")
    assert resolved.rel_path == "ballads/Hallelujah.wav"
    assert resolved.real_path == (root / "ballads" / "Hallelujah.wav").resolve()


def test_paths_are_relative_to_the_base_folder_and_backslashes_work(root: Path) -> None:
    assert resolve(root, "Hallelujah.wav", "ballads").rel_path == \
        "ballads/Hallelujah.wav"
    assert resolve(root, "..\\Wonderwall.mp3", "ballads").rel_path == "Wonderwall.mp3"
    assert resolve(root, "./ballads//Hallelujah.wav").rel_path == \
        "ballads/Hallelujah.wav"


def test_dot_dot_that_stays_inside_is_fine(root: Path) -> None:
    assert resolve(root, "ballads/../Wonderwall.mp3").rel_path == "Wonderwall.mp3"


@pytest.mark.parametrize("text", ["../secret.wav", "ballads/../../secret.wav", ".."])
def test_dot_dot_out_of_the_stick_is_refused(root: Path, text: str) -> None:
    assert refusal(root, text).startswith("outside the stick")


@pytest.mark.parametrize("text", ["/etc/passwd", "\\Windows\\win.ini", "C:\\Music\\a.mp3",
                                  "c:/a.mp3", "file:///etc/passwd", "file://nas/share/x.wav"])
def test_absolute_paths_that_match_nothing_on_the_stick_are_missing(root: Path,
                                                                    text: str) -> None:
    with pytest.raises(MissingFile, match=r"^no file "):
        resolve(root, text)


def test_an_absolute_path_never_reads_the_computer_s_own_file(root: Path,
                                                              tmp_path: Path) -> None:
    assert refusal(root, str(tmp_path / "secret.wav")).startswith("no file")
    assert refusal(root, f"file://{tmp_path}/outside/song.wav").startswith("no file")


@pytest.mark.parametrize("text", ["http://example.com/a.mp3", "smb://nas/song.wav",
                                  "ftp://x/Wonderwall.mp3"])
def test_urls_are_refused(root: Path, text: str) -> None:
    assert refusal(root, text).startswith("not a file on the stick")


def test_a_symlinked_file_pointing_outside_is_refused(root: Path, tmp_path: Path) -> None:
    os.symlink(tmp_path / "secret.wav", root / "innocent.wav")
    assert refusal(root, "innocent.wav") == 'link out of the stick: "innocent.wav"'


def test_a_relative_symlink_climbing_out_is_refused(root: Path) -> None:
    os.symlink("../secret.wav", root / "sneaky.wav")
    assert refusal(root, "sneaky.wav").startswith("link out of the stick")


def test_a_symlinked_folder_pointing_outside_is_refused(root: Path, tmp_path: Path) -> None:
    os.symlink(tmp_path / "outside", root / "more")
    assert refusal(root, "more/song.wav").startswith("link out of the stick")


def test_a_symlink_that_leaves_and_comes_back_is_refused(root: Path, tmp_path: Path) -> None:
    os.symlink(tmp_path, root / "up")
    assert refusal(root, "up/stick/Wonderwall.mp3").startswith("link out of the stick")


def test_a_symlink_inside_the_stick_resolves_to_its_target(root: Path) -> None:
    os.symlink("ballads/Hallelujah.wav", root / "encore.wav")
    resolved = resolve(root, "encore.wav")
    assert resolved.rel_path == "encore.wav"
    assert resolved.real_path == (root / "ballads" / "Hallelujah.wav").resolve()


def test_a_symlink_loop_is_refused_not_hung_on(root: Path) -> None:
    os.symlink("b.wav", root / "a.wav")
    os.symlink("a.wav", root / "b.wav")
    assert refusal(root, "a.wav").startswith("cannot read")


def test_a_fifo_is_refused(root: Path) -> None:
    os.mkfifo(root / "pipe.wav")
    assert refusal(root, "pipe.wav") == 'not a file: "pipe.wav"'


def test_a_device_is_refused(root: Path) -> None:
    os.symlink("/dev/null", root / "null.wav")
    assert "null.wav" in refusal(root, "null.wav")


def test_a_folder_is_refused(root: Path) -> None:
    assert refusal(root, "ballads") == 'not a file: "ballads"'


def test_a_missing_file_is_a_missing_file(root: Path) -> None:
    with pytest.raises(MissingFile, match=r'no file "Wondrwall\.mp3"'):
        resolve(root, "Wondrwall.mp3")
    with pytest.raises(MissingFile):
        resolve(root, "Wonderwall.mp3/inside.wav")


def test_a_nul_in_the_name_is_refused(root: Path) -> None:
    assert refusal(root, "Wonder\0wall.mp3").startswith("bad file name")


def test_a_root_that_is_itself_a_symlink_works(root: Path, tmp_path: Path) -> None:
    os.symlink(root, tmp_path / "mount")
    resolved = resolve(tmp_path / "mount", "Wonderwall.mp3")
    assert resolved.real_path == (root / "Wonderwall.mp3").resolve()


def test_stick_file_refuses_parts_that_are_not_plain_names(root: Path) -> None:
    with pytest.raises(BadPath):
        stick_file(root, ["ballads", "..", "..", "secret.wav"])


def test_names_are_made_printable() -> None:
    undecodable = os.fsdecode(b"caf\xe9.wav")
    assert printable(undecodable) == "caf?.wav"
    assert printable("two\nlines\x1b[2J") == "two?lines?[2J"
    assert printable("Café ♪") == "Café ♪"


def test_long_paths_are_shortened_keeping_the_file_name() -> None:
    shown = quote("a/very/long/folder/path/that/goes/on/and/on/Hallelujah.wav", limit=24)
    assert shown == '"…n/and/on/Hallelujah.wav"'
    assert len(shown) == 24 + 2
