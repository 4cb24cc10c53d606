"""Songs are found the way the musician named them: any letter case or Unicode form, a
playlist's absolute paths from another computer, a name without its extension."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest
from sticks import Stick

from stagebox.media import safepath
from stagebox.media.model import Setlist
from stagebox.media.safepath import BadPath, MissingFile, StickPaths
from stagebox.media.scan import ALL_SONGS, AUDIO_EXTENSIONS, load_setlist


@pytest.fixture
def stick(tmp_path: Path) -> Stick:
    return Stick(tmp_path / "STICK")


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every folder the resolver lists from now on, in order."""
    folders: list[str] = []
    real_scandir = os.scandir

    def scandir(path):
        folders.append(os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(safepath.os, "scandir", scandir)
    return folders


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def from_setlist(stick: Stick) -> Setlist:
    """The stick's default setlist, checked to be its setlist file, not "All songs" (which
    would list the same files, had no line matched)."""
    setlist = stick.scan().default
    assert setlist.name != ALL_SONGS
    return setlist


def rel_paths(setlist: Setlist) -> list[str]:
    return [song.rel_path for song in setlist.songs]


# --- letter case and Unicode normalization ---------------------------------------------


def test_a_windows_setlist_finds_the_name_a_mac_wrote_decomposed(stick: Stick) -> None:
    stick.songs(nfd("Café.flac"), nfd("Señor/Niño.wav"))
    stick.text("setlist.txt", "Café.flac\r\nSeñor\\Niño.wav\r\n", encoding="cp1252")
    setlist = from_setlist(stick)
    assert rel_paths(setlist) == [nfd("Café.flac"), nfd("Señor/Niño.wav")]
    assert setlist.warnings == ()
    assert setlist.songs[0].path == (stick.root / nfd("Café.flac")).resolve()


def test_a_mac_setlist_finds_the_name_windows_wrote_composed(stick: Stick) -> None:
    stick.songs("Café.flac")
    stick.text("setlist.txt", nfd("Café.flac\n"))
    assert rel_paths(from_setlist(stick)) == ["Café.flac"]


def test_letter_case_does_not_matter_in_files_or_folders(stick: Stick) -> None:
    stick.songs("Wonderwall.mp3", "Ballads/Hallelujah.wav")
    stick.text("setlist.txt", "wonderwall.MP3\nBALLADS/hallelujah.WAV | gain=-2\n")
    setlist = from_setlist(stick)
    assert rel_paths(setlist) == ["Wonderwall.mp3", "Ballads/Hallelujah.wav"]
    assert [song.gain_db for song in setlist.songs] == [0.0, -2.0]
    assert setlist.warnings == ()


def test_of_two_names_differing_only_in_case_the_exact_one_wins_and_is_named(
        stick: Stick) -> None:
    stick.songs("Intro.wav", "intro.wav", "INTRO.wav")
    stick.text("setlist.txt", "intro.wav\nIntro.WAV\n")
    setlist = from_setlist(stick)
    assert rel_paths(setlist) == ["intro.wav", "INTRO.wav"]
    assert setlist.warnings == (
        'setlist.txt:1: 3 files named like "intro.wav"; took the exact one',
        'setlist.txt:2: 3 files named like "Intro.WAV"; took "INTRO.wav"')


def test_of_two_names_differing_only_in_normalization_the_exact_one_wins(
        stick: Stick) -> None:
    stick.songs("Café.wav", nfd("Café.wav"))
    stick.text("setlist.txt", nfd("Café.wav\n"))
    setlist = from_setlist(stick)
    assert rel_paths(setlist) == [nfd("Café.wav")]
    assert setlist.warnings == (f'setlist.txt:1: 2 files named like "{nfd("Café.wav")}"; '
                                'took the exact one',)


def test_of_two_folders_named_alike_the_one_holding_the_song_is_taken(stick: Stick) -> None:
    stick.songs(nfd("Música/Canción.wav"), "Música/Intro.wav", "música/Outro.wav")
    stick.text("setlist.txt", "Música/Canción.wav\nMÚSICA/intro.wav\nMúsica/Outro.wav\n")
    setlist = from_setlist(stick)
    assert setlist.name == "setlist.txt"
    assert rel_paths(setlist) == [nfd("Música/Canción.wav"), "Música/Intro.wav",
                                  "música/Outro.wav"]
    assert setlist.warnings == ()


def test_many_folders_named_alike_are_not_all_searched(stick: Stick, listed: list[str]) -> None:
    variants = ["".join(letter.upper() if bit == "1" else letter
                        for letter, bit in zip("abcd", f"{n:04b}", strict=True))
                for n in range(16)]
    for outer in variants:
        for inner in variants:
            (stick.root / outer / inner).mkdir(parents=True)
    with pytest.raises(MissingFile):
        StickPaths(stick.root).resolve("ABCD/abcd/abcd/song.wav")
    assert len(listed) < 100, "not all 273 folders"


def test_a_name_differing_in_case_from_a_link_out_is_still_refused(stick: Stick,
                                                                  tmp_path: Path) -> None:
    (tmp_path / "secret.wav").write_bytes(b"private")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "song.wav").write_bytes(b"private")
    stick.songs("A.wav")
    stick.link("Leak.wav", tmp_path / "secret.wav")
    stick.link("More", tmp_path / "home")
    stick.text("setlist.txt", "leak.WAV\nmore/SONG.wav\nA.wav\n")
    setlist = from_setlist(stick)
    assert rel_paths(setlist) == ["A.wav"]
    assert setlist.warnings == ('setlist.txt:1: link out of the stick: "leak.WAV"',
                                'setlist.txt:2: link out of the stick: "more/SONG.wav"')


def test_a_folder_linked_out_of_the_stick_is_never_listed(stick: Stick, tmp_path: Path,
                                                          listed: list[str]) -> None:
    (tmp_path / "home").mkdir()
    stick.link("More", tmp_path / "home")
    with pytest.raises(BadPath, match="link out of the stick"):
        StickPaths(stick.root).resolve("more/song.wav")
    assert all(Path(path).resolve().is_relative_to(stick.root.resolve()) for path in listed)


def test_a_long_setlist_lists_each_folder_once(stick: Stick, listed: list[str]) -> None:
    stick.songs("a/One.wav", "a/b/Two.wav", "Three.wav")
    lines = ["a/one.wav", "A/B/two.WAV", "three.wav", "gone.wav", "a/gone/x.wav"] * 2000
    stick.text("setlist.txt", "\n".join(lines))
    setlist = from_setlist(stick)
    assert len(setlist.songs) == 6000
    folders = [Path(path).relative_to(stick.root.resolve()).as_posix() for path in listed]
    assert (folders.count("a"), folders.count("a/b")) == (1, 1)
    assert len(folders) < 10, "the root: by the scan itself, and once to match names"


# --- a name without its extension -----------------------------------------------------


def test_a_line_without_an_extension_finds_the_song(stick: Stick) -> None:
    stick.songs("01 Opening Jam.flac", "ballads/Hallelujah.wav", "Song feat. X.mp3")
    stick.text("ballads/Hallelujah.txt", "lyrics")
    stick.text("setlist.txt", "01 opening jam\nballads/Hallelujah | then=stop\nSong feat. X\n")
    setlist = from_setlist(stick)
    assert rel_paths(setlist) == ["01 Opening Jam.flac", "ballads/Hallelujah.wav",
                                  "Song feat. X.mp3"]
    assert setlist.songs[1].then == "stop"
    assert setlist.warnings == ()


def test_a_stem_shared_by_several_songs_takes_one_and_says_which(stick: Stick) -> None:
    stick.songs("Wonderwall.wav", "Wonderwall.mp3", "Wonderwall.flac")
    stick.text("setlist.txt", "Wonderwall\n")
    setlist = from_setlist(stick)
    assert rel_paths(setlist) == ["Wonderwall.flac"]
    assert setlist.warnings == ('setlist.txt:1: 3 files "Wonderwall.*"; '
                                'took "Wonderwall.flac"',)


def test_a_stem_matching_no_song_is_a_missing_file(stick: Stick) -> None:
    stick.songs("A.wav")
    stick.text("notes.txt", "x")
    stick.text("setlist.txt", "notes\nA\n")
    setlist = from_setlist(stick)
    assert rel_paths(setlist) == ["A.wav"]
    assert setlist.warnings == ('setlist.txt:1: no file "notes"',)


# --- paths from another computer -------------------------------------------------------


def test_a_windows_media_player_m3u_in_ansi_with_crlf(stick: Stick) -> None:
    stick.songs("Music/Band/01 Song.mp3", "Music/Band/02 Café.mp3", "Hallelujah.wav")
    playlist = ("#EXTM3U\r\n#EXTINF:200,Band - Song\r\nE:\\Music\\Band\\01 Song.mp3\r\n"
                "E:\\Music\\Band\\02 Café.mp3\r\n"
                "C:\\Users\\me\\Music\\iTunes\\Hallelujah.wav\r\n"
                "E:\\Music\\Band\\03 Missing.mp3\r\n")
    stick.text("Gig.m3u", playlist, encoding="cp1252")
    setlist = from_setlist(stick)
    assert setlist.name == "Gig.m3u"
    assert rel_paths(setlist) == ["Music/Band/01 Song.mp3", "Music/Band/02 Café.mp3",
                                  "Hallelujah.wav"]
    assert setlist.songs[0].title == "Band - Song"
    assert setlist.warnings == ('Gig.m3u:6: no file "E:\\Music\\Band\\03 Missing.mp3"',)


@pytest.mark.parametrize("line", [
    "/Volumes/STICK/Music/Band/01 Song.mp3",
    "/media/me/STICK/Music/Band/01 Song.mp3",
    "/Users/me/Music/iTunes/iTunes Media/Music/Band/01 Song.mp3",
    "file:///E:/Music/Band/01%20Song.mp3",
    "file:///Users/me/Music/Band/01%20Song.mp3",
    "file://localhost/media/me/STICK/Music/Band/01%20Song.mp3",
    "\\\\nas\\share\\Music\\Band\\01 Song.mp3",
    "../../Music/Band/01 Song.mp3",
])
def test_absolute_paths_and_file_urls_find_the_song_by_their_end(stick: Stick,
                                                                 line: str) -> None:
    stick.songs("Music/Band/01 Song.mp3")
    stick.text("lists/gig.m3u8", line + "\n")
    setlist = load_setlist(stick.root, Path("lists/gig.m3u8"))
    assert rel_paths(setlist) == ["Music/Band/01 Song.mp3"]
    assert setlist.warnings == ()


def test_a_percent_encoded_mac_url_finds_a_decomposed_name(stick: Stick) -> None:
    stick.songs(nfd("Música/Canción.m4a"))
    stick.text("gig.m3u8", "file:///Users/me/M%C3%BAsica/Canci%C3%B3n.m4a\n")
    assert rel_paths(from_setlist(stick)) == [nfd("Música/Canción.m4a")]


def test_the_longest_matching_end_of_the_path_wins(stick: Stick) -> None:
    stick.songs("Band/01 Song.mp3", "Music/Band/01 Song.mp3", "01 Song.mp3")
    stick.text("setlist.txt", "E:\\Music\\Band\\01 Song.mp3\n/x/Band/01 song.MP3\n"
                              "/y/z/01 Song.mp3\n")
    assert rel_paths(from_setlist(stick)) == ["Music/Band/01 Song.mp3", "Band/01 Song.mp3",
                                               "01 Song.mp3"]


def test_a_pasted_absolute_path_in_setlist_txt_works(stick: Stick) -> None:
    stick.songs("Set 1/Wonderwall.mp3")
    stick.text("setlist.txt", '"C:\\Users\\me\\Desktop\\Gig\\Set 1\\Wonderwall.mp3" | gain=-1\n')
    setlist = from_setlist(stick)
    assert rel_paths(setlist) == ["Set 1/Wonderwall.mp3"]
    assert setlist.songs[0].gain_db == -1.0


def test_paths_from_another_computer_never_leave_the_stick(stick: Stick,
                                                           tmp_path: Path) -> None:
    (tmp_path / "secret.wav").write_bytes(b"private")
    stick.songs("A.wav")
    stick.text("setlist.txt", f"{tmp_path}/secret.wav\nfile://{tmp_path}/secret.wav\n"
                              "../secret.wav\n/../../secret.wav\nA.wav\n")
    setlist = from_setlist(stick)
    assert rel_paths(setlist) == ["A.wav"]
    assert setlist.warnings == (
        f'setlist.txt:1: no file "…{str(tmp_path / "secret.wav")[-39:]}"',
        f'setlist.txt:2: no file "…{("file://" + str(tmp_path / "secret.wav"))[-39:]}"',
        'setlist.txt:3: outside the stick: "../secret.wav"',
        'setlist.txt:4: no file "/../../secret.wav"')


def test_other_urls_are_still_refused(stick: Stick) -> None:
    with pytest.raises(BadPath, match="not a file on the stick"):
        StickPaths(stick.root).resolve("https://example.com/E:/a.mp3")


def test_a_resolver_without_audio_extensions_guesses_none(stick: Stick) -> None:
    stick.songs("A.wav")
    with pytest.raises(MissingFile):
        StickPaths(stick.root).resolve("A")
    assert StickPaths(stick.root, AUDIO_EXTENSIONS).resolve("a").rel_path == "A.wav"
