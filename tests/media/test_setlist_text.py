"""Reading setlist.txt and M3U text: entries, options, comments, encodings, warnings."""

from __future__ import annotations

import codecs
from pathlib import Path

from stagebox.media.model import Meter, Section
from stagebox.media.setlist import (
    SetlistEntry,
    decode_text,
    parse_m3u_text,
    parse_setlist_text,
)

EXAMPLE = """\
# one song per line, in playing order; '#' starts a comment
01 Opening Jam.flac
Wonderwall.mp3 | gain=-1.5dB
ballads/Hallelujah.wav | then=stop
"""


def test_the_documented_example() -> None:
    entries, warnings = parse_setlist_text(EXAMPLE, "setlist.txt")
    assert entries == [
        SetlistEntry(2, "01 Opening Jam.flac"),
        SetlistEntry(3, "Wonderwall.mp3", {"gain": -1.5}),
        SetlistEntry(4, "ballads/Hallelujah.wav", {"then": "stop"}),
    ]
    assert warnings == []


def test_several_options_spaces_and_case() -> None:
    entries, warnings = parse_setlist_text("  Intro.wav|GAIN=-3db   then=next  \n", "s.txt")
    assert entries == [SetlistEntry(1, "Intro.wav", {"gain": -3.0, "then": "next"})]
    assert warnings == []


def test_a_value_with_spaces_is_written_in_double_quotes() -> None:
    entries, warnings = parse_setlist_text(
        'Intro.wav | cue="guides/intro cues.wav" then=next\n', "s.txt")
    assert entries == [SetlistEntry(1, "Intro.wav", {"cue": Path("guides/intro cues.wav"),
                                                     "then": "next"})]
    assert warnings == []


def test_blank_lines_and_comment_lines_are_skipped() -> None:
    text = "\n   \n# a comment\n    # an indented comment\n\tA.wav\n"
    entries, warnings = parse_setlist_text(text, "setlist.txt")
    assert entries == [SetlistEntry(5, "A.wav")]
    assert warnings == []


def test_a_hash_inside_a_file_name_is_part_of_the_name() -> None:
    entries, _ = parse_setlist_text("Song #2.wav\nTrack#3.wav | gain=-1 # a bit hot\n", "s.txt")
    assert [entry.path for entry in entries] == ["Song #2.wav", "Track#3.wav"]
    assert entries[1].options == {"gain": -1.0}


def test_a_comment_after_the_bar_needs_no_options() -> None:
    entries, warnings = parse_setlist_text("Song.wav | # the slow one\n", "s.txt")
    assert entries == [SetlistEntry(1, "Song.wav")]
    assert warnings == []


def test_windows_copy_as_path_quotes_are_dropped() -> None:
    entries, _ = parse_setlist_text('"ballads\\Hallelujah.wav" | then=stop\n', "s.txt")
    assert entries[0].path == "ballads\\Hallelujah.wav"


def test_an_unknown_option_warns_and_keeps_the_song_and_its_other_options() -> None:
    entries, warnings = parse_setlist_text("A.wav\nB.wav | gian=-1 then=stop\n", "setlist.txt")
    assert entries[1] == SetlistEntry(2, "B.wav", {"then": "stop"})
    assert warnings == ['setlist.txt:2: unknown option "gian" (gain?)']


def test_a_bad_value_warns_and_keeps_the_song() -> None:
    entries, warnings = parse_setlist_text("A.wav | gain=+40dB\n", "setlist.txt")
    assert entries == [SetlistEntry(1, "A.wav")]
    assert warnings == ['setlist.txt:1: gain "+40dB" not in -60..+12 dB']


def test_junk_after_the_bar_warns_and_keeps_the_song() -> None:
    entries, warnings = parse_setlist_text("A.wav | loud =3\n", "setlist.txt")
    assert entries == [SetlistEntry(1, "A.wav")]
    assert warnings == ['setlist.txt:1: "loud" is not name=value',
                        'setlist.txt:1: "=3" is not name=value']


def test_an_option_given_twice_warns_and_the_last_counts() -> None:
    entries, warnings = parse_setlist_text("A.wav | gain=-1 gain=-2\n", "setlist.txt")
    assert entries[0].options == {"gain": -2.0}
    assert warnings == ['setlist.txt:1: "gain" given twice; the last counts']


def test_practice_options_on_a_line() -> None:
    entries, warnings = parse_setlist_text(
        "Solo.wav | key=+2 speed=80% loop=1:02-1:30 bpm=96 meter=3/4 count=2 click=on\n",
        "setlist.txt")
    assert entries == [SetlistEntry(1, "Solo.wav", {
        "key": 2, "speed": 0.8, "loop": Section(62.0, 90.0), "bpm": 96.0,
        "meter": Meter(3, 4), "count": 2, "click": True})]
    assert warnings == []


def test_a_count_in_or_click_without_a_tempo_warns() -> None:
    entries, warnings = parse_setlist_text("A.wav | count=1 click=on\n", "setlist.txt")
    assert entries == [SetlistEntry(1, "A.wav", {"count": 1, "click": True})]
    assert warnings == ["setlist.txt:1: count= and click= need bpm=; no click"]


def test_a_line_without_a_file_name_warns_and_the_rest_loads() -> None:
    entries, warnings = parse_setlist_text("| gain=-1\nB.wav\n", "setlist.txt")
    assert entries == [SetlistEntry(2, "B.wav")]
    assert warnings == ['setlist.txt:1: no file name in "| gain=-1"']


def test_warnings_are_short_even_for_a_huge_junk_line() -> None:
    _, warnings = parse_setlist_text("A.wav | " + "x" * 5000 + "\n", "setlist.txt")
    assert len(warnings) == 1
    assert len(warnings[0]) < 80


def test_crlf_line_endings() -> None:
    entries, _ = parse_setlist_text("A.wav\r\nB.wav | then=stop\r\n", "s.txt")
    assert entries == [SetlistEntry(1, "A.wav"), SetlistEntry(2, "B.wav", {"then": "stop"})]


def test_utf8_with_a_bom_from_notepad() -> None:
    text = decode_text(codecs.BOM_UTF8 + "Café.wav\r\n".encode())
    entries, _ = parse_setlist_text(text, "s.txt")
    assert entries == [SetlistEntry(1, "Café.wav")]


def test_windows_ansi_text_falls_back_from_utf8() -> None:
    assert decode_text("Café – “Live”.wav".encode("cp1252")) == "Café – “Live”.wav"
    assert decode_text("Café.wav".encode("latin-1")) == "Café.wav"


def test_bytes_even_cp1252_lacks_still_decode() -> None:
    assert decode_text(b"A\x81.wav") == "A\x81.wav"


def test_utf16_with_a_bom_from_notepad_unicode() -> None:
    assert decode_text("Café.wav\r\n".encode("utf-16")) == "Café.wav\r\n"


def test_m3u_paths_and_extinf_titles() -> None:
    text = ("#EXTM3U\n#EXTINF:215,Opening Jam\n01 Opening Jam.flac\n\n"
            "# a comment\nballads\\Hallelujah.wav\n#EXTINF:-1,\nhttp://radio/x.mp3\n")
    assert parse_m3u_text(text) == [
        SetlistEntry(3, "01 Opening Jam.flac", title="Opening Jam"),
        SetlistEntry(6, "ballads\\Hallelujah.wav"),
        SetlistEntry(8, "http://radio/x.mp3"),
    ]


def test_an_extinf_title_is_made_printable() -> None:
    entries = parse_m3u_text("#EXTINF:1,Bad\x1btitle\nA.wav\n")
    assert entries[0].title == "Bad?title"
