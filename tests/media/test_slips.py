"""The common slips of a musician making a stick, each with a clear word, and music if any:
a setlist saved the wrong way or matching nothing, files the box cannot play."""

from __future__ import annotations

import zipfile
from pathlib import Path

import mutagen
import pytest
from sticks import Stick

from stagebox.media.model import Setlist
from stagebox.media.scan import ALL_SONGS, AUDIO_EXTENSIONS


@pytest.fixture
def stick(tmp_path: Path) -> Stick:
    return Stick(tmp_path / "STICK")


def rel_paths(setlist: Setlist) -> list[str]:
    return [song.rel_path for song in setlist.songs]


def word_document(path: Path, text: str) -> Path:
    """A .docx as Word writes it: a zip of XML."""
    with zipfile.ZipFile(path, "w") as document:
        document.writestr("word/document.xml", f"<w:document><w:t>{text}</w:t></w:document>")
    return path


# --- the setlist file ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["setlist.txt.txt", "Setlist.TXT.txt", "setlist"])
def test_a_setlist_with_a_doubled_or_missing_extension_is_the_setlist(stick: Stick,
                                                                      name: str) -> None:
    stick.songs("A.wav", "B.wav")
    stick.text(name, "B.wav\n")
    library = stick.scan()
    assert library.default.name == name
    assert rel_paths(library.default) == ["B.wav"]
    assert library.warnings == ()


def test_setlist_txt_wins_over_its_slips(stick: Stick) -> None:
    stick.songs("A.wav", "B.wav")
    stick.text("setlist.txt.txt", "A.wav\n")
    stick.text("setlist.txt", "B.wav\n")
    assert stick.scan().default.name == "setlist.txt"


@pytest.mark.parametrize("name", ["setlist.rtf", "Setlist.docx", "setlist.odt",
                                  "setlist.pages", "setlist.doc"])
def test_a_setlist_saved_by_a_word_processor_asks_for_plain_text(stick: Stick,
                                                                 name: str) -> None:
    stick.songs("A.wav", "B.wav")
    word_document(stick.root / name, "B.wav")
    library = stick.scan()
    assert library.default.name == ALL_SONGS
    assert rel_paths(library.default) == ["A.wav", "B.wav"]
    assert library.warnings == (f"{name}: save it as plain text (setlist.txt)",)


@pytest.mark.parametrize("content", [b"{\\rtf1\\ansi\\deff0 {\\fonttbl}B.wav\\par}",
                                     b"PK\x03\x04\x14\x00\x06\x00", b"\xd0\xcf\x11\xe0\xa1"])
def test_rich_text_named_setlist_txt_asks_for_plain_text(stick: Stick,
                                                         content: bytes) -> None:
    stick.songs("A.wav", "B.wav")
    (stick.root / "setlist.txt").write_bytes(content)
    library = stick.scan()
    assert library.default.name == ALL_SONGS
    assert library.warnings == ("setlist.txt: save it as plain text",)


def test_after_a_rich_text_setlist_the_playlist_comes_next(stick: Stick) -> None:
    stick.songs("A.wav", "B.wav")
    stick.text("setlist.txt", "{\\rtf1\\ansi A.wav\\par}")
    stick.text("gig.m3u", "B.wav\n")
    library = stick.scan()
    assert library.default.name == "gig.m3u"
    assert library.warnings == ("setlist.txt: save it as plain text",)


def test_a_word_document_among_the_extra_setlists_is_named(stick: Stick) -> None:
    stick.songs("A.wav")
    stick.text("setlists/acoustic.txt", "A.wav\n")
    word_document(stick.root / "setlists" / "electric.docx", "A.wav")
    library = stick.scan()
    assert [setlist.name for setlist in library.setlists] == [ALL_SONGS,
                                                              "setlists/acoustic.txt"]
    assert library.warnings == ("electric.docx: save it as plain text (.txt)",)


def test_a_setlist_matching_nothing_plays_all_songs_and_says_why(stick: Stick) -> None:
    stick.songs("Set/A.wav", "Set/B.wav")
    stick.text("setlist.txt", "Intro.wav\nSong 1.wav\nEncore.wav\n")
    library = stick.scan()
    assert library.default.name == ALL_SONGS
    assert rel_paths(library.default) == ["Set/A.wav", "Set/B.wav"]
    assert library.warnings == (
        "setlist.txt: none of its 3 lines matches a file; playing all 2 songs",
        'setlist.txt:1: no file "Intro.wav"', 'setlist.txt:2: no file "Song 1.wav"',
        'setlist.txt:3: no file "Encore.wav"')


def test_a_one_line_setlist_matching_nothing(stick: Stick) -> None:
    stick.songs("A.wav")
    stick.text("setlist.txt", "Intro.wav\n")
    assert stick.scan().warnings[0] == \
        "setlist.txt: its one line matches no file; playing all 1 song"


def test_an_empty_setlist_plays_all_songs(stick: Stick) -> None:
    stick.songs("A.wav")
    stick.text("setlist.txt", "# songs to come\n\n")
    library = stick.scan()
    assert rel_paths(library.default) == ["A.wav"]
    assert library.warnings == ("setlist.txt has no songs; playing all 1 song",)


def test_a_playlist_matching_nothing_plays_all_songs(stick: Stick) -> None:
    stick.songs("A.wav")
    stick.text("Old gig.m3u", "D:\\Other\\Song.mp3\n")
    library = stick.scan()
    assert library.default.name == ALL_SONGS
    assert library.warnings[0] == \
        "Old gig.m3u: its one line matches no file; playing all 1 song"


def test_an_extra_setlist_matching_nothing_says_so_first(stick: Stick) -> None:
    stick.songs("A.wav")
    stick.text("setlists/old tour.txt", "Intro.wav\nOutro.wav\n")
    stick.text("setlists/empty.txt", "")
    library = stick.scan()
    assert [setlist.warnings[0] for setlist in library.setlists[1:]] == [
        "setlists/empty.txt has no songs",
        "setlists/old tour.txt: none of its 2 lines matches a file"]


def test_a_setlist_matching_nothing_on_a_stick_with_no_songs(stick: Stick) -> None:
    stick.text("setlist.txt", "A.wav\n")
    library = stick.scan()
    assert library.default.songs == ()
    assert library.warnings == (
        "setlist.txt: its one line matches no file",
        'setlist.txt:1: no file "A.wav"', "No audio files on the stick")


# --- what the box plays, and what it cannot -------------------------------------------


def test_songs_from_phones_and_desktop_players_are_listed_with_their_titles(
        stick: Stick) -> None:
    stick.audio("01 Intro.m4a", title="Intro (iTunes)")
    stick.audio("02 Verse.wma")
    stick.audio("03 Memo.opus", title="Voice memo")
    wma = mutagen.File(stick.root / "02 Verse.wma")
    wma.tags["Title"] = "Verse (WMP)"
    wma.save()
    assert [song.title for song in stick.scan().default.songs] == [
        "Intro (iTunes)", "Verse (WMP)", "Voice memo"]


@pytest.mark.parametrize("extension", sorted(AUDIO_EXTENSIONS))
def test_every_playable_extension_is_listed_in_any_case(stick: Stick, extension: str) -> None:
    stick.junk(f"song{extension.upper()}", size=64)
    stick.junk(f"other{extension}", size=64)
    assert rel_paths(stick.scan().default) == [f"other{extension}", f"song{extension.upper()}"]


def test_files_the_box_cannot_play_are_counted_in_one_warning(stick: Stick) -> None:
    stick.songs("Wonderwall.mp3")
    stick.junk("iTunes/Old purchase.m4p")
    stick.junk("iTunes/Another.M4P")
    stick.junk("Click track.mid")
    library = stick.scan()
    assert rel_paths(library.default) == ["Wonderwall.mp3"]
    assert library.warnings == ("Can't play 3 files: 2 .m4p (copy-protected), 1 .mid",)


def test_a_stick_with_nothing_playable_says_what_it_found(stick: Stick) -> None:
    for name in ("a.m4p", "b.m4p", "c.m4p", "d.mid", "e.midi", "Track01.cda"):
        stick.junk(name)
    library = stick.scan()
    assert library.default.songs == ()
    assert library.warnings == (
        "No songs: found 3 .m4p (copy-protected), 1 .cda (CD shortcut), 1 .mid, ...",)


def test_a_setlist_line_naming_a_file_the_box_cannot_play_says_so(stick: Stick) -> None:
    stick.songs("A.wav")
    stick.junk("Hit.m4p")
    stick.text("setlist.txt", "Hit.m4p\nhit\nA.wav\n")
    setlist = stick.scan().default
    assert rel_paths(setlist) == ["A.wav"]
    assert setlist.warnings == ('setlist.txt:1: can\'t play "Hit.m4p" (copy-protected)',
                                'setlist.txt:2: no file "hit"')
