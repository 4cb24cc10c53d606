"""The simulated sink: a WAV of exactly what a device would get, on virtual time."""

import numpy as np
import pytest
import soundfile

from stagebox.clock import VirtualClock
from stagebox.hal.audio import SAMPLE_FORMATS, DeviceLost
from stagebox.hal.formats import BlockEncoder, decode
from stagebox.hal.sim_audio import SimSink

SUBTYPES = {"S16_LE": "PCM_16", "S24_3LE": "PCM_24", "S24_LE": "PCM_24", "S32_LE": "PCM_32",
            "FLOAT_LE": "FLOAT"}
STEP = {"S16_LE": 1.5 * 2.0**-15, "S24_3LE": 2.0**-24, "S24_LE": 2.0**-24,
        "S32_LE": 1e-7, "FLOAT_LE": 0.0}


def music(frames: int, start: int = 0) -> np.ndarray:
    t = (start + np.arange(frames)) / 48000
    return np.stack([0.5 * np.sin(2 * np.pi * 440 * t),
                     -0.8 * np.sin(2 * np.pi * 660 * t)], axis=1).astype(np.float32)


@pytest.mark.parametrize("fmt", SAMPLE_FORMATS)
def test_the_wav_holds_every_block_in_the_device_format_on_the_asked_pair(tmp_path, fmt):
    wav = tmp_path / "audio.wav"
    sink = SimSink(VirtualClock(), rate=44100, channels=4, sample_format=fmt,
                   period_frames=512, output_pair=2, wav_path=wav)
    blocks = [music(512, start) for start in range(0, 512 * 6, 512)]
    for block in blocks:
        sink.write(block)
    sink.finish()

    info = soundfile.info(wav)
    assert (info.frames, info.samplerate, info.channels, info.subtype) == (
        6 * 512, 44100, 4, SUBTYPES[fmt])
    heard, _ = soundfile.read(wav, dtype="float32")
    assert np.abs(heard[:, 2:] - np.concatenate(blocks)).max() <= STEP[fmt]
    assert not heard[:, :2].any()
    assert sink.frames_written == 6 * 512


def test_the_wav_samples_are_the_very_codes_the_device_would_get(tmp_path):
    wav = tmp_path / "audio.wav"
    sink = SimSink(VirtualClock(), sample_format="S16_LE", wav_path=wav)
    block = music(1024) * 1e-3  # quiet, so the dither shows in the codes
    sink.write(block)
    sink.finish()
    device_bytes = bytes(BlockEncoder("S16_LE", 2, 4096).encode(block))
    recorded, _ = soundfile.read(wav, dtype="int16")
    assert recorded.tobytes() == device_bytes


def test_each_write_moves_the_clock_on_by_the_block_length():
    clock = VirtualClock(10.0)
    sink = SimSink(clock, rate=48000)
    for frames in (1024, 480, 4096, 1):
        before = clock.now()
        sink.write(music(frames))
        assert clock.now() - before == pytest.approx(frames / 48000, abs=1e-12)
    assert sink.frames_written == 1024 + 480 + 4096 + 1


def test_an_unplugged_interface_fails_every_write_until_plugged_back_in(tmp_path):
    clock = VirtualClock()
    wav = tmp_path / "audio.wav"
    sink = SimSink(clock, wav_path=wav)
    sink.write(music(1024))
    sink.unplug()
    for _ in range(3):
        with pytest.raises(DeviceLost):
            sink.write(music(1024))
    assert (sink.frames_written, clock.now()) == (1024, pytest.approx(1024 / 48000))
    sink.replug()
    sink.write(music(1024))
    sink.finish()
    assert soundfile.info(wav).frames == 2048


def test_a_failure_set_for_the_next_write_happens_once():
    sink = SimSink(VirtualClock())
    sink.fail_next_write(DeviceLost("pulled"))
    with pytest.raises(DeviceLost, match="pulled"):
        sink.write(music(256))
    sink.write(music(256))
    assert sink.frames_written == 256


def test_an_injected_underrun_is_counted_and_the_audio_goes_on(tmp_path):
    wav = tmp_path / "audio.wav"
    sink = SimSink(VirtualClock(), sample_format="FLOAT_LE", wav_path=wav)
    sink.inject_xrun()
    block = music(1024)
    sink.write(block)
    sink.write(block)
    sink.finish()
    assert sink.xruns == 1
    heard, _ = soundfile.read(wav, dtype="float32")
    assert np.array_equal(heard, np.concatenate([block, block]))


def test_the_delay_grows_to_one_full_buffer():
    sink = SimSink(VirtualClock(), period_frames=256, periods=4)
    assert sink.delay_frames() == 0
    sink.write(music(256))
    assert sink.delay_frames() == 256
    for _ in range(8):
        sink.write(music(256))
    assert sink.delay_frames() == sink.config.buffer_frames == 1024


def test_a_mono_device_gets_the_downmix(tmp_path):
    wav = tmp_path / "audio.wav"
    sink = SimSink(VirtualClock(), channels=1, sample_format="S24_LE", output_pair=2,
                   wav_path=wav)
    block = music(1000)
    sink.write(block)
    sink.finish()
    heard, _ = soundfile.read(wav, dtype="float32", always_2d=True)
    assert sink.output_pair == 1
    assert np.abs(heard[:, 0] - block.mean(axis=1)).max() <= STEP["S24_LE"]


def test_without_a_wav_the_sink_still_keeps_time_and_close_is_repeatable():
    clock = VirtualClock()
    sink = SimSink(clock)
    sink.write(music(2400))
    sink.finish()
    sink.finish()
    assert clock.now() == pytest.approx(0.05)


def test_decode_reads_back_what_the_sink_encodes():
    block = music(64)
    data = BlockEncoder("S32_LE", 2, 64).encode(block)
    assert np.abs(decode(data, "S32_LE", 2) - block).max() <= STEP["S32_LE"]
