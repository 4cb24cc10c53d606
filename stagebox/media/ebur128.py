"""A loudness meter: libebur128 (Debian's ``libebur128-1``) through ctypes.

ITU-R BS.1770-4 integrated loudness with EBU R128's gating, and the true peak (4x
oversampled below 96 kHz), fed in blocks as a song is decoded: the memory it takes stays
the same whatever the song's length (the gating histogram, no list of blocks). Used in
the measuring process only (:mod:`stagebox.media.measure_process`), never in the box's:
loading the library is the measurer's business.

ctypes calls into the library and takes no callbacks from it, so it needs no writable
and executable memory (the service's ``MemoryDenyWriteExecute=``).
"""

from __future__ import annotations

import ctypes
import math

import numpy as np

LIBRARY = "libebur128.so.1"
"""By soname, not ``ctypes.util.find_library``, which runs ``ldconfig`` or a compiler."""

MODE_I = (1 << 2) | (1 << 0)
MODE_SAMPLE_PEAK = (1 << 4) | (1 << 0)
MODE_TRUE_PEAK = (1 << 5) | MODE_SAMPLE_PEAK
MODE_HISTOGRAM = 1 << 6
"""Gating from a histogram of 0.01 LU steps: constant memory, instead of every block's
energy kept in a list that grows with the song."""
SUCCESS = 0


class MeterUnavailable(Exception):
    """libebur128 is not installed (or not the version this binding speaks to)."""


class MeterError(Exception):
    """The library refused a call (out of memory, most likely)."""


_library: ctypes.CDLL | None = None


def _load() -> ctypes.CDLL:
    """The library with its functions' types declared (once per process)."""
    global _library
    if _library is not None:
        return _library
    try:
        library = ctypes.CDLL(LIBRARY)
    except OSError as exc:
        raise MeterUnavailable(f"{LIBRARY} not found (install libebur128-1)") from exc
    state = ctypes.c_void_p
    library.ebur128_init.argtypes = [ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
    library.ebur128_init.restype = state
    library.ebur128_destroy.argtypes = [ctypes.POINTER(state)]
    library.ebur128_destroy.restype = None
    library.ebur128_add_frames_float.argtypes = [state, ctypes.c_void_p, ctypes.c_size_t]
    library.ebur128_add_frames_float.restype = ctypes.c_int
    library.ebur128_loudness_global.argtypes = [state, ctypes.POINTER(ctypes.c_double)]
    library.ebur128_loudness_global.restype = ctypes.c_int
    library.ebur128_true_peak.argtypes = [state, ctypes.c_uint, ctypes.POINTER(ctypes.c_double)]
    library.ebur128_true_peak.restype = ctypes.c_int
    _library = library
    return library


def version() -> str:
    """The library's version, ``1.2.6``; raises :class:`MeterUnavailable`."""
    library = _load()
    numbers = [ctypes.c_int() for _ in range(3)]
    library.ebur128_get_version(*(ctypes.byref(number) for number in numbers))
    return ".".join(str(number.value) for number in numbers)


class Meter:
    """Integrated loudness and true peak of interleaved float32 frames added in blocks.

    One thread at a time (the measuring process has one). Close it, or use ``with``.
    """

    def __init__(self, rate: int, channels: int = 2) -> None:
        self._library = _load()
        self.channels = channels
        self._state = ctypes.c_void_p(
            self._library.ebur128_init(channels, rate,
                                       MODE_I | MODE_TRUE_PEAK | MODE_HISTOGRAM))
        if not self._state:
            raise MeterError(f"cannot meter {channels} channels at {rate} Hz")

    def add(self, frames: np.ndarray) -> None:
        """Add ``frames``, shape ``(n, channels)``, C-contiguous float32."""
        if frames.dtype != np.float32 or frames.ndim != 2 \
                or frames.shape[1] != self.channels or not frames.flags.c_contiguous:
            raise ValueError(f"frames must be C-contiguous float32 (n, {self.channels})")
        if len(frames) and self._library.ebur128_add_frames_float(
                self._state, frames.ctypes.data, len(frames)) != SUCCESS:
            raise MeterError("out of memory")

    def integrated_lufs(self) -> float:
        """The integrated loudness so far; ``-inf`` when nothing passed the -70 LUFS gate."""
        value = ctypes.c_double()
        if self._library.ebur128_loudness_global(self._state, ctypes.byref(value)) != SUCCESS:
            raise MeterError("no integrated loudness")
        return value.value

    def true_peak_dbtp(self) -> float:
        """The highest true peak of any channel so far, in dBTP; ``-inf`` for silence."""
        peak = 0.0
        value = ctypes.c_double()
        for channel in range(self.channels):
            if self._library.ebur128_true_peak(self._state, channel,
                                               ctypes.byref(value)) != SUCCESS:
                raise MeterError("no true peak")
            peak = max(peak, value.value)
        return 20.0 * math.log10(peak) if peak > 0.0 else -math.inf

    def close(self) -> None:
        """Free the library's state."""
        if self._state:
            self._library.ebur128_destroy(ctypes.byref(self._state))
            self._state = ctypes.c_void_p()

    def __enter__(self) -> Meter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
