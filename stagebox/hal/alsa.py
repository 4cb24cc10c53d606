"""The real audio sink: an ALSA playback device through pyalsaaudio.

What pyalsaaudio (0.10, 0.11) does, from its ``alsaaudio.c``, and what this module
relies on:

- ``PCM(...)`` ignores parameters the device refuses and lets alsa-lib pick others,
  so :meth:`AlsaSink.open` reads ``info()`` back and runs at what was negotiated.
- ``write()`` blocks in ``PCM_NORMAL`` mode until the device has room and returns
  the frames written. On an underrun it re-prepares the stream itself and returns
  ``-EPIPE`` (-32) *without* having written the data; other failures raise
  ``ALSAAudioError("<strerror> [<device>]")``, which carries no errno.
- ``avail()`` returns ``snd_pcm_avail()``, negative on error; there is no ``delay()``.
- ``getchannels()`` walks every count up to the device's maximum, which plugins such as
  ``null``, ``default`` and ``plughw`` report as 2**32-1: it never returns, so
  :func:`probe` tests channel counts by opening the device instead.
- ``close()`` drains what is queued (blocking for up to a buffer's length).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import alsaaudio
import numpy as np

from stagebox.config import Config
from stagebox.hal.audio import SAMPLE_FORMATS, DeviceLost, SinkConfig
from stagebox.hal.formats import BlockEncoder, fit_cue_pair, fit_output_pair

PREFERRED_FORMATS = ("S32_LE", "S24_3LE", "S24_LE", "S16_LE", "FLOAT_LE")
"""The order ``sample_format=None`` tries: deepest first; many USB interfaces take only
24 or 32 bits, and a 16-bit-only device (the Pi's headphone jack) comes last but one."""

PROBE_RATES = (44100, 48000, 88200, 96000)
PROBE_CHANNELS = (1, 2, 4, 6, 8)
FALLBACK_RATES = (48000, 44100)

_ALSA_FORMATS = {name: getattr(alsaaudio, f"PCM_FORMAT_{name}") for name in SAMPLE_FORMATS}
_EPIPE = -errno.EPIPE
_MAX_REFUSED_WRITES = 4
"""Writes in a row that take nothing before the rest of a block is given up."""

_LOST_MESSAGES = frozenset([*(os.strerror(code) for code in (
    errno.ENODEV, errno.EBADFD, errno.EIO, errno.ENOENT, errno.ENXIO, errno.ESHUTDOWN)),
    "PCM device is closed"])
_UNAVAILABLE_MESSAGES = _LOST_MESSAGES | {os.strerror(errno.EBUSY)}

_ErrorHandler = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                 ctypes.c_int, ctypes.c_char_p)
_quiet_handler: list[Any] = []
"""The handler :func:`quiet_alsa_lib` gave alsa-lib, kept alive for as long as alsa-lib
may call it: the process's life (alsa-lib's handler is one per process)."""


def quiet_alsa_lib() -> None:
    """Keep alsa-lib's own error lines off stderr, for the whole process (any thread).

    Every failed open of ``default`` with no card makes alsa-lib print eight
    ``ALSA lib ...`` lines, and the output thread tries once a second while the interface
    is unplugged: the journal filled with them. What went wrong still reaches the log
    and the screen, once, as :class:`DeviceLost`'s message. Harmless to call again; if
    the handler cannot be set (no libasound by that name), alsa-lib stays as it was.
    """
    if _quiet_handler:
        return
    try:
        libasound = ctypes.CDLL("libasound.so.2")
        handler = _ErrorHandler(lambda *_: None)
        libasound.snd_lib_error_set_handler(handler)
    except (OSError, AttributeError, MemoryError):
        return
    _quiet_handler.append(handler)


class PcmLike(Protocol):
    """The part of ``alsaaudio.PCM`` the sink uses (tests pass a fake)."""

    def write(self, data: Any) -> int: ...

    def info(self) -> dict[str, Any]: ...

    def avail(self) -> int: ...

    def drop(self) -> int: ...

    def close(self) -> None: ...


PcmFactory = Callable[..., PcmLike]


@dataclass(frozen=True)
class DeviceInfo:
    """A playback device name for the config, with what it is."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class DeviceCaps:
    """What :func:`probe` found a device accepts."""

    formats: tuple[str, ...]
    rates: tuple[int, ...]
    channels: tuple[int, ...]


class AlsaSink:
    """An opened ALSA playback PCM that takes the engine's stereo float32 blocks.

    Made with :meth:`open` (or, in tests, around any :class:`PcmLike`). Only the
    output thread calls :meth:`write`; :meth:`close` may come from whoever owns the
    sink once that thread has stopped writing.
    """

    def __init__(self, pcm: PcmLike, device: str, output_pair: int = 1,
                 max_block_frames: int = 4096, dither_seed: int = 0,
                 cue_pair: int = 0) -> None:
        """Wrap ``pcm``, reading back from its ``info()`` what it runs at.

        ``pcm`` raises ``alsaaudio.ALSAAudioError`` as the real one does.
        """
        info = pcm.info()
        self.config = SinkConfig(device=device, rate=int(info["rate"]),
                                 channels=int(info["channels"]),
                                 sample_format=str(info["format_name"]),
                                 period_frames=int(info["period_size"]),
                                 buffer_frames=int(info["buffer_size"]))
        self.output_pair = fit_output_pair(self.config.channels, output_pair)
        """The pair the music goes to: the one asked for, or 1 if the device lacks it."""
        self.cue_pair, self.cue_warning = fit_cue_pair(self.config.channels,
                                                       self.output_pair, cue_pair)
        self.xruns = 0
        self.frames_written = 0
        self._pcm: PcmLike | None = pcm
        self._encoder = BlockEncoder(self.config.sample_format, self.config.channels,
                                     max(max_block_frames, self.config.period_frames),
                                     self.output_pair, dither_seed, self.cue_pair)

    @classmethod
    def open(cls, device: str = "default", rate: int = 48000, channels: int = 2,
             sample_format: str | None = None, period_frames: int = 1024, periods: int = 4,
             output_pair: int = 1, max_block_frames: int = 4096,
             pcm_factory: PcmFactory = alsaaudio.PCM, cue_pair: int = 0) -> AlsaSink:
        """Open ``device`` as close to what is asked as it allows (output thread).

        ``sample_format`` None takes the first of :data:`PREFERRED_FORMATS` the device
        accepts. If it refuses ``channels`` it is tried with 2, and if it refuses
        ``rate`` with 48000 and 44100; failing those, with the channels and rate it
        chose itself. :attr:`config` says what was chosen. Raises :class:`DeviceLost`
        if the device cannot be opened, or takes none of :data:`SAMPLE_FORMATS`.
        """
        if sample_format is not None and sample_format not in SAMPLE_FORMATS:
            raise ValueError(f"unknown sample format {sample_format!r}")
        quiet_alsa_lib()
        formats = (sample_format,) if sample_format else PREFERRED_FORMATS
        refusals: list[str] = []
        device_choice: list[tuple[str, int, int]] = []

        def open_pcm(fmt: str, try_channels: int, try_rate: int) -> PcmLike | None:
            """The PCM if the device runs it exactly as asked, else None."""
            try:
                pcm = pcm_factory(type=alsaaudio.PCM_PLAYBACK, mode=alsaaudio.PCM_NORMAL,
                                  device=device, channels=try_channels, rate=try_rate,
                                  format=_ALSA_FORMATS[fmt], periodsize=period_frames,
                                  periods=periods)
            except alsaaudio.ALSAAudioError as exc:
                if _message(exc) in _UNAVAILABLE_MESSAGES:
                    raise DeviceLost(str(exc)) from exc
                refusals.append(str(exc))
                return None
            got = _negotiated(pcm.info())
            if got == (fmt, try_channels, try_rate):
                return pcm
            _close_quietly(pcm)
            if got[0] in SAMPLE_FORMATS:
                device_choice.append(got)
            return None

        for try_channels, try_rate in itertools.product(_unique((channels, 2)),
                                                        _unique((rate, *FALLBACK_RATES))):
            for fmt in formats:
                if pcm := open_pcm(fmt, try_channels, try_rate):
                    return cls(pcm, device, output_pair, max_block_frames, cue_pair=cue_pair)
        if device_choice:
            fallback_fmt, fallback_channels, fallback_rate = device_choice[0]
            for fmt in (*formats, fallback_fmt):
                if pcm := open_pcm(fmt, fallback_channels, fallback_rate):
                    return cls(pcm, device, output_pair, max_block_frames, cue_pair=cue_pair)
        raise DeviceLost(f"{device} takes none of {', '.join(SAMPLE_FORMATS)}"
                         + (f" ({refusals[0]})" if refusals else ""))

    def write(self, block: np.ndarray) -> None:
        """Play ``block``, float32 ``(frames, 2)`` or with the cue bus ``(frames, 4)``, on
        the configured pairs (output thread).

        Blocks until the device has taken it. An underrun is counted in :attr:`xruns`
        and the same data written again at once; a block the device keeps refusing is
        dropped rather than retried forever. Raises :class:`DeviceLost` when the
        device has gone.
        """
        pcm = self._pcm
        if pcm is None:
            raise DeviceLost(f"{self.config.device} is closed")
        data = self._encoder.encode(block)
        frame_bytes = self._encoder.frame_bytes
        frames, done, refused = len(block), 0, 0
        dropped_once = False
        while done < frames and refused < _MAX_REFUSED_WRITES:
            try:
                written = pcm.write(data[done * frame_bytes:])
            except alsaaudio.ALSAAudioError as exc:
                if _message(exc) in _LOST_MESSAGES or dropped_once:
                    raise DeviceLost(str(exc)) from exc
                # A suspended or confused stream: drop() returns it to SETUP, and
                # pyalsaaudio prepares a stream in SETUP before the next write.
                self.xruns += 1
                dropped_once = True
                self._drop(pcm)
                continue
            if written > 0:
                done += written
                refused = 0
            else:
                refused += 1
                if written == _EPIPE:
                    self.xruns += 1
        self.frames_written += done

    def delay_frames(self) -> int:
        """Frames written but not yet heard (any thread; 0 once closed)."""
        if self._pcm is None:
            return 0
        try:
            avail = self._pcm.avail()
        except alsaaudio.ALSAAudioError:
            return 0
        if avail < 0:
            return 0
        return max(0, self.config.buffer_frames - avail)

    def drop(self) -> None:
        """Throw away the queued frames; the next write starts the stream again."""
        if self._pcm is not None:
            self._drop(self._pcm)

    def close(self) -> None:
        """Let what is queued play out and release the device. Safe to call twice."""
        pcm, self._pcm = self._pcm, None
        if pcm is not None:
            _close_quietly(pcm)

    def _drop(self, pcm: PcmLike) -> None:
        try:
            pcm.drop()
        except alsaaudio.ALSAAudioError as exc:
            raise DeviceLost(str(exc)) from exc


def sound_cards() -> list[tuple[int, str]]:
    """The sound cards as (index, id), in index order; none if ALSA cannot say."""
    try:
        return list(zip(alsaaudio.card_indexes(), alsaaudio.cards(), strict=True))
    except (alsaaudio.ALSAAudioError, ValueError):
        return []


def open_configured(config: Config, max_block_frames: int = 4096,
                    cards: Callable[[], list[tuple[int, str]]] = sound_cards,
                    pcm_factory: PcmFactory = alsaaudio.PCM,
                    practising: bool = False) -> AlsaSink:
    """Open the device the ``audio`` settings name, as they ask (see :meth:`AlsaSink.open`),
    with the buffer of practice mode if ``practising``, else of show mode.

    ``max_block_frames`` is the longest block the caller will write. ``default`` is
    ALSA's default (card 0) if that can play, else the first card that can
    (``plughw:CARD=<id>,DEV=0``): a USB MIDI controller plugged in before the
    interface is a sound card too, card 0, with nothing to play on.
    """
    fmt = config["audio.sample_format"]
    period_frames, periods = config.buffer_shape(practising)

    def open_device(device: str) -> AlsaSink:
        return AlsaSink.open(device=device, rate=config["audio.rate"],
                             channels=config["audio.channels"],
                             sample_format=None if fmt == "auto" else fmt,
                             period_frames=period_frames, periods=periods,
                             output_pair=config["audio.output_pair"],
                             cue_pair=config["audio.cue_pair"],
                             max_block_frames=max_block_frames, pcm_factory=pcm_factory)

    device = config["audio.device"]
    try:
        return open_device(device)
    except DeviceLost:
        if device != "default":
            raise
        for _, card_id in cards():
            with contextlib.suppress(DeviceLost):
                return open_device(f"plughw:CARD={card_id},DEV=0")
        raise


def list_devices() -> list[DeviceInfo]:
    """Playback devices worth putting in the config: ``default``, ALSA's named PCMs,
    and each card as ``hw:`` and ``plughw:`` (``stagebox devices``; main thread)."""
    devices = [DeviceInfo("default", "the system's default output")]
    devices += [DeviceInfo(name) for name in alsaaudio.pcms(alsaaudio.PCM_PLAYBACK)]
    for index, card_id in sound_cards():
        try:
            name, long_name = alsaaudio.card_name(index)
        except alsaaudio.ALSAAudioError:
            name = long_name = card_id
        devices.append(DeviceInfo(f"hw:CARD={card_id},DEV=0",
                                  f"{name}: the card itself, its own formats only"))
        devices.append(DeviceInfo(f"plughw:CARD={card_id},DEV=0",
                                  f"{long_name}: with format and rate conversion"))
    unique: dict[str, DeviceInfo] = {}
    for device in devices:
        unique.setdefault(device.name, device)
    return list(unique.values())


def probe(device: str) -> DeviceCaps | None:
    """Which of :data:`SAMPLE_FORMATS`, :data:`PROBE_RATES` and :data:`PROBE_CHANNELS`
    ``device`` accepts, opening it briefly; None if it cannot be opened now (absent,
    or busy playing) (main thread)."""
    try:
        pcm = alsaaudio.PCM(type=alsaaudio.PCM_PLAYBACK, mode=alsaaudio.PCM_NORMAL,
                            device=device)
    except alsaaudio.ALSAAudioError:
        return None
    try:
        accepted = pcm.getformats()
        rates = pcm.getrates()
    except alsaaudio.ALSAAudioError:
        return None
    finally:
        _close_quietly(pcm)
    formats = tuple(f for f in SAMPLE_FORMATS if f in accepted)
    channels = []
    for count in PROBE_CHANNELS:
        try:
            pcm = alsaaudio.PCM(type=alsaaudio.PCM_PLAYBACK, mode=alsaaudio.PCM_NORMAL,
                                device=device, channels=count,
                                format=_ALSA_FORMATS[formats[0]] if formats else
                                alsaaudio.PCM_FORMAT_S16_LE)
        except alsaaudio.ALSAAudioError:
            continue
        if int(pcm.info()["channels"]) == count:
            channels.append(count)
        _close_quietly(pcm)
    rates_ok = tuple(rate for rate in PROBE_RATES if _rate_accepted(rates, rate))
    return DeviceCaps(formats, rates_ok, tuple(channels))


def _rate_accepted(rates: int | tuple[int, int] | list[int], rate: int) -> bool:
    """Whether ``rate`` is in what ``getrates()`` gave: one rate, a (low, high) range,
    or a list of rates."""
    if isinstance(rates, int):
        return rate == rates
    if isinstance(rates, tuple):
        return rates[0] <= rate <= rates[1]
    return rate in rates


def _negotiated(info: dict[str, Any]) -> tuple[str, int, int]:
    return str(info["format_name"]), int(info["channels"]), int(info["rate"])


def _message(exc: Exception) -> str:
    """The strerror part of pyalsaaudio's ``"<strerror> [<device>]"``."""
    return str(exc).rsplit(" [", 1)[0]


def _close_quietly(pcm: PcmLike) -> None:
    with contextlib.suppress(alsaaudio.ALSAAudioError):
        pcm.close()


def _unique(values: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(values))
