"""The length the screen shows is the song's real one, even when its header says more."""

from __future__ import annotations

from pathlib import Path

from conftest import write_tone


def remaining_s(screen: list[str]) -> int:
    """The remaining time of a player screen's times line (``0:01  -0:03``), in seconds."""
    remaining = screen[2].split()[-1].lstrip("-")
    minutes, seconds = remaining.split(":")
    return 60 * int(minutes) + int(seconds)


def test_a_song_cut_short_shows_its_real_remaining_time_before_it_ends(tmp_path: Path,
                                                                       run_sim) -> None:
    stick = tmp_path / "stick"
    song = stick / "Cut.flac"
    write_tone(song, 440.0, 6.0, rate=44100)
    data = song.read_bytes()
    # A copy pulled a third of the way: about 2 s of the 6 s its header promises, less than
    # the simulator's reader takes at once, so it reads the decoder's early end at the
    # song's start, whatever the machine's load.
    song.write_bytes(data[:len(data) // 3])
    show = run_sim(stick, "0.2 insert\n1.0 press play\n9.0 end\n")
    (started,) = show.named("track_started")
    (ended,) = show.named("track_ended")
    played_s = ended["t"] - started["t"]
    assert 1.0 < played_s < 3.0
    assert remaining_s(show.screen_at(started["t"] + 1.2)) <= 2, "not the header's 5 s"
    assert any("file is cut short" in w["message"] for w in show.named("warning"))
