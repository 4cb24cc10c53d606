"""From the engine's float32 stereo blocks to the bytes a device takes, and back.

:class:`BlockEncoder` runs on the output thread for every block, so it allocates its
buffers once and reuses them. :func:`decode` is the inverse, for tests and for the
simulator's analysis of what a device was given.
"""

from __future__ import annotations

import math
import random

import numpy as np

from stagebox.hal.audio import SAMPLE_FORMATS

SAMPLE_BYTES = {"S16_LE": 2, "S24_3LE": 3, "S24_LE": 4, "S32_LE": 4, "FLOAT_LE": 4}
"""Bytes one sample takes in each of :data:`SAMPLE_FORMATS`."""

_FULL_SCALE = {"S16_LE": 2.0**15, "S24_3LE": 2.0**23, "S24_LE": 2.0**23, "S32_LE": 2.0**31}
"""Integer value of +1.0 in each integer format (one above the largest code)."""


DITHER_TABLE_FRAMES = 1 << 17
"""Frames of ready-made dither noise (2.7 s at 48 kHz), read from a random place a block."""
SHORT_BLOCK_FRAMES = 4096
"""Up to this many frames a block counts as short (see :meth:`BlockEncoder._clip`)."""
DITHER_OFFSETS = 1 << 12
"""Random places in the dither table drawn ahead, used in turn, one a block."""


def tpdf_noise(rng: random.Random, frames: int, channels: int) -> np.ndarray:
    """TPDF noise of ±1 (in LSBs), float32 of shape ``(frames, channels)``, from ``rng``.

    The difference of two uniform variables of 16 bits each: the sum it is added to, near
    full scale, carries only 8 bits below the LSB in float32 anyway. The standard library's
    generator, not numpy's: importing ``numpy.random`` loads OpenSSL (through ``secrets``),
    6.7 MB of the box's memory and 15 ms of every start, for this one table.
    """
    pairs = np.frombuffer(rng.randbytes(4 * frames * channels), "<u2").reshape(2, -1)
    noise = (pairs[0].astype(np.int32) - pairs[1]).astype(np.float32)
    noise *= 2.0**-16
    return noise.reshape(frames, channels)


def fit_output_pair(device_channels: int, output_pair: int) -> int:
    """The output pair to use on ``device_channels``: ``output_pair`` if the device has
    it, else pair 1 (outputs 1-2), so the music is heard rather than lost."""
    return output_pair if 2 * output_pair <= device_channels else 1


def fit_cue_pair(device_channels: int, output_pair: int, cue_pair: int) -> tuple[int, str]:
    """The cue pair to use on ``device_channels`` (0: no cue bus) and, when ``cue_pair``
    cannot be had, the warning that says why. ``cue_pair`` 0 asks for none."""
    if cue_pair == 0:
        return 0, ""
    if 2 * cue_pair > device_channels:
        return 0, (f"audio.cue_pair = {cue_pair} needs {2 * cue_pair} outputs but the device "
                   f"plays {device_channels}: no cue bus, the click follows "
                   "player.click_without_cue_pair")
    if cue_pair == output_pair:
        return 0, (f"audio.cue_pair = {cue_pair} is the main pair too: no cue bus, the "
                   "click follows player.click_without_cue_pair")
    return cue_pair, ""


class BlockEncoder:
    """Places bus blocks on a device's channels and converts them to its format.

    A block is the main bus (columns 0-1) or the main and cue buses (columns 0-1 and 2-3).
    ``device_channels`` 1 gets the main bus's mono downmix (L+R)/2; 2 gets the main bus
    as it is; more channels get the main bus on ``output_pair`` (1 = channels 1-2,
    2 = channels 3-4, ...), the cue bus on ``cue_pair`` (0: none, its columns dropped),
    and digital silence on the others. 16-bit output gets TPDF dither of ±1 LSB from a
    generator seeded with ``dither_seed``; deeper formats need none.

    Made by whoever opens the sink; :meth:`encode` is then called by the output thread.
    """

    def __init__(self, sample_format: str, device_channels: int, max_frames: int,
                 output_pair: int = 1, dither_seed: int = 0, cue_pair: int = 0) -> None:
        if sample_format not in SAMPLE_FORMATS:
            raise ValueError(f"unknown sample format {sample_format!r}")
        if device_channels < 1:
            raise ValueError("a device has at least one channel")
        if output_pair < 1 or (device_channels >= 2 and 2 * output_pair > device_channels):
            raise ValueError(f"a {device_channels}-channel device has no output pair "
                             f"{output_pair}")
        if device_channels == 1 and output_pair != 1:
            raise ValueError("a mono device has only output pair 1")
        if cue_pair and (cue_pair == output_pair or 2 * cue_pair > device_channels):
            raise ValueError(f"a {device_channels}-channel device playing pair {output_pair} "
                             f"has no cue pair {cue_pair}")
        self.sample_format = sample_format
        self.device_channels = device_channels
        self.max_frames = max_frames
        self.frame_bytes = device_channels * SAMPLE_BYTES[sample_format]
        self.cue_pair = cue_pair
        self._width = 1 if device_channels == 1 else 4 if cue_pair else 2
        first = 0 if device_channels == 1 else 2 * (output_pair - 1)
        # (device columns, work columns) for each bus placed.
        self._targets = [(slice(first, first + min(self._width, 2)), slice(0, 2))]
        if cue_pair:
            self._targets.append((slice(2 * cue_pair - 2, 2 * cue_pair), slice(2, 4)))
        self._dither: np.ndarray | None = None
        self._dither_offsets: list[int] = []
        self._dither_turn = 0
        if sample_format == "S16_LE":
            # TPDF noise made once, and the places to read it from drawn ahead: the output
            # thread draws no random number at all.
            rng = random.Random(dither_seed)
            self._dither = tpdf_noise(rng, DITHER_TABLE_FRAMES + max_frames, self._width)
            self._dither_offsets = [rng.randrange(DITHER_TABLE_FRAMES)
                                    for _ in range(DITHER_OFFSETS)]

        shape = (max_frames, self._width)
        self._main = np.zeros((max_frames, 2), np.float32)
        """The main bus of a block whose cue bus has nowhere to go."""
        # float32 holds 24 bits exactly; 32-bit output needs float64 to keep its low bits.
        self._work = np.zeros(shape, np.float64 if sample_format == "S32_LE" else np.float32)
        full_scale = _FULL_SCALE.get(sample_format)
        # The clip limits as scalars of the work's own type: a Python float would be
        # converted on every call.
        self._highest = self._work.dtype.type(full_scale - 1.0 if full_scale else 1.0)
        self._lowest = self._work.dtype.type(-full_scale if full_scale else -1.0)
        if sample_format == "S24_3LE":
            self._samples = np.zeros(shape, "<i4")
            self._out = np.zeros((max_frames, device_channels, 3), np.uint8)
        else:
            dtype = {"S16_LE": "<i2", "S24_LE": "<i4", "S32_LE": "<i4", "FLOAT_LE": "<f4"}
            self._out = np.zeros((max_frames, device_channels), dtype[sample_format])
        self._bytes = self._out.reshape(-1).view(np.uint8).data

    def encode(self, block: np.ndarray) -> memoryview:
        """The device's bytes for ``block``, float32 of shape ``(frames, 2)`` (the main
        bus) or ``(frames, 4)`` (main and cue buses) (output thread).

        Without a cue pair a cue bus is dropped: the device it was meant for has gone (a
        reopened device with fewer outputs), and the audience must not hear it.
        The returned view is into the encoder's own buffer: valid until the next call.
        """
        frames = len(block)
        if block.ndim != 2 or block.shape[1] not in (2, 4):
            raise ValueError(f"expected a block of buses (frames, 2 or 4), got {block.shape}")
        if frames > self.max_frames:
            raise ValueError(f"block of {frames} frames is over the maximum {self.max_frames}")
        targets = self._targets
        main_silent = False
        # A sum of squares over the block answers two questions in one pass: zero means
        # digital silence (it cannot cancel), and a NaN from a corrupt float file makes
        # it non-finite. Of both buses, one pass gives each column's.
        if block.shape[1] == 4:
            column_energy = np.einsum("ij,ij->j", block, block)
            main_energy = float(column_energy[0] + column_energy[1])
            cue_energy = float(column_energy[2] + column_energy[3])
            if not self.cue_pair or cue_energy == 0.0:
                main = self._main[:frames]
                np.copyto(main, block[:, :2])
                block, energy = main, main_energy
            else:
                main_silent, energy = main_energy == 0.0, main_energy + cue_energy
        else:
            samples = block if block.flags.c_contiguous else np.ascontiguousarray(block)
            samples = samples.reshape(-1)
            energy = float(np.dot(samples, samples))
        if block.shape[1] == 2 and self.cue_pair:
            # A main bus alone: the cue bus is digitally silent, never dithered.
            self._out[:frames, targets[1][0]].fill(0)
            targets = targets[:1]
        width = 1 if self._width == 1 else 2 * len(targets)
        if energy == 0.0:
            # The stream runs on between songs, writing silence: dithering it would put a
            # -96 dB hiss on the PA in every pause. Exact digital silence stays exact.
            for columns, _ in targets:
                self._out[:frames, columns].fill(0)
            return self._bytes[: frames * self.frame_bytes]

        work = self._work[:frames, :width]
        if self.sample_format == "FLOAT_LE":
            self._place(block, work, 1.0)
            if not math.isfinite(energy):
                np.nan_to_num(work, copy=False, nan=0.0)
            self._clip(work)
            self._copy_out(work, frames, targets)
            return self._finish(frames, main_silent)

        full_scale = _FULL_SCALE[self.sample_format]
        # Scaling by full scale (a power of two) is exact, so clipping to ±1 first would
        # change nothing but the cost: the clip to the codes below does both.
        self._place(block, work, full_scale)
        if not math.isfinite(energy):
            # A NaN would otherwise become a full-scale click.
            np.nan_to_num(work, copy=False, nan=0.0)
        if self._dither is not None:
            start = self._dither_offsets[self._dither_turn]
            self._dither_turn = (self._dither_turn + 1) % DITHER_OFFSETS
            work += self._dither[start:start + frames, :width]
        np.rint(work, out=work)
        # Clipping in float before the cast: +1.0 would otherwise wrap to the most
        # negative code, a full-scale click.
        self._clip(work)
        if self.sample_format == "S24_3LE":
            codes = self._samples[:frames, :width]
            np.copyto(codes, work, casting="unsafe")
            code_bytes = codes.view(np.uint8).reshape(frames, width, 4)
            # Byte by byte, each copy one long strided run: five times faster than
            # copying three-byte rows, which numpy does row by row.
            for columns, bus in targets:
                placed = self._out[:frames, columns]
                for byte in range(3):
                    np.copyto(placed[:, :, byte], code_bytes[:, bus, byte])
        else:
            self._copy_out(work, frames, targets)
        return self._finish(frames, main_silent)

    def _finish(self, frames: int, main_silent: bool) -> memoryview:
        """The encoded bytes, with a silent main bus under a sounding cue bus (a count-in
        before the song) made exact digital silence rather than dither."""
        if main_silent:
            self._out[:frames, self._targets[0][0]].fill(0)
        return self._bytes[: frames * self.frame_bytes]

    def _copy_out(self, work: np.ndarray, frames: int,
                  targets: list[tuple[slice, slice]]) -> None:
        if self._width == 1:
            np.copyto(self._out[:frames, targets[0][0]], work, casting="unsafe")
            return
        if work.shape[1] == self.device_channels and all(
                columns == bus for columns, bus in targets):
            # The buses are the device's channels in order (main 1-2, cue 3-4 on four):
            # one contiguous copy, not a strided one a pair.
            np.copyto(self._out[:frames], work, casting="unsafe")
            return
        for columns, bus in targets:
            np.copyto(self._out[:frames, columns], work[:, bus], casting="unsafe")

    def _clip(self, work: np.ndarray) -> None:
        """Clip ``work`` in place to the format's range. ``np.clip`` is one pass, but its
        Python wrapper costs more than the second pass saves on a block of a period or
        two (most of all on the output thread, woken with cold caches)."""
        if len(work) > SHORT_BLOCK_FRAMES:
            np.clip(work, self._lowest, self._highest, out=work)
        else:
            np.minimum(work, self._highest, out=work)
            np.maximum(work, self._lowest, out=work)

    def _place(self, block: np.ndarray, work: np.ndarray, scale: float) -> None:
        """``block`` times ``scale`` into ``work``, the main bus downmixed to mono for a
        mono device."""
        if self._width == 1:
            np.add(block[:, 0:1], block[:, 1:2], out=work)
            work *= 0.5 * scale
        else:
            np.multiply(block, scale, out=work)


def decode(data: bytes | memoryview, sample_format: str, channels: int) -> np.ndarray:
    """``data`` in ``sample_format`` as float32 of shape ``(frames, channels)``.

    Integer codes are divided by full scale, so an encode-decode round trip is exact
    up to quantisation. For tests and the simulator; any thread.
    """
    if sample_format not in SAMPLE_FORMATS:
        raise ValueError(f"unknown sample format {sample_format!r}")
    raw = np.frombuffer(data, np.uint8)
    samples: np.ndarray
    if sample_format == "FLOAT_LE":
        samples = raw.view("<f4").astype(np.float32)
    elif sample_format == "S16_LE":
        samples = raw.view("<i2") / np.float32(_FULL_SCALE["S16_LE"])
    elif sample_format == "S32_LE":
        samples = raw.view("<i4") / _FULL_SCALE["S32_LE"]
    else:
        if sample_format == "S24_3LE":
            triples = raw.reshape(-1, 3).astype(np.int32)
            codes = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        else:
            codes = raw.view("<i4") & 0xFFFFFF
        codes = (codes ^ 0x800000) - 0x800000
        samples = codes / np.float32(_FULL_SCALE[sample_format])
    return samples.astype(np.float32).reshape(-1, channels)
