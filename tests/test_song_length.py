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
    write_tone(song, 440.0, 8.0, rate=44100)
    data = song.read_bytes()
    song.write_bytes(data[:len(data) // 2])  # a copy pulled half-way: about 4 s of 8
    show = run_sim(stick, "0.2 insert\n1.0 press play\n9.0 end\n")
    (started,) = show.named("track_started")
    (ended,) = show.named("track_ended")
    played_s = ended["t"] - started["t"]
    assert 3.0 < played_s < 5.0
    # Two seconds in, the screen already counts down to the real end, not the header's 8 s.
    assert remaining_s(show.screen_at(started["t"] + 2.0)) <= round(played_s - 2.0) + 1
    assert any("file is cut short" in w["message"] for w in show.named("warning"))
