"""An underrun through ALSA itself, on a device that is paced by a clock.

alsa-lib's ``null`` and ``file`` devices take audio as fast as it comes, so they can never
run dry. A PulseAudio server with a null sink plays in real time with no sound card, and
alsa-lib's ``pulse`` plugin makes it an ALSA device that reports an underrun as a real one
does: the next ``snd_pcm_writei`` fails with ``-EPIPE``. The song is recorded from the
null sink's monitor, so the test hears what an audience would.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from stagebox.audio.engine import START_RAMP_S

RATE = 48000
PERIOD_FRAMES = 1024
SONG_S = 2.0
STALL_AT_S = 0.7
STALL_S = 0.4
"""Four times the default buffer (85 ms): the device runs dry whatever the scheduler does."""
SERVER_START_TIMEOUT_S = 20.0
SILENCE = 2e-3
"""Quieter than any stretch of the test song longer than a few samples."""
ZERO_CROSSING_FRAMES = 4
"""Samples either side of a break that are quiet enough to match silence as well."""
MATCH = 1e-3
"""How far a recorded sample may be from the song: 16-bit dither, nothing else."""


@dataclass(frozen=True)
class PulseServer:
    """A running PulseAudio server with one null sink, reached by ``address``."""

    address: str
    monitor: str

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "PULSE_SERVER": self.address}


@pytest.fixture(scope="module")
def pulse(tmp_path_factory) -> Iterator[PulseServer]:
    missing = [tool for tool in ("pulseaudio", "parec", "pactl") if not shutil.which(tool)]
    assert not missing, f"`make system-deps` installs pulseaudio; missing: {missing}"
    home = tmp_path_factory.mktemp("pulse")
    address = f"unix:{home / 'native'}"
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(home),
           "XDG_CONFIG_HOME": str(home)}
    server = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disable-shm=yes",
         "--use-pid-file=no", "--log-target=stderr",
         # Without rewinds the monitor hears every frame the sink plays, the first of a
         # stream that starts included.
         "-L", f"module-null-sink sink_name=stage rate={RATE} channels=2 norewinds=1",
         "-L", f"module-native-protocol-unix socket={home / 'native'} auth-anonymous=1"],
        env=env, stdout=subprocess.DEVNULL, stderr=(home / "server.log").open("wb"))
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while subprocess.run(["pactl", "-s", address, "info"], capture_output=True,
                             check=False).returncode != 0:
            assert server.poll() is None, (home / "server.log").read_text(errors="replace")
            assert time.monotonic() < deadline, "PulseAudio did not start"
            time.sleep(0.1)
        yield PulseServer(address, "stage.monitor")
    finally:
        server.terminate()
        server.wait(timeout=10)


def sweep(seconds: float) -> np.ndarray:
    """A rising tone: every stretch of it differs, so a lost or repeated block shows."""
    t = np.arange(int(seconds * RATE)) / RATE
    wave = (0.4 * np.sin(2 * np.pi * (200 * t + 300 * t * t))).astype(np.float32)
    return np.stack([wave, wave], axis=1)


def play_recorded(pulse: PulseServer, song: np.ndarray, work: Path) -> tuple[list[dict],
                                                                             np.ndarray]:
    """Play ``song`` with one stall; the events posted and the left channel heard."""
    np.save(work / "song.npy", song)
    recording = work / "heard.raw"
    with recording.open("wb") as out:
        recorder = subprocess.Popen(
            ["parec", "-s", pulse.address, "-d", pulse.monitor, "--format=s16le",
             f"--rate={RATE}", "--channels=2", "--raw", "--latency-msec=10"], stdout=out)
        try:
            player = subprocess.run(
                [sys.executable, str(Path(__file__).with_name("paced_alsa_play.py")), "pulse",
                 str(work / "song.npy"), str(STALL_AT_S), str(STALL_S)],
                env=pulse.env, capture_output=True, text=True, check=False, timeout=60)
            # Let the recorder take the last of it: 0.3 s more of the sink's own audio,
            # counted in frames recorded, not in seconds of a loaded machine.
            wanted_bytes = recording.stat().st_size + int(0.3 * RATE) * 4
            deadline = time.monotonic() + 30
            while recording.stat().st_size < wanted_bytes:
                assert recorder.poll() is None, "the recorder stopped"
                assert time.monotonic() < deadline, "the recorder took nothing more"
                time.sleep(0.02)
        finally:
            recorder.terminate()
            recorder.wait(timeout=10)
    assert player.returncode == 0, player.stderr
    heard = np.frombuffer(recording.read_bytes(), np.int16).reshape(-1, 2)
    return json.loads(player.stdout.splitlines()[-1]), heard[:, 0] / 32768.0


@dataclass(frozen=True)
class Piece:
    """A stretch of the recording that is the song, sample for sample."""

    place: int
    """Where in the song it starts."""
    frames: int

    @property
    def end(self) -> int:
        return self.place + self.frames


def pieces_of(song: np.ndarray, heard: np.ndarray) -> list[Piece]:
    """The recording as the stretches of the song it holds, in the order heard.

    A stretch ends wherever the recording stops matching the song: at a silence, or at a
    jump. Each one's first few milliseconds are left out of finding its place: where the
    song starts they carry the engine's ramp-in.
    """
    skip = round(START_RAMP_S * RATE)
    energy = np.convolve(song * song, np.ones(PERIOD_FRAMES), mode="valid")
    loud = np.abs(heard) > SILENCE
    pieces: list[Piece] = []
    at = 0
    while (ahead := np.flatnonzero(loud[at:])).size:
        body = at + int(ahead[0]) + skip
        head = heard[body:body + PERIOD_FRAMES]
        assert len(head) == PERIOD_FRAMES, "the recording ends in the middle of a sound"
        found = int(np.argmin(energy - 2 * np.correlate(song, head, mode="valid")))
        length = min(len(song) - found, len(heard) - body)
        same = np.abs(song[found:found + length] - heard[body:body + length]) < MATCH
        matched = int(np.argmin(same)) if not same.all() else length
        assert matched >= PERIOD_FRAMES, f"heard at {body} is not the song"
        pieces.append(Piece(found - skip, matched + skip))
        at = body + matched
    return pieces


def test_an_underrun_through_alsa_is_counted_and_the_song_goes_on_from_its_place(
        pulse, tmp_path):
    song = sweep(SONG_S)
    posted, heard = play_recorded(pulse, song, tmp_path)

    xruns = [event for event in posted if event["event"] == "Xrun"]
    assert xruns and xruns[-1]["total"] == len(xruns)
    assert not [event for event in posted if event["event"].startswith("AudioDevice")]

    # Everything heard is the song, in order, from its start to its end: the stall
    # silenced it for a moment and it went on from exactly where it was.
    left = song[:, 0]
    pieces = pieces_of(left, heard)
    assert len(pieces) >= 2, pieces
    assert pieces[0].place < round(START_RAMP_S * RATE), pieces
    for before, after in itertools.pairwise(pieces):
        assert abs(after.place - before.end) <= ZERO_CROSSING_FRAMES, pieces
    last_sound = int(np.flatnonzero(np.abs(left) > SILENCE)[-1])
    assert abs(pieces[-1].end - 1 - last_sound) <= ZERO_CROSSING_FRAMES, pieces
