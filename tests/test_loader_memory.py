"""Songs held in RAM share a budget that follows the board's memory."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import Show, write_tone

from stagebox import events as ev
from stagebox.audio.loader import Loader, songs_budget_from_meminfo
from stagebox.config import Config
from stagebox.media.model import Song
from stagebox.sim.runner import run_show
from stagebox.sim.script import parse_script
from stagebox.workers import InlineWorker

PI3_MEMINFO = """MemTotal:         948304 kB
MemFree:          601220 kB
MemAvailable:     763420 kB
Buffers:           20512 kB
Cached:           162408 kB
"""


def test_a_1gb_pi3_holds_one_big_song_but_never_two_of_a_join(tmp_path: Path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(PI3_MEMINFO, encoding="ascii")
    budget = songs_budget_from_meminfo(meminfo)
    assert budget == 763420 * 1024 // 2
    assert 2 * 300_000_000 > budget > 370_000_000


def test_without_memavailable_the_total_counts_and_without_meminfo_no_budget(tmp_path: Path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  1000 kB\nMemFree:  500 kB\n", encoding="ascii")
    assert songs_budget_from_meminfo(meminfo) == 512_000
    meminfo.write_text("garbage\n\x00", encoding="ascii")
    assert songs_budget_from_meminfo(meminfo) is None
    assert songs_budget_from_meminfo(tmp_path / "missing") is None


class QueuedWorker:
    """Runs jobs only when told to, as a busy worker thread would."""

    def __init__(self) -> None:
        self.jobs: list[Callable[[], None]] = []

    def submit(self, job: Callable[[], None]) -> None:
        self.jobs.append(job)

    def run_all(self) -> None:
        while self.jobs:
            self.jobs.pop(0)()

    def close(self) -> None:
        self.run_all()


def song_file(folder: Path, name: str, seconds: float) -> Song:
    path = folder / f"{name}.wav"
    write_tone(path, 440.0, seconds)
    return Song(path, path.name, name, 0.0, None)


@pytest.fixture
def posted():
    events: list[object] = []
    yield events
    for event in events:
        if isinstance(event, ev.TrackReady):
            event.stream.close()


def test_the_second_song_waits_for_room_and_a_released_song_makes_it(tmp_path, posted):
    one, two = song_file(tmp_path, "one", 2.0), song_file(tmp_path, "two", 2.0)
    size = one.path.stat().st_size
    loader = Loader(rate=48000, max_bytes=10**9, post=posted.append, worker=InlineWorker(),
                    budget_bytes=size + size // 2)
    loader.load(1, one)
    loader.load(2, two)
    ready, refused = posted
    assert isinstance(ready, ev.TrackReady) and loader.held_bytes == size
    assert isinstance(refused, ev.TrackFailed) and refused.no_room
    assert refused.message.startswith("not enough memory for both (0.4 MB, 0.1 MB free")
    loader.release(1)
    assert loader.held_bytes == 0
    loader.load(3, two)
    assert isinstance(posted[-1], ev.TrackReady) and loader.held_bytes == size


def test_a_song_decoded_anew_shares_its_memory_and_needs_no_stick(tmp_path, posted):
    one = song_file(tmp_path, "one", 2.0)
    size = one.path.stat().st_size
    # Room for one copy only: a practice change must not need a second.
    loader = Loader(rate=48000, max_bytes=10**9, post=posted.append, worker=InlineWorker(),
                    budget_bytes=size + size // 2)
    loader.load(1, one)
    one.path.unlink()  # the stick is gone
    loader.load(2, one, 1.0, same_file_as=1)
    first, again = posted
    assert isinstance(again, ev.TrackReady) and loader.held_bytes == size
    assert isinstance(first, ev.TrackReady) and again.stream.header.start_frames == 48000
    loader.release(1)
    assert loader.held_bytes == size
    loader.load(3, one, 0.5, same_file_as=2)
    assert isinstance(posted[-1], ev.TrackReady)
    loader.release(2)
    loader.release(3)
    assert loader.held_bytes == 0
    # Without a load to share, the file is read again: gone, it fails.
    loader.load(4, one, same_file_as=3)
    assert isinstance(posted[-1], ev.TrackFailed)


def test_a_guide_track_is_held_with_its_song_counted_and_shared_and_dropped_if_no_room(
        tmp_path, posted):
    song = song_file(tmp_path, "one", 2.0)
    guide = song_file(tmp_path, "guide", 1.0).path
    with_guide = dataclasses.replace(song, cue=guide)
    song_size, guide_size = song.path.stat().st_size, guide.stat().st_size
    loader = Loader(rate=48000, max_bytes=10**9, post=posted.append, worker=InlineWorker(),
                    budget_bytes=song_size + guide_size, cue_bus=True)
    loader.load(1, with_guide)
    (ready,) = posted
    assert isinstance(ready, ev.TrackReady) and ready.warning is None
    assert ready.stream.channels == 4 and loader.held_bytes == song_size + guide_size
    guide.unlink()  # a practice change decodes the song and its guide again from memory
    loader.load(2, with_guide, 1.0, same_file_as=1)
    assert isinstance(posted[-1], ev.TrackReady) and posted[-1].warning is None
    assert posted[-1].stream.channels == 4
    assert loader.held_bytes == song_size + guide_size
    loader.release(1)
    loader.release(2)
    song_file(tmp_path, "guide", 3.0)  # too big now: the song plays without it
    loader.load(3, with_guide)
    assert isinstance(posted[-1], ev.TrackReady)
    assert posted[-1].warning.startswith("guide track: not enough memory")
    assert loader.held_bytes == song_size


def test_without_a_cue_bus_a_guide_track_is_not_even_read(tmp_path, posted):
    song = song_file(tmp_path, "one", 1.0)
    loader = Loader(rate=48000, max_bytes=10**9, post=posted.append, worker=InlineWorker())
    loader.load(1, dataclasses.replace(song, cue=tmp_path / "missing.wav"))
    (ready,) = posted
    assert isinstance(ready, ev.TrackReady) and ready.warning is None
    assert ready.stream.channels == 2 and loader.held_bytes == song.path.stat().st_size


def test_a_song_over_the_whole_budget_is_too_big_to_hold(tmp_path, posted):
    big = song_file(tmp_path, "big", 3.0)
    loader = Loader(rate=48000, max_bytes=10**9, post=posted.append, worker=InlineWorker(),
                    budget_bytes=500_000)
    loader.load(1, big)
    (refused,) = posted
    assert isinstance(refused, ev.TrackFailed) and not refused.no_room
    assert refused.message == "too big to hold in memory (0.6 MB, limit 0.5 MB)"


def test_a_load_let_go_before_the_worker_reached_it_is_never_read(tmp_path, posted):
    worker = QueuedWorker()
    loader = Loader(rate=48000, max_bytes=10**9, post=posted.append, worker=worker,
                    budget_bytes=10**9)
    loader.load(1, song_file(tmp_path, "one", 1.0))
    loader.release(1)
    worker.run_all()
    assert posted == [] and loader.held_bytes == 0


def test_a_then_next_pair_too_big_for_memory_together_plays_one_after_the_other(tmp_path):
    stick = tmp_path / "stick"
    write_tone(stick / "one.wav", 330.0, 3.0)
    write_tone(stick / "two.wav", 440.0, 3.0)
    (stick / "setlist.txt").write_text("one.wav | then=next\ntwo.wav\n", encoding="utf-8")
    size = (stick / "one.wav").stat().st_size
    result = run_show(media=stick, out=tmp_path / "out", config=Config(),
                      steps=parse_script("0.2 insert\n1.0 press play\n8.0 end\n"),
                      songs_budget_bytes=size + size // 2)
    show = Show(result.out)
    warnings = [e["message"] for e in show.named("warning")]
    assert any(m.startswith("two.wav loads when this song ends: not enough memory")
               for m in warnings)
    assert [e["title"] for e in show.named("track_started")] == ["one", "two"]
    assert show.dominant_hz(1.2, 3.8) == pytest.approx(330.0, abs=3)
    assert show.dominant_hz(4.3, 6.8) == pytest.approx(440.0, abs=3)
    data, rate = show.audio()
    # At the level of the song before it: both sines are matched to -18 LUFS (0.14).
    first = np.abs(data[int(1.2 * rate):int(3.8 * rate)]).max()
    assert np.abs(data[int(4.3 * rate):int(6.8 * rate)]).max() == pytest.approx(first, rel=0.05)
    assert first > 0.1
