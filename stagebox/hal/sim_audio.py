"""The simulated audio sink: records what a device would be given, in virtual time.

:class:`SimSink` encodes every block exactly as :class:`~stagebox.hal.alsa.AlsaSink`
would, appends those samples to a WAV file, and moves the virtual clock on by the
block's length, so a simulated show runs as fast as the CPU allows and its
``audio.wav`` holds every frame the device took. It can also fail on purpose, for
tests of underruns and of an interface pulled mid-show.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile

from stagebox.clock import VirtualClock
from stagebox.hal.audio import SAMPLE_FORMATS, DeviceLost, SinkConfig
from stagebox.hal.formats import BlockEncoder, fit_cue_pair, fit_output_pair

WAV_SUBTYPES = {"S16_LE": "PCM_16", "S24_3LE": "PCM_24", "S24_LE": "PCM_24",
                "S32_LE": "PCM_32", "FLOAT_LE": "FLOAT"}
"""The WAV subtype that holds each sample format without loss."""

_WAV_DTYPES = {"S16_LE": "int16", "S24_3LE": "int32", "S24_LE": "int32", "S32_LE": "int32",
               "FLOAT_LE": "float32"}
"""How the encoded samples are handed to libsndfile (24-bit ones widened to int32)."""


class SimSink:
    """An :class:`~stagebox.hal.audio.AudioSink` on a :class:`VirtualClock`.

    The simulator's loop calls :meth:`write`; tests call the failure methods
    (:meth:`fail_next_write`, :meth:`unplug`, :meth:`replug`, :meth:`inject_xrun`)
    between writes, from the same thread.
    """

    def __init__(self, clock: VirtualClock, rate: int = 48000, channels: int = 2,
                 sample_format: str = "S16_LE", period_frames: int = 1024, periods: int = 4,
                 output_pair: int = 1, wav_path: Path | None = None,
                 max_block_frames: int = 4096, cue_pair: int = 0) -> None:
        if sample_format not in SAMPLE_FORMATS:
            raise ValueError(f"unknown sample format {sample_format!r}")
        self.config = SinkConfig(device="sim", rate=rate, channels=channels,
                                 sample_format=sample_format, period_frames=period_frames,
                                 buffer_frames=period_frames * periods)
        self.output_pair = fit_output_pair(channels, output_pair)
        """The pair the music goes to, chosen as :class:`AlsaSink` chooses it."""
        self.cue_pair, self.cue_warning = fit_cue_pair(channels, self.output_pair, cue_pair)
        self.xruns = 0
        self.frames_written = 0
        self.drops = 0
        """Frames the device has taken (and the WAV holds)."""
        self._clock = clock
        max_frames = max(max_block_frames, period_frames)
        self._encoder = BlockEncoder(sample_format, channels, max_frames, self.output_pair,
                                     cue_pair=self.cue_pair)
        self._unplugged = False
        self._closed = False
        self._next_failure: Exception | None = None
        self._xrun_pending = False
        self._wav: soundfile.SoundFile | None = None
        self._wav_buffer: np.ndarray | None = None
        if wav_path is not None:
            self._wav = soundfile.SoundFile(wav_path, "w", samplerate=rate, channels=channels,
                                            subtype=WAV_SUBTYPES[sample_format], format="WAV")
            if sample_format in ("S24_3LE", "S24_LE"):
                self._wav_buffer = np.zeros((max_frames * channels, 4), np.uint8)

    def write(self, block: np.ndarray) -> None:
        """Take ``block``, float32 ``(frames, 2)`` or with the cue bus ``(frames, 4)``, and
        move the clock on by its length.

        A write that fails (:meth:`fail_next_write`, :meth:`unplug`) takes nothing and
        leaves the clock where it was: how long to wait before trying again is the
        caller's choice, as it is the output thread's on a real device.
        """
        if self._unplugged:
            raise DeviceLost("simulated interface unplugged")
        if self._closed:
            raise DeviceLost("simulated interface closed")
        if self._next_failure is not None:
            failure, self._next_failure = self._next_failure, None
            raise failure
        if self._xrun_pending:
            self._xrun_pending = False
            self.xruns += 1
        data = self._encoder.encode(block)
        if self._wav is not None:
            self._wav.buffer_write(self._wav_samples(data),
                                   _WAV_DTYPES[self.config.sample_format])
        frames = len(block)
        self.frames_written += frames
        self._clock.advance(frames / self.config.rate)

    def delay_frames(self) -> int:
        """Frames written but not yet heard: a blocking writer keeps the device's buffer
        full, so once that has filled, a whole buffer (as :class:`AlsaSink` reports)."""
        return min(self.frames_written, self.config.buffer_frames)

    def drop(self) -> None:
        """Count a drop. The simulated device plays each block as it takes it (its clock
        has already moved on), so there is nothing queued to throw away."""
        self.drops += 1

    def fail_next_write(self, exc: Exception) -> None:
        """Make the next :meth:`write` raise ``exc`` instead of taking its block."""
        self._next_failure = exc

    def unplug(self) -> None:
        """Pull the interface: every :meth:`write` raises DeviceLost until :meth:`replug`."""
        self._unplugged = True

    def replug(self) -> None:
        """Plug the interface back in: writes work again."""
        self._unplugged = False

    def inject_xrun(self) -> None:
        """Count an underrun on the next :meth:`write`, whose audio still goes through."""
        self._xrun_pending = True

    def close(self) -> None:
        """Release the device, as a lost device is released: writes fail until
        :meth:`reopen`. The recording goes on; :meth:`finish` ends it."""
        self._closed = True

    def reopen(self, period_frames: int, periods: int) -> SimSink:
        """Open the device again, as the output thread does when it returns, with a buffer
        of ``periods`` of ``period_frames``."""
        if self._unplugged:
            raise DeviceLost("simulated interface unplugged")
        self._closed = False
        self.config = replace(self.config, period_frames=period_frames,
                              buffer_frames=period_frames * periods)
        return self

    def finish(self) -> None:
        """Release the device and finish the WAV file. Safe to call twice."""
        self.close()
        wav, self._wav = self._wav, None
        if wav is not None:
            wav.close()

    def _wav_samples(self, data: memoryview) -> memoryview | np.ndarray:
        """``data`` as the WAV writer takes it: 24-bit samples as the top three bytes of
        an int32, which libsndfile stores as PCM_24 without change."""
        if self._wav_buffer is None:
            return data
        samples = len(data) // (3 if self.config.sample_format == "S24_3LE" else 4)
        wide = self._wav_buffer[:samples]
        if self.config.sample_format == "S24_3LE":
            wide[:, 1:] = np.frombuffer(data, np.uint8).reshape(samples, 3)
        else:
            wide[:, 1:] = np.frombuffer(data, np.uint8).reshape(samples, 4)[:, :3]
        return wide
