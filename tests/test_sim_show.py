"""Whole shows through `stagebox sim`: what the audience hears and the performer sees."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_tone

# Each song is a tone of its own, so the audio tells which song played.
HZ = {"one": 330.0, "two": 440.0, "three": 550.0}


@pytest.fixture
def stick(tmp_path: Path) -> Path:
    root = tmp_path / "stick"
    write_tone(root / "one.flac", HZ["one"], 3.0, rate=44100)
    write_tone(root / "two.wav", HZ["two"], 3.0, rate=48000)
    write_tone(root / "three.ogg", HZ["three"], 3.0, rate=22050, channels=1)
    (root / "setlist.txt").write_text("one.flac\ntwo.wav\nthree.ogg\n", encoding="utf-8")
    return root


def started(show) -> list[tuple[float, str]]:
    return [(e["t"], e["title"]) for e in show.named("track_started")]


def test_nothing_plays_until_play_then_the_first_song(stick, run_sim):
    show = run_sim(stick, "0.2 insert\n2.0 press play\n4.5 end\n")
    assert show.dominant_hz(0.0, 1.9) == 0.0
    assert show.dominant_hz(2.3, 4.0) == pytest.approx(HZ["one"], abs=3)
    ((t, title),) = started(show)
    assert title == "one" and 2.0 <= t <= 2.1


def test_after_a_song_the_next_waits_cued_until_play(stick, run_sim):
    show = run_sim(stick, "0.2 insert\n1.0 press play\n7.0 press play\n9.5 end\n")
    assert show.dominant_hz(4.2, 6.9) == 0.0, "silence between songs"
    assert show.dominant_hz(7.3, 9.5) == pytest.approx(HZ["two"], abs=3)
    assert [title for _, title in started(show)] == ["one", "two"]
    assert "2/3" in " ".join(show.screen_at(6.0))


def test_then_next_joins_songs_without_a_gap(stick, run_sim):
    (stick / "setlist.txt").write_text("one.flac | then=next\ntwo.wav\n", encoding="utf-8")
    show = run_sim(stick, "0.2 insert\n1.0 press play\n7.5 end\n")
    (t1, _), (t2, _) = started(show)
    assert t2 - t1 == pytest.approx(3.0, abs=0.03)
    data, rate = show.audio()
    joined = data[int((t1 + 0.5) * rate):int((t2 + 2.0) * rate), 0]
    windows = len(joined) // 480
    envelope = np.abs(joined[:windows * 480]).reshape(windows, 480).max(axis=1)
    assert envelope.min() > 0.05, "no silent gap where the songs join"


def test_a_tap_while_playing_does_not_stop_the_song_but_a_hold_pauses_it(stick, run_sim):
    show = run_sim(stick, "0.2 insert\n1.0 press play\n1.5 press play\n1.7 press next\n"
                          "2.0 hold play 1.0\n4.0 press play\n6.5 end\n")
    assert show.dominant_hz(1.5, 2.7) == pytest.approx(HZ["one"], abs=3)
    assert show.dominant_hz(3.4, 3.9) == 0.0, "paused"
    assert show.dominant_hz(4.2, 5.5) == pytest.approx(HZ["one"], abs=3), "resumed"
    paused = [e for e in show.named("state") if e["state"] == "paused"]
    assert paused and paused[0]["position"] == pytest.approx(1.8, abs=0.1)
    assert any("Hold PLAY" in e["message"] for e in show.named("notice"))


def test_no_clicks_at_start_pause_resume_skip_and_end(stick, run_sim):
    show = run_sim(stick, "0.2 insert\n1.0 press play\n2.0 hold play 1.0\n3.5 press play\n"
                          "4.0 hold next 1.0\n6.0 press play\n10 end\n")
    data, _ = show.audio()
    music_step = 0.5 * 2 * np.pi * max(HZ.values()) / 48000
    assert np.abs(np.diff(data[:, 0])).max() <= music_step * 1.1


def test_a_corrupt_file_is_skipped_with_a_warning(stick, run_sim):
    (stick / "bad.flac").write_bytes(b"fLaC" + bytes(range(256)) * 20)
    (stick / "setlist.txt").write_text("bad.flac\ntwo.wav\n", encoding="utf-8")
    show = run_sim(stick, "0.2 insert\n1.0 press play\n3.0 end\n")
    warnings = [e["message"] for e in show.named("warning")]
    assert any("bad.flac" in message for message in warnings)
    assert [title for _, title in started(show)] == ["two"]
    assert any("bad.flac" in " ".join(s["text"]) for s in show.screens)


def test_a_stick_pulled_mid_song_plays_it_out_then_asks_for_a_stick(stick, run_sim):
    show = run_sim(stick, "0.2 insert\n1.0 press play\n2.0 remove\n5.0 end\n")
    assert show.dominant_hz(2.1, 3.9) == pytest.approx(HZ["one"], abs=3)
    assert show.named("track_ended")
    assert any("Insert USB stick" in line for line in show.screen_at(4.9))


def test_the_setlists_mistakes_are_shown_and_the_rest_plays(stick, run_sim):
    (stick / "setlist.txt").write_text("one.flac | gian=2dB\nmissing.wav\n../../etc/passwd\n"
                                       "two.wav\n", encoding="utf-8")
    show = run_sim(stick, "0.2 insert\n1.0 press next\n1.5 press play\n3 end\n")
    assert len(show.named("warning")) >= 3
    assert [title for _, title in started(show)] == ["two"]


def test_an_empty_stick_says_so(tmp_path: Path, run_sim):
    (tmp_path / "empty").mkdir()
    show = run_sim(tmp_path / "empty", "0.2 insert\n1.0 press play\n2 end\n")
    assert "No songs on the stick" in " ".join(show.screen_at(1.9))
    assert not show.named("track_started")


def test_a_config_typo_is_shown_and_the_box_runs_on_defaults(stick, run_sim):
    show = run_sim(stick, "0.2 insert\n1.0 press play\n2 end\n",
                   config="[player]\nafter_son = 'next'\n")
    assert any("after_song" in e["message"] for e in show.named("warning"))
    assert started(show)


def test_the_volume_menu_turns_the_music_down(stick, run_sim):
    show = run_sim(stick, "0.2 insert\n1.0 press play\n1.5 press menu\n1.7 press play\n"
                          + "".join(f"{1.9 + i * 0.1:.1f} press prev\n" for i in range(6))
                          + "2.6 press play\n2.8 press menu\n3.5 end\n")
    data, rate = show.audio()
    before = np.abs(data[int(1.2 * rate):int(1.5 * rate), 0]).max()
    after = np.abs(data[int(2.8 * rate):int(3.2 * rate), 0]).max()
    assert 20 * np.log10(after / before) == pytest.approx(-6.0, abs=0.3)
    assert [e["volume_db"] for e in show.named("volume")][-1] == -6.0


def test_the_same_script_gives_the_same_files(stick, run_sim):
    script = "0.2 insert\n1.0 press play\n2.0 hold next 1\n3.5 press play\n5 end\n"
    first, second = run_sim(stick, script, name="a"), run_sim(stick, script, name="b")
    for name in ("audio.wav", "events.jsonl", "screens.jsonl"):
        assert (first.out / name).read_bytes() == (second.out / name).read_bytes(), name


def test_an_unplugged_interface_pauses_the_song_and_it_waits_at_its_place(stick, run_sim):
    show = run_sim(stick, "0.2 insert\n1.0 press play\n2.0 unplug\n4.0 replug\n"
                          "5.0 press play\n7.5 end\n")
    lost = show.named("error")
    assert lost and "interface" in lost[0]["message"].lower()
    paused = [e for e in show.named("state") if e["state"] == "paused"]
    assert paused and paused[0]["position"] == pytest.approx(1.0, abs=0.1)
    assert any("back" in e["message"] for e in show.named("notice"))
    # audio.wav holds what the device took: nothing while it was gone (2 s to 4 s).
    assert show.dominant_hz(2.1, 2.9) == 0.0, "waits after the interface returns"
    assert show.dominant_hz(3.2, 4.8) == pytest.approx(HZ["one"], abs=3)
    resumed = [e for e in show.named("state") if e["state"] == "playing"][-1]
    assert resumed["position"] == paused[0]["position"]
    (ended,) = show.named("track_ended")
    assert ended["t"] - resumed["t"] == pytest.approx(3.0 - resumed["position"], abs=0.05)


def test_an_xrun_is_counted_and_the_song_goes_on(stick, run_sim):
    show = run_sim(stick, "0.2 insert\n1.0 press play\n2.0 xrun\n3.5 end\n")
    assert [e["total"] for e in show.named("xrun")] == [1]
    assert show.dominant_hz(2.1, 3.4) == pytest.approx(HZ["one"], abs=3)


@pytest.mark.parametrize("down_s", [2.75, 2.95, 3.1])
def test_a_pause_held_in_the_last_half_second_of_a_then_next_song_holds(stick, run_sim,
                                                                        down_s):
    """PLAY held so the pause lands 0.5 to 0.1 s before the song's end, inside the fade:
    the fade runs out with the song, and the next song waits for PLAY."""
    (stick / "setlist.txt").write_text("one.flac | then=next\ntwo.wav\n", encoding="utf-8")
    show = run_sim(stick, f"0.2 insert\n1.0 press play\n{down_s} hold play 1.0\n"
                          "7.0 press play\n9.5 end\n")
    end_s = show.named("track_ended")[0]["t"]
    (hold,) = [e for e in show.named("button") if e["gesture"] == "hold"]
    assert end_s - 0.5 < hold["t"] < end_s, "the pause fades into the song's end"
    data, rate = show.audio()
    after = np.abs(data[int((end_s + 0.01) * rate):int(6.95 * rate)])
    assert after.max() < 1e-4, "silence from the song's end until PLAY"
    assert show.dominant_hz(7.3, 9.4) == pytest.approx(HZ["two"], abs=3)
    assert [(title, t >= 7.0) for t, title in started(show)] == [("one", False), ("two", True)]
    assert "2/2" in " ".join(show.screen_at(6.9))


def test_play_without_an_interface_says_so_and_the_song_waits_for_play_after_it_returns(
        stick, run_sim):
    show = run_sim(stick, "0.2 insert\n0.5 unplug\n1.0 press play\n2.0 replug\n"
                          "4.0 press play\n6.0 end\n")
    assert "No audio interface" in " ".join(show.screen_at(1.2))
    data, rate = show.audio()
    # audio.wav holds what the device took: nothing while it was gone (0.5 s to 2 s).
    first_sound_s = np.argmax(np.abs(data[:, 0]) > 1e-4) / rate + (2.0 - 0.5)
    assert first_sound_s == pytest.approx(4.0, abs=0.06), "nothing before the second PLAY"
    ((t, title),) = started(show)
    assert title == "one" and t >= 4.0
    before_play = [e["state"] for e in show.named("state") if e["t"] < 4.0]
    assert "playing" not in before_play
    assert "▶" not in " ".join(show.screen_at(3.9))


def test_after_shutting_down_nothing_brings_the_box_back(stick, run_sim):
    show = run_sim(stick, "0.2 insert\n1.0 hold menu 3.5\n5.0 remove\n5.5 insert\n"
                          "6.5 press play\n7.0 unplug\n7.5 replug\n8.0 press play\n9.0 end\n")
    (shutdown,) = show.named("shutdown")
    assert not [e for e in show.named("state") if e["t"] > shutdown["t"]]
    assert not show.named("track_started")
    assert show.dominant_hz(0.0, 8.9) == 0.0
    assert "Shutting down" in " ".join(show.screen_at(8.9))


def test_titles_with_line_separators_keep_the_logs_one_record_a_line(tmp_path, run_sim):
    root = tmp_path / "odd"
    write_tone(root / "A\u2028B\u2029C\x85D.wav", HZ["one"], 1.0)
    show = run_sim(root, "0.2 insert\n1.0 press play\n2.5 end\n")
    for name in ("events.jsonl", "screens.jsonl"):
        lines = (show.out / name).read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines]
        assert records and all("t" in record for record in records), name
    (started_event,) = show.named("track_started")
    assert started_event["title"].startswith("A\u2028B\u2029C")
