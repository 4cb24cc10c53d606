"""What the decoder puts on the main and cue buses: split tracks and multichannel files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
from test_track import CHANNEL_HZ, OUT_RATE, dominant_hz, write_tones

from stagebox.audio.launcher import DecoderLauncher
from stagebox.audio.memfile import load_into_memory
from stagebox.audio.request import DecodeRequest
from stagebox.audio.track import TrackStream


def decode_buses(path: Path, most_frames: int = 10**9, guide: Path | None = None,
                 launcher: DecoderLauncher | None = None,
                 **request: object) -> tuple[np.ndarray, TrackStream]:
    """The frames of ``path`` (up to ``most_frames``: a looped song never ends) as the
    decoder lays them on the buses ``request`` asks for, with the guide track ``guide``."""
    fds = [load_into_memory(file, 100_000_000) for file in (path, guide) if file is not None]
    try:
        stream = TrackStream.open(fds[0], DecodeRequest(OUT_RATE, guide=guide is not None,
                                                        **request),  # type: ignore[arg-type]
                                  wait_for_data=True, launcher=launcher,
                                  guide_fd=fds[1] if guide is not None else None)
    finally:
        for fd in fds:
            os.close(fd)
    try:
        assert stream.wait_ready(20.0) and stream.error is None
        out = np.zeros((10_000, stream.channels), np.float32)
        parts, frames = [], 0
        while not stream.finished and frames < most_frames:
            got = stream.read(out)
            parts.append(out[:got].copy())
            frames += got
        return np.concatenate(parts), stream
    finally:
        stream.close()


def tones_of(frames: np.ndarray) -> list[float]:
    """The tone on each channel of ``frames`` (one per source channel, see CHANNEL_HZ)."""
    middle = frames[len(frames) // 8:-len(frames) // 8]
    return [round(dominant_hz(middle[:, column])) for column in range(frames.shape[1])]


@pytest.mark.parametrize(("split", "music", "click"), [("click-left", 1, 0),
                                                       ("click-right", 0, 1)])
def test_a_split_track_puts_its_music_side_on_the_main_bus_and_its_click_side_on_the_cue_bus(
        tmp_path: Path, split: str, music: int, click: int) -> None:
    path = tmp_path / "split.wav"
    write_tones(path, 44100, 2, 1.0)
    frames, stream = decode_buses(path, cue_bus=True, split=split)
    assert stream.header.channels == 4
    music_hz, click_hz = round(CHANNEL_HZ[music]), round(CHANNEL_HZ[click])
    assert tones_of(frames) == [music_hz, music_hz, click_hz, click_hz]
    np.testing.assert_array_equal(frames[:, 0], frames[:, 1])


def test_without_a_cue_bus_a_split_track_plays_only_its_music_side(tmp_path: Path) -> None:
    path = tmp_path / "split.wav"
    write_tones(path, 48000, 2, 1.0)
    frames, stream = decode_buses(path, split="click-left")
    assert stream.header.channels == 2
    assert tones_of(frames) == [round(CHANNEL_HZ[1])] * 2


@pytest.mark.parametrize("channels", [3, 4, 6])
def test_a_multichannel_file_plays_1_2_on_the_main_bus_and_3_4_on_the_cue_bus(
        tmp_path: Path, channels: int) -> None:
    path = tmp_path / "stems.flac"
    write_tones(path, 48000, channels, 1.0)
    frames, _ = decode_buses(path, cue_bus=True)
    third, fourth = CHANNEL_HZ[2], CHANNEL_HZ[3 if channels > 3 else 2]
    assert tones_of(frames) == [round(hz) for hz in (*CHANNEL_HZ[:2], third, fourth)]


def test_a_multichannel_file_without_a_cue_bus_drops_its_cue_channels(tmp_path: Path) -> None:
    path = tmp_path / "stems.wav"
    write_tones(path, 48000, 4, 1.0)
    frames, _ = decode_buses(path)
    assert tones_of(frames) == [round(hz) for hz in CHANNEL_HZ[:2]]


def test_a_stereo_song_on_a_box_with_a_cue_bus_stays_stereo(tmp_path: Path) -> None:
    """Nothing to put on the cue bus: the stream and its ring stay two wide."""
    path = tmp_path / "song.wav"
    write_tones(path, 48000, 2, 0.5)
    frames, stream = decode_buses(path, cue_bus=True)
    assert stream.header.channels == 2 and frames.shape[1] == 2


def test_the_cue_bus_keeps_pace_with_the_main_bus_through_key_speed_and_a_loop(
        tmp_path: Path) -> None:
    """Stretched and looped together: the click side stays sample-locked to the music."""
    path = tmp_path / "split.wav"
    t = np.arange(4 * 48000) / 48000
    pulse = (np.sin(2 * np.pi * 2 * t) > 0.99).astype(np.float32) * 0.5
    soundfile.write(path, np.stack([pulse, pulse], 1), 48000)
    frames, stream = decode_buses(path, 8 * OUT_RATE, cue_bus=True, split="click-left",
                                  speed=0.8,
                                  key_semitones=2, loop_start_s=1.0, loop_end_s=3.0)
    assert stream.header.channels == 4 and stream.header.loop_frames is not None
    envelope_main = np.abs(frames[:, 0])
    envelope_cue = np.abs(frames[:, 2])
    # The same pulses, stretched the same way, on both buses.
    np.testing.assert_allclose(envelope_main, envelope_cue, atol=1e-5)


@pytest.mark.parametrize("options", [{}, {"cue_bus": True},
                                     {"cue_bus": True, "split": "click-right"}])
def test_a_mono_song_plays_on_both_main_sides_and_leaves_the_cue_bus_alone(
        tmp_path: Path, options: dict) -> None:
    path = tmp_path / "mono.wav"
    write_tones(path, 44100, 1, 1.0)
    frames, stream = decode_buses(path, **options)
    assert stream.header.channels == 2
    assert tones_of(frames) == [round(CHANNEL_HZ[0])] * 2
