"""A song file in, stereo float32 at the device's rate out, decoded in a child process."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
import soxr

from stagebox.audio import track as track_module
from stagebox.audio.memfile import load_into_memory
from stagebox.audio.request import DecodeRequest, DecoderFiles
from stagebox.audio.track import TrackStream

OUT_RATE = 48000
CHANNEL_HZ = (440.0, 660.0, 1000.0, 1500.0, 2000.0, 3000.0)
"""Each source channel its own tone, so the test can tell which channel went where."""
WAIT_S = 20.0
"""Only ever reached if something is broken; no test depends on how fast anything is."""


def write_tones(path: Path, rate: int, channels: int, seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    data = np.stack([0.3 * np.sin(2 * np.pi * CHANNEL_HZ[c] * t) for c in range(channels)], 1)
    soundfile.write(path, data.astype(np.float32), rate)
    return data


def write_chirp(path: Path, rate: int, seconds: float) -> None:
    """A rising tone: every moment sounds different, so a wrong start position shows."""
    t = np.arange(round(seconds * rate)) / rate
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t)).astype(np.float32),
                    rate)


def open_stream(path: Path, start_s: float = 0.0, **options: Any) -> TrackStream:
    fd = load_into_memory(path, 100_000_000)
    try:
        return TrackStream.open(fd, DecodeRequest(OUT_RATE, start_s), **options)
    finally:
        os.close(fd)


def read_all(stream: TrackStream, block_sizes: Iterator[int] | None = None) -> np.ndarray:
    """Read until the end with ``wait_for_data`` streams (blocks of the given sizes)."""
    parts = []
    out = np.zeros((100_000, 2), np.float32)
    while not stream.finished:
        size = next(block_sizes) if block_sizes is not None else len(out)
        got = stream.read(out[:size])
        parts.append(out[:got].copy())
    return np.concatenate(parts)


def read_in_real_time(stream: TrackStream) -> np.ndarray:
    """Read to the end as the output thread does: never waiting, trying again if none
    are ready."""
    parts = []
    out = np.zeros((1024, 2), np.float32)
    deadline = time.monotonic() + WAIT_S
    while not stream.finished:
        assert time.monotonic() < deadline
        got = stream.read(out)
        parts.append(out[:got].copy())
        if got == 0:
            time.sleep(0.001)
    return np.concatenate(parts)


def decode(path: Path, **options: object) -> tuple[np.ndarray, TrackStream]:
    stream = open_stream(path, wait_for_data=True, **options)
    try:
        return read_all(stream), stream
    finally:
        stream.close()


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / OUT_RATE)[spectrum.argmax()])


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.005)


def gone(pid: int) -> bool:
    """True when the process has exited and been reaped (a zombie still takes signal 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize(("extension", "rate", "channels"), [
    ("wav", 48000, 2), ("wav", 22050, 1), ("wav", 44100, 6),
    ("flac", 44100, 2), ("flac", 48000, 1), ("flac", 22050, 6),
    ("ogg", 44100, 2), ("ogg", 22050, 1), ("ogg", 48000, 6),
    ("mp3", 44100, 2), ("mp3", 22050, 1), ("mp3", 48000, 2),
    ("aiff", 44100, 1), ("aiff", 48000, 6),
])
def test_formats_decode_to_stereo_at_the_output_rate(tmp_path: Path, extension: str, rate: int,
                                                      channels: int) -> None:
    path = tmp_path / f"song.{extension}"
    write_tones(path, rate, channels, 0.4)
    frames, stream = decode(path)
    assert stream.error is None
    assert stream.header.format == extension.upper()
    assert (stream.header.source_rate, stream.header.source_channels) == (rate, channels)
    assert stream.duration_s == pytest.approx(0.4, abs=1 / OUT_RATE)
    # libsndfile trims MP3 and Vorbis priming exactly (it reads the encoder's delay from
    # the LAME tag and the Ogg granule positions): measured to the frame here. Another
    # libsndfile build may be off by one MPEG frame, 1152 source frames, at most.
    lossy_slack = 1152 * OUT_RATE // rate if extension in ("mp3", "ogg") else 1
    assert abs(len(frames) - round(0.4 * OUT_RATE)) <= lossy_slack
    middle = frames[len(frames) // 8: -len(frames) // 8]
    assert dominant_hz(middle[:, 0]) == pytest.approx(440.0, abs=5)
    expected_right = 440.0 if channels == 1 else 660.0
    assert dominant_hz(middle[:, 1]) == pytest.approx(expected_right, abs=5)
    if channels == 1:
        np.testing.assert_array_equal(frames[:, 0], frames[:, 1])


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_stream_matches_the_whole_file_resampled_at_once(tmp_path: Path, channels: int) -> None:
    # 3 s: past the decoder's growing first blocks and into its full-size ones.
    path = tmp_path / "song.flac"
    source = write_tones(path, 44100, channels, 3.0).astype(np.float32)
    stereo = np.repeat(source, 2, axis=1) if channels == 1 else source[:, :2]
    frames, _ = decode(path)
    expected = soxr.resample(stereo, 44100, OUT_RATE, quality="HQ")
    np.testing.assert_allclose(frames, expected, atol=1e-4)


@pytest.mark.parametrize("extension", ["wav", "flac", "ogg", "mp3"])
def test_start_position_seeks_into_the_song(tmp_path: Path, extension: str) -> None:
    path = tmp_path / f"song.{extension}"
    write_chirp(path, 44100, 1.5)
    whole, _ = decode(path)
    rest, stream = decode(path, start_s=0.5)
    start = stream.header.start_frames
    assert start == OUT_RATE // 2
    assert len(rest) == len(whole) - start
    # The resampler starts cold at the seek point: a few frames of its filter settle first.
    np.testing.assert_allclose(rest[200:], whole[start + 200:], atol=1e-3)
    assert stream.position_frames == len(whole)


def test_start_past_the_end_gives_an_empty_song(tmp_path: Path) -> None:
    path = tmp_path / "song.wav"
    write_tones(path, 48000, 2, 0.2)
    frames, stream = decode(path, start_s=5.0)
    assert len(frames) == 0 and stream.finished and stream.error is None


def test_random_bytes_are_not_a_song(tmp_path: Path) -> None:
    path = tmp_path / "song.flac"
    path.write_bytes(np.random.default_rng(7).bytes(20_000))
    stream = open_stream(path)
    try:
        assert stream.wait_ready(WAIT_S)
        wait_until(lambda: stream.finished, "the end")
        assert stream.error == "not a sound file"
        assert stream.header is None and stream.duration_s is None
        assert stream.read(np.zeros((64, 2), np.float32)) == 0
    finally:
        stream.close()


def test_truncated_flac_plays_what_is_there_then_ends_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "song.flac"
    write_chirp(path, 44100, 2.0)
    whole, _ = decode(path)
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    frames, stream = decode(path)
    assert stream.header.frames == len(whole), "the header promised the whole song"
    assert stream.duration_s == len(frames) / stream.out_rate, "its real length, once known"
    assert 0.25 * len(whole) < len(frames) < len(whole)
    assert stream.error == "ended early: file is cut short"
    np.testing.assert_allclose(frames[:len(frames) // 2], whole[:len(frames) // 2], atol=1e-4)


def test_a_song_cut_short_at_a_slower_speed_is_as_long_as_the_song_it_holds(
        tmp_path: Path) -> None:
    # The screen counts song time (at 80 % a second of the song takes 1.25 s), so the
    # real length is the song's frames the decoder had, not the stretched frames it sent.
    path = tmp_path / "song.flac"
    write_chirp(path, 44100, 4.0)
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    held, _ = decode(path)
    fd = load_into_memory(path, 100_000_000)
    try:
        stream = TrackStream.open(fd, DecodeRequest(OUT_RATE, speed=0.8), wait_for_data=True)
    finally:
        os.close(fd)
    try:
        played = read_all(stream)
    finally:
        stream.close()
    assert len(played) == pytest.approx(len(held) / 0.8, abs=0.01 * OUT_RATE)
    assert stream.duration_s == pytest.approx(len(held) / OUT_RATE, abs=0.01)


def test_on_stage_a_song_cut_short_shows_its_real_length_before_playback_reaches_it(
        tmp_path: Path) -> None:
    # In real time the decoder runs a ring ahead of playback: a song shorter than the ring
    # is decoded to its early end before a frame is played, and the screen's length (read
    # from the stream by the box) is the real one from then on.
    path = tmp_path / "song.flac"
    write_chirp(path, 44100, 6.0)
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 3])
    stream = open_stream(path)
    try:
        assert stream.wait_ready(WAIT_S)
        assert stream.duration_s == pytest.approx(6.0), "the header's promise, at first"
        wait_until(lambda: stream.duration_s < 5.0, "the real length")
        real_s = stream.duration_s
        frames = read_in_real_time(stream)
        assert real_s == len(frames) / OUT_RATE
    finally:
        stream.close()


def test_a_song_that_ends_early_still_plays_and_says_why_at_its_end(tmp_path: Path) -> None:
    # The loader asks for the error as soon as the header is in. A short song cut short
    # may have been decoded to its early end by then: it must still play what it has.
    path = tmp_path / "song.wav"
    write_tones(path, 48000, 2, 0.5)
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    stream = open_stream(path)
    try:
        assert stream.wait_ready(WAIT_S)
        wait_until(lambda: stream._ended, "the decoder's early end")
        assert stream.error is None and not stream.finished
        frames = read_in_real_time(stream)
    finally:
        stream.close()
    assert len(frames) == soundfile.info(path).frames  # every whole frame the file has
    assert stream.error == "ended early: file is cut short"


def test_odd_read_sizes_give_exactly_the_same_samples(tmp_path: Path) -> None:
    path = tmp_path / "song.flac"
    write_chirp(path, 44100, 1.0)
    one_go, _ = decode(path, ring_s=0.2)
    sizes = iter([1, 7, 333, 4096, 20_000, 2, 9999] * 1000)
    stream = open_stream(path, wait_for_data=True, ring_s=0.2)
    try:
        in_bits = read_all(stream, sizes)
    finally:
        stream.close()
    np.testing.assert_array_equal(in_bits, one_go)


# With the deep ring the decoder sends a count only every quarter ring once under way.
@pytest.mark.parametrize(("seconds", "ring_s"), [(1.0, 4.0), (6.0, 8.0)],
                         ids=["short-song", "deep-ring"])
def test_real_time_reads_never_wait_and_get_the_same_samples(tmp_path: Path, seconds: float,
                                                              ring_s: float) -> None:
    path = tmp_path / "song.flac"
    write_chirp(path, 44100, seconds)
    expected, _ = decode(path)
    stream = open_stream(path, ring_s=ring_s)
    try:
        heard = read_in_real_time(stream)
    finally:
        stream.close()
    assert len(heard) == seconds * OUT_RATE
    np.testing.assert_array_equal(heard, expected)


def test_counts_lost_to_a_full_room_pipe_are_sent_again_and_the_song_plays_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A count sent while the room pipe is full is dropped. Here every other count is:
    # the one after a read that fills the ring's worth of frames, so the decoder, waiting
    # for room, would never hear of it if the waiting reader did not tell it again.
    path = tmp_path / "song.flac"
    write_chirp(path, 44100, 1.0)
    expected, _ = decode(path, ring_s=0.2)
    sends = itertools.count()
    send_count = track_module.ring.send_count
    monkeypatch.setattr(track_module.ring, "send_count",
                        lambda fd, count: next(sends) % 2 and send_count(fd, count))
    stream = open_stream(path, wait_for_data=True, ring_s=0.2, stall_timeout_s=2.0)
    try:
        heard = read_all(stream, itertools.repeat(stream.ring_frames))
    finally:
        stream.close()
    assert stream.error is None
    np.testing.assert_array_equal(heard, expected)


def test_two_streams_of_one_memory_file_do_not_disturb_each_other(tmp_path: Path) -> None:
    path = tmp_path / "song.wav"
    write_chirp(path, 44100, 1.0)
    expected, _ = decode(path)
    fd = load_into_memory(path, 100_000_000)
    try:
        first = TrackStream.open(fd, DecodeRequest(OUT_RATE), wait_for_data=True, ring_s=0.2)
        second = TrackStream.open(fd, DecodeRequest(OUT_RATE), wait_for_data=True, ring_s=0.2)
    finally:
        os.close(fd)
    try:
        out = np.zeros((5000, 2), np.float32)
        parts: dict[TrackStream, list[np.ndarray]] = {first: [], second: []}
        while not (first.finished and second.finished):
            for stream in (first, second):
                parts[stream].append(out[:stream.read(out)].copy())
    finally:
        first.close()
        second.close()
    np.testing.assert_array_equal(np.concatenate(parts[first]), expected)
    np.testing.assert_array_equal(np.concatenate(parts[second]), expected)


def test_song_plays_on_after_the_stick_is_pulled(tmp_path: Path) -> None:
    path = tmp_path / "song.flac"
    write_tones(path, 44100, 2, 0.5)
    fd = load_into_memory(path, 100_000_000)
    path.unlink()
    try:
        stream = TrackStream.open(fd, DecodeRequest(OUT_RATE), wait_for_data=True)
    finally:
        os.close(fd)
    try:
        frames = read_all(stream)
    finally:
        stream.close()
    assert stream.error is None and len(frames) == OUT_RATE // 2
    assert dominant_hz(frames[:, 1]) == pytest.approx(660.0, abs=5)


@pytest.mark.slow
def test_decoding_stays_a_ring_ahead_of_playback(tmp_path: Path) -> None:
    path = tmp_path / "long.flac"
    write_tones(path, 44100, 2, 30.0)
    stream = open_stream(path, ring_s=1.0)
    try:
        assert stream.wait_ready(WAIT_S) and stream.error is None
        wait_until(lambda: stream.buffered_frames == stream.ring_frames, "a full ring")
        assert stream.ring_frames == OUT_RATE
        # The ring is full and the decoder waits on its pipe, alive, instead of decoding
        # the remaining 29 s into memory.
        assert not gone(stream.decoder_pid) and not stream.finished
        frames = read_in_real_time(stream)
        assert stream.buffered_frames == 0
    finally:
        stream.close()
    assert len(frames) == 30 * OUT_RATE and stream.error is None


def test_close_kills_and_reaps_the_decoder(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    write_tones(path, 48000, 2, 10.0)
    stream = open_stream(path, ring_s=0.2)
    assert stream.wait_ready(WAIT_S)
    pid = stream.decoder_pid
    assert not gone(pid)
    stream.close()
    assert gone(pid) and stream.finished
    stream.close()


def test_decoder_killed_mid_song_ends_the_song_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    write_tones(path, 48000, 2, 10.0)
    stream = open_stream(path, wait_for_data=True, ring_s=0.2)
    try:
        assert stream.wait_ready(WAIT_S)
        os.kill(stream.decoder_pid, signal.SIGKILL)
        frames = read_all(stream)
    finally:
        stream.close()
    assert stream.finished and len(frames) < 10 * OUT_RATE
    assert stream.error == f"decoder crashed (signal {signal.SIGKILL.value})"


# Broken stall detection would leave the reader waiting for ever: fail instead.
@pytest.mark.timeout(60)
@pytest.mark.parametrize("wait_for_data", [False, True], ids=["real-time", "reader-waits"])
def test_a_decoder_that_stops_answering_is_killed(tmp_path: Path, wait_for_data: bool) -> None:
    # In real time the feeder notices, else the reader waiting for the frames.
    path = tmp_path / "long.wav"
    write_tones(path, 48000, 2, 10.0)
    stream = open_stream(path, wait_for_data=wait_for_data, ring_s=0.2,
                         stall_timeout_s=0.3)
    try:
        assert stream.wait_ready(WAIT_S)
        first = np.zeros((stream.ring_frames, 2), np.float32)
        wait_until(lambda: stream.read(first) > 0, "the first frames")
        pid = stream.decoder_pid
        os.kill(pid, signal.SIGSTOP)
        frames = read_all(stream) if wait_for_data else read_in_real_time(stream)
    finally:
        stream.close()
    assert stream.error == "decoder stalled"
    assert len(frames) < 10 * OUT_RATE and gone(pid)


SCRIPTED_DECODER = """
import json, os, struct, sys, time
from stagebox.audio import ring
frames = ring.attach(int(sys.argv[1]))
print(json.dumps({"ok": True, "format": "WAV", "source_rate": 48000, "source_channels": 2,
                  "source_frames": 96000, "frames": 96000, "start_frames": 0}), flush=True)
frames[:100] = 0.25
first, then = (int(count) for count in sys.argv[2:4])
os.write(1, struct.pack("<q", first))
# Once the player has taken the first frames, the second count.
taken, count = ring.CountReceiver(), 0
while count < first:
    count = taken.latest(os.read(0, 8)) or count
frames[first:then] = 0.5
os.write(1, struct.pack("<q", then))
if sys.argv[4] == "hang":
    time.sleep(30)
"""
"""A decoder that puts 100 frames of 0.25 in the ring, and once they are taken says
``then`` (putting 0.5 in the frames up to it), then hangs or exits."""


def spawn_scripted(first: int, then: int, ending: str) -> Callable[..., subprocess.Popen[bytes]]:
    """A ``spawn_decoder`` that starts :data:`SCRIPTED_DECODER` instead of the decoder."""
    def spawn(request: DecodeRequest, files: DecoderFiles) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", SCRIPTED_DECODER, str(files.ring), str(first), str(then),
             ending], pass_fds=(files.ring,), stdin=files.room, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=Path(__file__).parents[2])

    return spawn


@pytest.mark.parametrize("lie", [100 + OUT_RATE + 1, 50],
                         ids=["further-ahead-than-the-ring", "going-backwards"])
def test_a_decoder_that_claims_frames_it_cannot_have_is_stopped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lie: int) -> None:
    # A decoder taken over by a hostile file could send any count: the player must not
    # believe one that would have it read frames twice or out of order.
    monkeypatch.setattr(track_module, "spawn_decoder", spawn_scripted(100, lie, "hang"))
    path = tmp_path / "song.wav"
    write_tones(path, 48000, 2, 0.1)
    stream = open_stream(path, wait_for_data=True, ring_s=1.0)
    try:
        frames = read_all(stream, itertools.repeat(100))
    finally:
        stream.close()
    assert stream.error == "decoder sent garbage"
    assert len(frames) == 100 and np.all(frames == 0.25)


def test_a_reader_that_waits_gets_the_last_frames_of_a_decoder_that_has_ended(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The decoder sends its last count and exits at once. The song is not over for the
    # reader until it has read that count, however soon the decoder is reaped.
    monkeypatch.setattr(track_module, "spawn_decoder", spawn_scripted(100, 300, "exit"))
    path = tmp_path / "song.wav"
    write_tones(path, 48000, 2, 0.1)
    stream = open_stream(path, wait_for_data=True, ring_s=1.0)
    try:
        first = np.zeros((100, 2), np.float32)
        assert stream.read(first) == 100
        pid = stream.decoder_pid
        wait_until(lambda: gone(pid), "the decoder to end and be reaped")
        time.sleep(0.1)
        assert not stream.finished
        rest = read_all(stream)
    finally:
        stream.close()
    assert stream.error is None and stream.finished
    assert np.all(first == 0.25) and len(rest) == 200 and np.all(rest == 0.5)


def test_a_reader_that_waits_plays_on_from_a_decoder_that_pauses_short_of_a_batch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Under way, a reader that runs dry waits for a batch of frames; a decoder that pauses
    # with less in the ring (but enough for the read) is not stalled, and the song goes on.
    monkeypatch.setattr(track_module, "spawn_decoder", spawn_scripted(100, 300, "hang"))
    path = tmp_path / "song.wav"
    write_tones(path, 48000, 2, 0.1)
    stream = open_stream(path, wait_for_data=True, ring_s=1.0, stall_timeout_s=2.0)
    try:
        frames = np.zeros((100, 2), np.float32)
        assert stream.read(frames) == 100 and np.all(frames == 0.25)
        assert stream.read(frames) == 100 and np.all(frames == 0.5)
        assert stream.error is None and not gone(stream.decoder_pid)
    finally:
        stream.close()


def test_the_decoder_run_by_hand_writes_the_same_frames_to_stdout(tmp_path: Path) -> None:
    path = tmp_path / "song.flac"
    write_chirp(path, 44100, 2.0)
    through_the_ring, _ = decode(path)
    with path.open("rb") as song:
        result = subprocess.run(
            [sys.executable, "-m", "stagebox.audio.decode_worker", "--fd", "0",
             "--request", DecodeRequest(OUT_RATE).to_json()], stdin=song,
            capture_output=True, check=True, cwd=Path(__file__).parents[2])
    header, _, frames = result.stdout.partition(b"\n")
    assert b'"ok": true' in header
    np.testing.assert_array_equal(np.frombuffer(frames, "<f4").reshape(-1, 2), through_the_ring)
