"""Scanning a stick: which setlist plays, in which order, with which titles and warnings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
from sticks import Stick

from stagebox.media import scan
from stagebox.media.model import Setlist
from stagebox.media.scan import StickGone, load_setlist, scan_stick
from stagebox.media.scan_process import scan_with_cache
from stagebox.media.tags import TitleCache, read_title


@pytest.fixture
def stick(tmp_path: Path) -> Stick:
    return Stick(tmp_path / "STICK")


def rel_paths(setlist: Setlist) -> list[str]:
    return [song.rel_path for song in setlist.songs]


def titles(setlist: Setlist) -> list[str]:
    return [song.title for song in setlist.songs]


# --- which setlist is the default -------------------------------------------------------


def test_setlist_txt_wins_over_playlists_and_folders(stick: Stick) -> None:
    stick.songs("A.wav", "B.wav", "C.wav")
    stick.text("setlist.txt", "C.wav\nA.wav\n")
    stick.text("gig.m3u", "B.wav\n")
    library = stick.scan()
    assert [s.name for s in library.setlists] == ["setlist.txt"]
    assert rel_paths(library.default) == ["C.wav", "A.wav"]


def test_the_first_playlist_by_name_wins_over_folders(stick: Stick) -> None:
    stick.songs("A.wav", "B.wav", "C.wav")
    stick.text("Zed.m3u8", "A.wav\n")
    stick.text("10 gig.m3u", "B.wav\n")
    stick.text("2 gig.m3u", "C.wav\nB.wav\n")
    library = stick.scan()
    assert library.default.name == "2 gig.m3u"
    assert rel_paths(library.default) == ["C.wav", "B.wav"]


def test_setlist_file_names_match_in_any_case(stick: Stick) -> None:
    stick.songs("A.wav", "B.wav")
    stick.text("SETLIST.TXT", "B.wav\n")
    assert rel_paths(stick.scan().default) == ["B.wav"]


def test_without_a_setlist_every_song_plays_in_natural_order(stick: Stick) -> None:
    stick.songs("10 x.wav", "2 x.wav", "b.flac", "A.mp3", "1 x.ogg")
    library = stick.scan()
    assert library.default.name == "All songs"
    assert rel_paths(library.default) == ["1 x.ogg", "2 x.wav", "10 x.wav", "A.mp3", "b.flac"]
    assert library.warnings == ()


def test_nested_folders_sort_with_their_paths(stick: Stick) -> None:
    stick.songs("Set 2/02 b.wav", "Set 2/01 a.wav", "Set 10/01 z.wav", "intro.wav",
                "Set 2/encores/x.wav", "Set 1.wav")
    assert rel_paths(stick.scan().default) == [
        "intro.wav", "Set 1.wav", "Set 2/01 a.wav", "Set 2/02 b.wav", "Set 2/encores/x.wav",
        "Set 10/01 z.wav"]


def test_every_audio_extension_is_found_in_any_case(stick: Stick) -> None:
    names = ["a.wav", "b.WAVE", "c.flac", "d.ogg", "e.oga", "f.Mp3", "g.aif", "h.AIFF", "i.aifc"]
    stick.songs(*names)
    stick.text("notes.txt", "not a song")
    stick.text("cover.jpg", "not a song")
    assert rel_paths(stick.scan().default) == names


def test_hidden_and_system_files_are_ignored(stick: Stick) -> None:
    stick.songs("Song.mp3", "._Song.mp3", ".hidden.wav", ".Trashes/501/old.wav",
                "System Volume Information/x.wav", "$RECYCLE.BIN/S-1-5/deleted.wav",
                ".Spotlight-V100/x.flac")
    stick.text("._gig.m3u", "._Song.mp3\n")
    library = stick.scan()
    assert library.default.name == "All songs"
    assert rel_paths(library.default) == ["Song.mp3"]


def test_an_empty_stick_has_an_empty_default_and_says_so(stick: Stick) -> None:
    stick.text("readme.txt", "hello")
    library = stick.scan()
    assert library.default.name == "All songs"
    assert library.default.songs == ()
    assert library.warnings == ("No audio files on the stick",)


# --- setlist.txt on the stick -----------------------------------------------------------


def test_setlist_options_reach_the_songs(stick: Stick) -> None:
    stick.songs("01 Opening Jam.flac", "Wonderwall.mp3", "ballads/Hallelujah.wav")
    stick.text("setlist.txt", "01 Opening Jam.flac\nWonderwall.mp3 | gain=-1.5dB\n"
                              "ballads/Hallelujah.wav | then=stop\n")
    songs = stick.scan().default.songs
    assert [(s.gain_db, s.then) for s in songs] == [(0.0, None), (-1.5, None), (0.0, "stop")]
    assert songs[2].path == (stick.root / "ballads" / "Hallelujah.wav").resolve()


def test_a_guide_track_is_found_as_its_song_is_and_a_bad_one_left_out(
        stick: Stick, tmp_path: Path) -> None:
    stick.songs("A.wav", "B.wav", "C.wav", "D.wav", "E.wav", "guides/Verse Cues.wav",
                "setlists/local.wav")
    stick.text("notes.txt", "hello")
    (tmp_path / "outside.wav").write_bytes((stick.root / "A.wav").read_bytes())
    stick.link("guides/out.wav", tmp_path / "outside.wav")
    stick.text("setlists/gig.txt",
               'A.wav | cue="guides/verse cues.wav"\nB.wav | cue=local\n'
               "C.wav | cue=gone.wav\nD.wav | cue=notes.txt\nE.wav | cue=guides/out.wav\n")
    (setlist,) = [s for s in stick.scan().setlists if s.name == "setlists/gig.txt"]
    root = stick.root.resolve()
    assert [song.cue for song in setlist.songs] == [root / "guides" / "Verse Cues.wav",
                                                    root / "setlists" / "local.wav",
                                                    None, None, None]
    assert len(setlist.songs) == 5, "every song plays, with or without its guide"
    assert setlist.warnings[:2] == (
        'gig.txt:3: cue: no file "gone.wav"; the song plays without its guide',
        'gig.txt:4: cue: can\'t play "notes.txt"; the song plays without its guide')
    (link,) = setlist.warnings[2:]
    assert link.startswith("gig.txt:5: cue: link out of the stick: ")
    assert link.endswith("; the song plays without its guide")


def test_all_songs_leaves_out_the_guides_setlists_name(stick: Stick) -> None:
    stick.songs("A.wav", "B.wav", "Guides/Verse Cues.wav", "guides/count.wav")
    stick.text("setlists/gig.txt", 'A.wav | cue="guides/verse cues.wav"\nB.wav\n'
                                   "guides/count.wav\n")
    all_songs, gig = stick.scan().setlists
    assert all_songs.name == "All songs"
    assert rel_paths(all_songs) == ["A.wav", "B.wav", "guides/count.wav"], \
        "a guide is left out; a file a setlist also plays as a song stays"
    assert gig.songs[0].cue == (stick.root / "Guides" / "Verse Cues.wav").resolve()


def test_a_missing_file_is_a_short_warning_and_the_rest_loads(stick: Stick) -> None:
    stick.songs("A.wav", "Wonderwall.mp3", "C.wav")
    stick.text("setlist.txt", "# gig\nA.wav\n\nWondrwall.mp3\nC.wav\n")
    setlist = stick.scan().default
    assert rel_paths(setlist) == ["A.wav", "C.wav"]
    assert setlist.warnings == ('setlist.txt:4: no file "Wondrwall.mp3"',)


def test_a_song_with_a_bad_option_still_plays(stick: Stick) -> None:
    stick.songs("A.wav", "B.wav")
    stick.text("setlist.txt", "A.wav | gain=-1,5dB\nB.wav | volume=3 then=stop\n")
    setlist = stick.scan().default
    assert rel_paths(setlist) == ["A.wav", "B.wav"]
    assert [(s.gain_db, s.then) for s in setlist.songs] == [(0.0, None), (0.0, "stop")]
    assert setlist.warnings == ('setlist.txt:1: gain "-1,5dB" is not a number of dB',
                                'setlist.txt:2: unknown option "volume"')


def test_warnings_come_in_line_order(stick: Stick) -> None:
    stick.songs("A.wav")
    stick.text("setlist.txt", "gone.wav\nA.wav | gain=loud\n")
    assert stick.scan().default.warnings == ('setlist.txt:1: no file "gone.wav"',
                                             'setlist.txt:2: gain "loud" is not a number of dB')


def test_unsafe_setlist_paths_are_warnings(stick: Stick, tmp_path: Path) -> None:
    stick.songs("A.wav")
    (tmp_path / "secret.wav").write_bytes(b"private")
    os.mkfifo(stick.root / "pipe.wav")
    stick.text("setlist.txt", "../secret.wav\n/etc/passwd\npipe.wav\nA.wav\n")
    setlist = stick.scan().default
    assert rel_paths(setlist) == ["A.wav"]
    assert setlist.warnings == ('setlist.txt:1: outside the stick: "../secret.wav"',
                                'setlist.txt:2: no file "/etc/passwd"',
                                'setlist.txt:3: not a file: "pipe.wav"')


def test_a_windows_setlist_loads(stick: Stick) -> None:
    stick.songs("Café.wav", "ballads/Hallelujah.wav")
    stick.text("setlist.txt", "Café.wav\r\nballads\\Hallelujah.wav | then=stop\r\n",
               encoding="cp1252")
    setlist = stick.scan().default
    assert rel_paths(setlist) == ["Café.wav", "ballads/Hallelujah.wav"]
    assert setlist.warnings == ()


def test_many_problems_are_counted_not_all_shown(stick: Stick) -> None:
    stick.songs("A.wav")
    stick.text("setlist.txt", "".join(f"missing {n}.wav\n" for n in range(30)) + "A.wav\n")
    setlist = stick.scan().default
    assert rel_paths(setlist) == ["A.wav"]
    assert len(setlist.warnings) == scan.MAX_WARNINGS
    assert setlist.warnings[-1] == "... and 11 more problems"


def test_the_same_song_may_play_twice(stick: Stick) -> None:
    stick.songs("A.wav", "B.wav")
    stick.text("setlist.txt", "A.wav\nB.wav\nA.wav | gain=-6\n")
    assert [s.gain_db for s in stick.scan().default.songs] == [0.0, 0.0, -6.0]


# --- M3U -----------------------------------------------------------------------------


def test_m3u_paths_urls_and_titles(stick: Stick) -> None:
    stick.audio("music/A.flac", title="Tagged A")
    stick.audio("music/B.flac", title="Tagged B")
    stick.text("lists/gig.m3u", "#EXTM3U\n#EXTINF:200,Playlist A\n..\\music\\A.flac\n"
                                "http://radio.example/live.mp3\nfile:///etc/passwd\n"
                                "../music/B.flac\n")
    setlist = load_setlist(stick.root, Path("lists/gig.m3u"))
    assert setlist.name == "lists/gig.m3u"
    assert rel_paths(setlist) == ["music/A.flac", "music/B.flac"]
    assert titles(setlist) == ["Playlist A", "Tagged B"]
    assert setlist.warnings == ('gig.m3u:4: not a file on the stick: '
                                '"http://radio.example/live.mp3"',
                                'gig.m3u:5: no file "file:///etc/passwd"')


# --- several setlists -----------------------------------------------------------------


def test_setlists_folder_gives_extra_setlists_in_natural_order(stick: Stick) -> None:
    stick.songs("A.wav", "B.wav", "setlists/Encore.wav")
    stick.text("setlist.txt", "A.wav\nB.wav\n")
    stick.text("setlists/10 late.txt", "B.wav\n")
    stick.text("setlists/2 acoustic.txt", "Encore.wav\nA.wav\n")
    stick.text("setlists/._2 acoustic.txt", "junk")
    stick.text("setlists/readme.md", "not a setlist")
    library = stick.scan()
    assert [s.name for s in library.setlists] == [
        "setlist.txt", "setlists/2 acoustic.txt", "setlists/10 late.txt"]
    acoustic = library.setlists[1]
    assert rel_paths(acoustic) == ["setlists/Encore.wav", "A.wav"]
    assert acoustic.warnings == ()


def test_without_a_default_setlist_all_songs_comes_first(stick: Stick) -> None:
    stick.songs("A.wav", "B.wav")
    stick.text("setlists/short.txt", "B.wav\n")
    library = stick.scan()
    assert [s.name for s in library.setlists] == ["All songs", "setlists/short.txt"]
    assert rel_paths(library.setlists[1]) == ["B.wav"]


def test_extra_setlist_warnings_stay_with_their_setlist(stick: Stick) -> None:
    stick.songs("A.wav")
    stick.text("setlists/bad.txt", "nope.wav\n")
    library = stick.scan()
    assert library.warnings == ()
    assert library.setlists[1].warnings == ("setlists/bad.txt: its one line matches no file",
                                            'bad.txt:1: no file "nope.wav"')


# --- titles ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.flac", "a.ogg", "a.mp3", "a.wav", "a.aiff"])
def test_titles_come_from_tags(stick: Stick, name: str) -> None:
    stick.audio(name, title="Hallelujah (live)")
    assert titles(stick.scan().default) == ["Hallelujah (live)"]


def test_a_song_named_for_another_format_still_has_its_title(stick: Stick) -> None:
    flac = stick.audio("a.flac", title="Hallelujah (live)")
    flac.rename(flac.with_suffix(".mp3"))
    assert titles(stick.scan().default) == ["Hallelujah (live)"]


def test_untagged_songs_are_titled_by_file_name(stick: Stick) -> None:
    stick.songs("ballads/01 Hallelujah.flac")
    assert titles(stick.scan().default) == ["01 Hallelujah"]


def test_a_corrupt_song_is_listed_and_titled_by_its_name(stick: Stick) -> None:
    stick.junk("Broken Song.mp3")
    stick.junk("Broken.flac")
    stick.audio("Good.flac", title="Good one")
    assert titles(stick.scan().default) == ["Broken Song", "Broken", "Good one"]


def test_an_undecodable_file_name_is_listed_printably(stick: Stick) -> None:
    written = stick.audio("written.wav")
    written.rename(stick.root / os.fsdecode(b"Caf\xe9.wav"))
    song = stick.scan().default.songs[0]
    assert song.rel_path == "Caf?.wav"
    assert song.title == "Caf?"
    assert song.path.exists()


# --- progress -------------------------------------------------------------------------


def test_progress_counts_each_distinct_file_once(stick: Stick) -> None:
    stick.songs("A.wav", "B.wav", "C.wav")
    stick.text("setlist.txt", "A.wav\nB.wav\nA.wav\n")
    stick.text("setlists/other.txt", "B.wav\nC.wav\n")
    calls: list[tuple[int, int]] = []
    stick.scan(progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_progress_on_an_empty_stick(stick: Stick) -> None:
    calls: list[tuple[int, int]] = []
    stick.scan(progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 0)]


# --- a hostile or failing stick --------------------------------------------------------


def test_the_walk_does_not_follow_folder_symlinks(stick: Stick, tmp_path: Path) -> None:
    (tmp_path / "home" / "music").mkdir(parents=True)
    (tmp_path / "home" / "music" / "private.wav").write_bytes(b"RIFF")
    stick.songs("A.wav", "ballads/B.wav")
    stick.link("more", tmp_path / "home")
    stick.link("again", "ballads")
    stick.link("loop", ".")
    assert rel_paths(stick.scan().default) == ["A.wav", "ballads/B.wav"]


def test_a_symlinked_song_is_listed_only_if_it_stays_inside(stick: Stick,
                                                            tmp_path: Path) -> None:
    (tmp_path / "secret.wav").write_bytes(b"private")
    stick.songs("ballads/B.wav")
    stick.link("encore.wav", "ballads/B.wav")
    stick.link("leak.wav", tmp_path / "secret.wav")
    library = stick.scan()
    assert rel_paths(library.default) == ["ballads/B.wav", "encore.wav"]
    assert library.default.songs[1].path == (stick.root / "ballads" / "B.wav").resolve()
    assert library.warnings == ('skipped link out of the stick: "leak.wav"',)


def test_a_fifo_named_like_a_song_is_skipped(stick: Stick) -> None:
    stick.songs("A.wav")
    os.mkfifo(stick.root / "pipe.wav")
    assert rel_paths(stick.scan().default) == ["A.wav"]


def test_a_setlist_that_links_out_is_ignored_with_a_warning(stick: Stick,
                                                            tmp_path: Path) -> None:
    (tmp_path / "passwd").write_text("root:x:0:0\n")
    stick.songs("A.wav")
    stick.link("setlist.txt", tmp_path / "passwd")
    library = stick.scan()
    assert library.default.name == "All songs"
    assert library.warnings == ('link out of the stick: "setlist.txt"',)


def test_folders_too_deep_are_skipped_with_a_warning(stick: Stick) -> None:
    stick.songs("1/2/3/4/5/6/7/8/deep.wav", "1/2/3/4/5/6/7/8/9/deeper.wav")
    library = stick.scan()
    assert rel_paths(library.default) == ["1/2/3/4/5/6/7/8/deep.wav"]
    assert library.warnings == ("Folders over 8 deep were skipped",)


def test_a_huge_stick_is_cut_short_with_a_warning(stick: Stick,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "MAX_SONGS", 3)
    for n in range(1, 6):
        stick.junk(f"{n}.mp3", size=16)
    library = stick.scan()
    assert rel_paths(library.default) == ["1.mp3", "2.mp3", "3.mp3"]
    assert library.warnings == ("Only the first 3 songs are listed",)


def test_an_unreadable_folder_is_a_warning(stick: Stick,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    stick.songs("A.wav", "locked/B.wav", "open/C.wav")
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(scan.os, "scandir", scandir)
    library = stick.scan()
    assert rel_paths(library.default) == ["A.wav", "open/C.wav"]
    assert library.warnings == ('cannot read folder "locked": Permission denied',)


def test_a_song_vanishing_during_the_scan_keeps_its_name(stick: Stick) -> None:
    stick.audio("A.flac", title="Tagged A")
    stick.audio("B.flac", title="Tagged B")

    def pull_b(done: int, total: int) -> None:
        if done == 0:
            (stick.root / "B.flac").unlink()

    assert titles(stick.scan(progress=pull_b).default) == ["Tagged A", "B"]


def test_a_stick_pulled_during_the_scan_is_gone(stick: Stick) -> None:
    stick.songs("A.wav", "B.wav")

    def pull_stick(done: int, total: int) -> None:
        if done > 0:
            return
        for path in stick.root.iterdir():
            path.unlink()
        stick.root.rmdir()

    with pytest.raises(StickGone):
        stick.scan(progress=pull_stick)


def test_a_missing_root_is_gone(tmp_path: Path) -> None:
    with pytest.raises(StickGone):
        scan_stick(tmp_path / "nothing")
    with pytest.raises(StickGone):
        load_setlist(tmp_path / "nothing", Path("setlist.txt"))


# --- the library ----------------------------------------------------------------------


def test_the_label_defaults_to_the_folder_name(stick: Stick) -> None:
    stick.songs("A.wav")
    assert stick.scan().label == "STICK"
    assert stick.scan(label="GIG 2024").label == "GIG 2024"
    assert stick.scan().root == stick.root


def test_load_setlist_takes_an_absolute_path_inside_the_stick(stick: Stick) -> None:
    stick.songs("A.wav", "B.wav")
    path = stick.text("setlists/gig.txt", "../B.wav | gain=-2\n")
    setlist = load_setlist(stick.root, path)
    assert setlist.name == "setlists/gig.txt"
    assert [(s.rel_path, s.gain_db) for s in setlist.songs] == [("B.wav", -2.0)]


def test_load_setlist_of_a_missing_file_is_a_warning(stick: Stick) -> None:
    setlist = load_setlist(stick.root, Path("setlists/none.txt"))
    assert setlist.songs == ()
    assert setlist.warnings == ('no file "setlists/none.txt"',)


def test_a_second_scan_takes_unchanged_titles_from_the_cache(tmp_path):

    root = tmp_path / "stick"
    root.mkdir()
    for name in ("a.wav", "b.wav"):
        soundfile.write(root / name, np.zeros(100, np.float32), 8000)
    reads: list[Path] = []

    def counting_read(path: Path) -> str | None:
        reads.append(path)
        return read_title(path)

    cache = TitleCache(read=counting_read)
    scan_stick(root, titles=cache)
    assert len(reads) == 2 and cache.changed
    again = TitleCache.from_json(cache.to_json(), read=counting_read)
    scan_stick(root, titles=again)
    assert len(reads) == 2 and not again.changed, "nothing read twice"
    soundfile.write(root / "b.wav", np.zeros(200, np.float32), 8000)
    (root / "a.wav").unlink()
    scan_stick(root, titles=again)
    assert [p.name for p in reads[2:]] == ["b.wav"] and again.changed


def test_a_stick_with_a_name_that_is_not_utf8_scans_and_keeps_its_title_cache(tmp_path):
    root = tmp_path / "stick"
    root.mkdir()
    # soundfile cannot open such a name itself: it is written, then renamed.
    soundfile.write(root / "cafe.wav", np.zeros(100, np.float32), 8000)
    (root / "cafe.wav").rename(root / os.fsdecode(b"caf\xe9.wav"))
    cache_path = tmp_path / "state" / "titles.json"
    library = scan_with_cache(root, "STICK", cache_path, lambda *_: None)
    assert [song.path.name for song in library.default.songs] == [os.fsdecode(b"caf\xe9.wav")]
    again = TitleCache.from_json(cache_path.read_text(encoding="utf-8"))
    assert again.to_json() == cache_path.read_text(encoding="utf-8")
    assert os.fsdecode(root / os.fsdecode(b"caf\xe9.wav")) in json.loads(again.to_json())


def test_a_broken_title_cache_is_an_empty_one():
    assert TitleCache.from_json("{not json").to_json() == "{}"
    assert TitleCache.from_json('{"x": [1, "2", "t"], "y": [1, 2, null]}').to_json() \
        == '{"y": [1, 2, null]}'
