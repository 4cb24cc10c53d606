"""A thin binding to Rubber Band's C API (``rubberband-c.h``), the distribution's
``librubberband2`` (3.x), in real-time mode only.

ctypes calls into the library and nothing calls back: no Python callback, so no trampoline
memory, which the service's ``MemoryDenyWriteExecute=`` would refuse; and the stretcher is
made with ``OptionThreadingNever``, so the library starts no thread of its own. The library
is opened on first use, never at import.

Audio crosses as planar float32: one contiguous row per channel, held by the caller and
reused block after block; the arrays of channel pointers are built once per stretcher.
"""

from __future__ import annotations

import ctypes
import weakref
from dataclasses import dataclass

import numpy as np

LIBRARY_NAME = "librubberband.so.2"

OPTION_PROCESS_REALTIME = 0x00000001
OPTION_THREADING_NEVER = 0x00010000
OPTION_TRANSIENTS_SMOOTH = 0x00000200
OPTION_PITCH_HIGH_CONSISTENCY = 0x04000000
OPTION_ENGINE_FASTER = 0x00000000
OPTION_ENGINE_FINER = 0x20000000

_State = ctypes.c_void_p
_ChannelPointers = ctypes.POINTER(ctypes.c_void_p)

_SIGNATURES: dict[str, tuple[type | None, list[type]]] = {
    "rubberband_new": (_State, [ctypes.c_uint, ctypes.c_uint, ctypes.c_int,
                                ctypes.c_double, ctypes.c_double]),
    "rubberband_delete": (None, [_State]),
    "rubberband_get_engine_version": (ctypes.c_int, [_State]),
    "rubberband_set_time_ratio": (None, [_State, ctypes.c_double]),
    "rubberband_set_pitch_scale": (None, [_State, ctypes.c_double]),
    "rubberband_get_preferred_start_pad": (ctypes.c_uint, [_State]),
    "rubberband_get_start_delay": (ctypes.c_uint, [_State]),
    "rubberband_set_max_process_size": (None, [_State, ctypes.c_uint]),
    "rubberband_process": (None, [_State, _ChannelPointers, ctypes.c_uint, ctypes.c_int]),
    "rubberband_available": (ctypes.c_int, [_State]),
    "rubberband_retrieve": (ctypes.c_uint, [_State, _ChannelPointers, ctypes.c_uint]),
}


class RubberBandUnavailable(Exception):
    """The Rubber Band library is missing or too old; the message says what to install."""


_library: list[ctypes.CDLL] = []
"""The library once opened (a process opens it once)."""


def library() -> ctypes.CDLL:
    """Rubber Band's shared library with its functions' types declared (any thread;
    opened on the first call)."""
    if _library:
        return _library[0]
    try:
        lib = ctypes.CDLL(LIBRARY_NAME)
    except OSError as exc:
        raise RubberBandUnavailable(
            f"Rubber Band is not installed ({LIBRARY_NAME}: install librubberband2)") from exc
    for name, (restype, argtypes) in _SIGNATURES.items():
        try:
            function = getattr(lib, name)
        except AttributeError as exc:
            raise RubberBandUnavailable(
                f"{LIBRARY_NAME} is older than Rubber Band 3 (no {name})") from exc
        function.restype = restype
        function.argtypes = argtypes
    _library.append(lib)
    return lib


@dataclass(frozen=True)
class Latency:
    """What real-time mode needs to line its output up with its input."""

    start_pad_frames: int
    """Silent frames to feed before the first real one."""
    start_delay_frames: int
    """Output frames to drop after that pad: the first one left is input frame 0."""


class RealTimeStretcher:
    """One Rubber Band stretcher in real-time mode, fed and emptied in planar blocks.

    Called from one thread only (the decoder's): the library has no lock of its own, and
    a ratio change must not run during :meth:`process`.
    """

    def __init__(self, rate: int, channels: int, options: int, time_ratio: float,
                 pitch_scale: float, max_process_frames: int) -> None:
        self._lib = library()
        state = self._lib.rubberband_new(rate, channels,
                                         options | OPTION_PROCESS_REALTIME
                                         | OPTION_THREADING_NEVER,
                                         time_ratio, pitch_scale)
        if not state:
            raise MemoryError("Rubber Band could not make a stretcher")
        self._state = state
        self._finalizer = weakref.finalize(self, self._lib.rubberband_delete, state)
        self._lib.rubberband_set_max_process_size(state, max_process_frames)
        self.channels = channels
        self.max_process_frames = max_process_frames

    @property
    def engine_version(self) -> int:
        """2 for the faster engine (R2), 3 for the finer (R3)."""
        return int(self._lib.rubberband_get_engine_version(self._state))

    def latency(self) -> Latency:
        """The start pad and delay for the ratios set now."""
        return Latency(int(self._lib.rubberband_get_preferred_start_pad(self._state)),
                       int(self._lib.rubberband_get_start_delay(self._state)))

    def set_time_ratio(self, ratio: float) -> None:
        """Output length over input length from the next block on."""
        self._lib.rubberband_set_time_ratio(self._state, ratio)

    def set_pitch_scale(self, scale: float) -> None:
        """Output frequency over input frequency from the next block on."""
        self._lib.rubberband_set_pitch_scale(self._state, scale)

    def process(self, rows: ChannelRows, frames: int, final: bool) -> None:
        """Feed the first ``frames`` of ``rows`` (at most ``max_process_frames``)."""
        if frames > self.max_process_frames:
            raise ValueError(f"{frames} frames in one call, more than the "
                             f"{self.max_process_frames} the stretcher was made for")
        self._lib.rubberband_process(self._state, rows.pointers, frames, int(final))

    def available(self) -> int:
        """Output frames ready to retrieve; -1 once the last has been retrieved after a
        final block."""
        return int(self._lib.rubberband_available(self._state))

    def retrieve(self, rows: ChannelRows, frames: int) -> int:
        """Move up to ``frames`` ready output frames into ``rows``; how many it moved."""
        return int(self._lib.rubberband_retrieve(self._state, rows.pointers,
                                                 min(frames, rows.capacity_frames)))

    def close(self) -> None:
        """Free the library's state now (also done when the object is collected)."""
        self._finalizer()


class ChannelRows:
    """A planar float32 buffer, ``(channels, capacity_frames)``, with the array of channel
    pointers the C API takes, made once."""

    def __init__(self, channels: int, capacity_frames: int) -> None:
        self.array = np.zeros((channels, capacity_frames), np.float32)
        self.capacity_frames = capacity_frames
        row_bytes = capacity_frames * self.array.itemsize
        base = self.array.ctypes.data
        pointers = (ctypes.c_void_p * channels)(*(base + row * row_bytes
                                                  for row in range(channels)))
        self.pointers = ctypes.cast(pointers, _ChannelPointers)
        self._keep = pointers
