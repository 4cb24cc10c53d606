"""Decoders forked from the decoder launcher: each still costs one song at most."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import real_files
import soundfile

from stagebox import ONE_THREAD_ENV
from stagebox.audio import launcher as launcher_module
from stagebox.audio.launcher import DecoderLauncher
from stagebox.audio.memfile import load_into_memory
from stagebox.audio.request import DecodeRequest
from stagebox.audio.track import TrackStream

OUT_RATE = 48000
WAIT_S = 20.0
"""Only ever reached if something is broken; no test depends on how fast anything is."""


def write_chirp(path: Path, rate: int, seconds: float) -> None:
    t = np.arange(round(seconds * rate)) / rate
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t)).astype(np.float32),
                    rate)


def write_tones(path: Path, rate: int, seconds: float) -> None:
    t = np.arange(round(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440.0 * t)
    soundfile.write(path, np.stack([tone, tone], 1).astype(np.float32), rate)


def read_all(stream: TrackStream) -> np.ndarray:
    """Read a ``wait_for_data`` stream to its end."""
    parts = [np.zeros((0, 2), np.float32)]
    out = np.zeros((100_000, 2), np.float32)
    while not stream.finished:
        parts.append(out[:stream.read(out)].copy())
    return np.concatenate(parts)


def ended(pid: int) -> bool:
    """True when the process is gone or a zombie (an orphan's reaper may be slow)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2:].split()[1])


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.005)


@pytest.fixture
def launcher() -> Iterator[DecoderLauncher]:
    with DecoderLauncher() as started:
        yield started


def open_stream(path: Path, launcher: DecoderLauncher, **options: Any) -> TrackStream:
    fd = load_into_memory(path, 100_000_000)
    try:
        return TrackStream.open(fd, DecodeRequest(OUT_RATE), wait_for_data=True,
                                launcher=launcher, **options)
    finally:
        os.close(fd)


def play(path: Path, launcher: DecoderLauncher | None) -> tuple[np.ndarray, TrackStream]:
    fd = load_into_memory(path, 100_000_000)
    try:
        stream = TrackStream.open(fd, DecodeRequest(OUT_RATE), wait_for_data=True,
                                  launcher=launcher)
    finally:
        os.close(fd)
    try:
        return read_all(stream), stream
    finally:
        stream.close()


@pytest.fixture
def song(tmp_path: Path) -> Path:
    path = tmp_path / "song.flac"
    write_chirp(path, 44100, 1.0)
    return path


@pytest.fixture
def long_song(tmp_path: Path) -> Path:
    path = tmp_path / "long.wav"
    write_tones(path, 48000, 10.0)
    return path


def test_a_forked_decoder_plays_the_song_as_a_fresh_one_does(
        song: Path, launcher: DecoderLauncher) -> None:
    expected, _ = play(song, None)
    stream = open_stream(song, launcher)
    try:
        frames = read_all(stream)
    finally:
        stream.close()
    assert stream.error is None
    np.testing.assert_array_equal(frames, expected)


@pytest.mark.parametrize("kind", ["m4a", "mp3-without-xing", "cut-short-wav"])
def test_ffmpeg_songs_and_early_ends_play_through_a_forked_decoder_as_through_a_fresh_one(
        tmp_path: Path, launcher: DecoderLauncher, kind: str) -> None:
    # The launcher holds FFmpeg already; its forks limit their address space all the same.
    samples = real_files.chirp(2.0, 44100)
    if kind == "m4a":
        path = tmp_path / "song.m4a"
        real_files.encode_with_ffmpeg(path, samples, 44100, "aac", "mp4")
    elif kind == "mp3-without-xing":
        path = tmp_path / "song.mp3"
        real_files.write_vbr_mp3(path, samples, 44100)
        path.write_bytes(real_files.without_xing_frame(path.read_bytes()))
    else:
        path = tmp_path / "song.wav"
        soundfile.write(path, samples, 44100)
        real_files.cut(path, 0.5)
    expected, fresh = play(path, None)
    frames, forked = play(path, launcher)
    assert forked.error == fresh.error
    assert len(expected) > OUT_RATE // 2
    np.testing.assert_array_equal(frames, expected)


def holds_ffmpeg(pid: int | None) -> bool:
    return "libavcodec" in Path(f"/proc/{pid}/maps").read_text()


def test_the_launcher_holds_ffmpeg_only_once_a_song_may_need_it(
        tmp_path: Path, song: Path, launcher: DecoderLauncher) -> None:
    m4a = tmp_path / "song.m4a"
    real_files.encode_with_ffmpeg(m4a, real_files.chirp(1.0, 44100), 44100, "aac", "mp4")
    frames, stream = play(song, launcher)
    assert stream.error is None and len(frames) > OUT_RATE // 2
    assert not holds_ffmpeg(launcher.pid), "a FLAC needs no FFmpeg"

    expected, _ = play(m4a, None)
    stream = open_stream(m4a, launcher)
    try:
        assert stream.wait_ready(WAIT_S)
        assert holds_ffmpeg(launcher.pid)
        frames = read_all(stream)
    finally:
        stream.close()
    assert stream.error is None
    np.testing.assert_array_equal(frames, expected)


def test_a_decoder_is_forked_by_the_launcher(long_song: Path, launcher: DecoderLauncher) -> None:
    # Ten seconds of song overfill the ring and the pipe: the decoder is still running.
    stream = open_stream(long_song, launcher, ring_s=0.2)
    try:
        assert stream.wait_ready(WAIT_S)
        assert parent_of(stream.decoder_pid) == launcher.pid
    finally:
        stream.close()


def test_a_bad_file_gives_its_message_through_the_launcher(
        tmp_path: Path, launcher: DecoderLauncher) -> None:
    path = tmp_path / "song.flac"
    path.write_bytes(np.random.default_rng(7).bytes(20_000))
    frames, stream = play(path, launcher)
    assert len(frames) == 0 and stream.error == "not a sound file"


def test_each_decoder_is_limited_and_the_launcher_holds_no_song(
        long_song: Path, launcher: DecoderLauncher) -> None:
    stream = open_stream(long_song, launcher, ring_s=0.2)
    try:
        assert stream.wait_ready(WAIT_S)
        decoder_limits = Path(f"/proc/{stream.decoder_pid}/limits").read_text()
        launcher_pid = launcher.pid
        assert launcher_pid is not None
        launcher_limits = Path(f"/proc/{launcher_pid}/limits").read_text()
        launcher_fds = [os.readlink(f"/proc/{launcher_pid}/fd/{fd}")
                        for fd in os.listdir(f"/proc/{launcher_pid}/fd")]
    finally:
        stream.close()
    address_space = str(1 << 30)
    assert f"Max address space         {address_space}" in decoder_limits
    assert "Max core file size        0" in decoder_limits
    assert address_space not in launcher_limits
    assert not [target for target in launcher_fds if target.startswith("/memfd:")]


def test_a_crashed_decoder_costs_only_its_song(long_song: Path, song: Path,
                                               launcher: DecoderLauncher) -> None:
    stream = open_stream(long_song, launcher, ring_s=0.2)
    try:
        assert stream.wait_ready(WAIT_S)
        os.kill(stream.decoder_pid, signal.SIGSEGV)
        frames = read_all(stream)
    finally:
        stream.close()
    assert len(frames) < 10 * OUT_RATE
    assert stream.error == f"decoder crashed (signal {signal.SIGSEGV.value})"
    launcher_pid = launcher.pid
    frames, stream = play(song, launcher)
    assert stream.error is None and len(frames) == OUT_RATE
    assert launcher.pid == launcher_pid


def test_a_hung_decoder_is_killed_by_the_stall_timeout(long_song: Path,
                                                       launcher: DecoderLauncher) -> None:
    stream = open_stream(long_song, launcher, ring_s=0.2, stall_timeout_s=0.3)
    try:
        assert stream.wait_ready(WAIT_S)
        pid = stream.decoder_pid
        os.kill(pid, signal.SIGSTOP)
        frames = read_all(stream)
    finally:
        stream.close()
    assert stream.error == "decoder stalled"
    assert len(frames) < 10 * OUT_RATE and ended(pid)


def test_a_killed_launcher_is_replaced_and_its_song_plays_on(
        long_song: Path, song: Path, launcher: DecoderLauncher) -> None:
    playing = open_stream(long_song, launcher, ring_s=0.2)
    try:
        assert playing.wait_ready(WAIT_S)
        old_pid = launcher.pid
        assert old_pid is not None
        os.kill(old_pid, signal.SIGKILL)
        frames, stream = play(song, launcher)
        assert stream.error is None and len(frames) == OUT_RATE
        assert launcher.pid not in (None, old_pid)
        assert read_all(playing).shape == (10 * OUT_RATE, 2)
    finally:
        playing.close()
    assert playing.error is None


def test_a_hung_launcher_is_replaced(song: Path, launcher: DecoderLauncher,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    play(song, launcher)
    old_pid = launcher.pid
    assert old_pid is not None
    monkeypatch.setattr(launcher_module, "REPLY_TIMEOUT_S", 0.2)
    os.kill(old_pid, signal.SIGSTOP)
    frames, stream = play(song, launcher)
    assert stream.error is None and len(frames) == OUT_RATE
    assert launcher.pid not in (None, old_pid) and ended(old_pid)


@pytest.mark.parametrize("python", ["missing", "/bin/false"])
def test_without_a_launcher_decoders_start_on_their_own(tmp_path: Path, song: Path,
                                                       python: str) -> None:
    """A launcher that cannot be started, or ends before it is ready."""
    command = str(tmp_path / "python") if python == "missing" else python
    with DecoderLauncher(python=command) as broken:
        for _ in range(2):
            frames, stream = play(song, broken)
            assert stream.error is None and len(frames) == OUT_RATE
            assert broken.pid is None


def test_closing_the_launcher_ends_it_and_its_decoders(long_song: Path,
                                                       launcher: DecoderLauncher) -> None:
    stream = open_stream(long_song, launcher, ring_s=0.2)
    try:
        assert stream.wait_ready(WAIT_S)
        pids = (launcher.pid, stream.decoder_pid)
        launcher.close()
        frames = read_all(stream)
    finally:
        stream.close()
    assert len(frames) < 10 * OUT_RATE
    assert all(pid is not None and ended(pid) for pid in pids)


BOX = """
import os, sys, time
from stagebox.audio.launcher import DecoderLauncher
from stagebox.audio.memfile import load_into_memory
from stagebox.audio import ring
from stagebox.audio.request import DecodeRequest, DecoderFiles
launcher = DecoderLauncher()
fd = load_into_memory(sys.argv[1], 100_000_000)
ring_fd, _ = ring.create(48000)
room_read, room_write = os.pipe()
decoder = launcher.launch(DecodeRequest(48000), DecoderFiles(fd, ring_fd, room_read))
print(launcher.pid, decoder.pid, flush=True)
time.sleep(60)
"""


def test_a_launcher_outlives_no_box_that_dies(long_song: Path) -> None:
    box = subprocess.Popen([sys.executable, "-c", BOX, str(long_song)], stdout=subprocess.PIPE,
                           cwd=Path(__file__).parents[2])
    try:
        assert box.stdout is not None
        pids = [int(pid) for pid in box.stdout.readline().split()]
    finally:
        box.kill()
        box.wait()
    assert len(pids) == 2
    wait_until(lambda: all(ended(pid) for pid in pids), "the launcher and decoder to end")


FORKING_PLAYER = """
import os, sys, threading
import numpy as np
from stagebox.audio.launcher import DecoderLauncher
from stagebox.audio.memfile import load_into_memory
from stagebox.audio.request import DecodeRequest
from stagebox.audio.track import TrackStream
if sys.argv[2] == "threaded":
    threading.Thread(target=threading.Event().wait, daemon=True).start()
with DecoderLauncher(fork_first=True) as launcher:
    launcher.start()
    with open(f"/proc/{launcher.pid}/cmdline", "rb") as theirs, \
            open("/proc/self/cmdline", "rb") as ours:
        forked = theirs.read() == ours.read()
    fd = load_into_memory(sys.argv[1], 100_000_000)
    stream = TrackStream.open(fd, DecodeRequest(48000), wait_for_data=True, launcher=launcher)
    out = np.zeros((1_000_000, 2), np.float32)
    frames = stream.read(out)
    stream.close()
    np.save(sys.argv[3], out[:frames])
    print(forked, stream.error, flush=True)
"""


@pytest.mark.parametrize(("threads", "forked"), [("alone", "True"), ("threaded", "False")])
def test_a_single_threaded_player_forks_its_launcher_and_plays_the_same(
        song: Path, tmp_path: Path, threads: str, forked: str) -> None:
    expected, _ = play(song, None)
    env = {**os.environ, **ONE_THREAD_ENV}
    result = subprocess.run([sys.executable, "-c", FORKING_PLAYER, str(song), threads,
                             str(tmp_path / "frames.npy")], cwd=Path(__file__).parents[2],
                            env=env, capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.split() == [forked, "None"]
    np.testing.assert_array_equal(np.load(tmp_path / "frames.npy"), expected)


def test_the_box_and_the_simulator_start_no_thread_as_they_import() -> None:
    # So each forks its decoder launcher (above) rather than start a new interpreter:
    # the launcher then shares the libraries the box has loaded.
    code = ("import os, stagebox.cli, stagebox.daemon, stagebox.sim.runner; "
            "print(len(os.listdir('/proc/self/task')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2],
                            env={**os.environ, **ONE_THREAD_ENV}, capture_output=True,
                            text=True, check=True, timeout=60)
    assert result.stdout.split() == ["1"]


def test_a_decoder_talks_through_its_pipes_whatever_the_forking_process_did_with_stdio(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A launcher forked from a process whose sys.stdout is not fd 1 (a test runner's
    # capture): its decoders must still answer on their pipes, or every song fails.
    def decode(fd: int, request: DecodeRequest, ring_fd: int, guide_fd: int | None,
               count_fd: int | None) -> int:
        sys.stdout.write(f"header {sys.stdin.fileno()}\n")
        print("why", file=sys.stderr)
        return 0

    pipes = [os.pipe() for _ in range(3)]  # room, stdout, stderr
    memfd, ring_fd = os.memfd_create("song"), os.memfd_create("ring")
    fds = [memfd, ring_fd, pipes[0][0], pipes[1][1], pipes[2][1]]
    pid = os.fork()
    if pid == 0:
        for stream in ("stdin", "stdout", "stderr"):
            monkeypatch.setattr(sys, stream, io.StringIO())
        wake = os.pipe()
        channel, _ = launcher_module.socket.socketpair()
        launcher_module._be_decoder(channel, fds, wake, DecodeRequest(48000), False,
                                    decode)
    for fd in (memfd, ring_fd, pipes[0][0], pipes[1][1], pipes[2][1]):
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(pipes[1][0], "rb") as out, os.fdopen(pipes[2][0], "rb") as err:
        assert (out.read(), err.read(), os.waitstatus_to_exitcode(status)) == (
            b"header 0\n", b"why\n", 0)
    os.close(pipes[0][1])
