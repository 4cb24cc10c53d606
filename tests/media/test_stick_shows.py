"""Sticks made the way musicians make them, played through `stagebox sim`: what comes out
of the speakers, and what the display and the log say."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from conftest import write_tone


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def warnings(show) -> list[str]:
    return [event["message"] for event in show.named("warning")]


def test_a_mac_stick_with_a_windows_media_player_playlist_plays_in_its_order(
        tmp_path: Path, run_sim) -> None:
    stick = tmp_path / "stick"
    # A folder the Mac wrote (decomposed) and one copied from Windows (composed): on exFAT
    # both can be there, looking the same.
    write_tone(stick / nfd("Música/Canción.wav"), 440.0, 2.0)
    write_tone(stick / "Música" / "Intro.wav", 330.0, 2.0)
    playlist = ("#EXTM3U\r\n#EXTINF:2,Canción de cuna\r\nE:\\Música\\Canción.wav\r\n"
                "E:\\MÚSICA\\intro.WAV\r\n")
    (stick / "Gig.m3u").write_bytes(playlist.encode("cp1252"))
    show = run_sim(stick, "0.2 insert\n1.0 press play\n4.0 press play\n6.5 end\n")
    assert [event["title"] for event in show.named("track_started")] == ["Canción de cuna",
                                                                         "Intro"]
    assert show.dominant_hz(1.3, 2.8) == 440.0
    assert show.dominant_hz(4.3, 5.8) == 330.0
    assert warnings(show) == []


def test_a_setlist_for_another_stick_plays_this_stick_s_songs_and_says_why(
        tmp_path: Path, run_sim) -> None:
    stick = tmp_path / "stick"
    write_tone(stick / "01 Opening.wav", 330.0, 2.0)
    (stick / "setlist.txt").write_text("Old Song.mp3\nOther Song.mp3\n", encoding="utf-8")
    show = run_sim(stick, "0.2 insert\n1.0 press play\n3.5 end\n")
    assert show.dominant_hz(1.3, 2.8) == 330.0
    assert warnings(show)[0] == \
        "setlist.txt: none of its 2 lines matches a file; playing all 1 song"


def test_a_stick_of_copy_protected_songs_says_what_it_found(tmp_path: Path, run_sim) -> None:
    stick = tmp_path / "stick"
    for name in ("01 Hit.m4p", "02 Ballad.m4p", "click.mid"):
        (stick / "iTunes").mkdir(parents=True, exist_ok=True)
        (stick / "iTunes" / name).write_bytes(b"\0" * 64)
    show = run_sim(stick, "0.2 insert\n1.0 press play\n2.0 end\n")
    assert not show.named("track_started")
    assert "No songs: found 2 .m4p (copy-protected), 1 .mid" in warnings(show)
