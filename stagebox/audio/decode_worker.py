"""The decoder process: one song, from a memory file to float32 buses at the output rate.

Forked by the decoder launcher (:mod:`stagebox.audio.launcher`), which calls :func:`run`,
or run as a command of its own, ``python -m stagebox.audio.decode_worker --fd N --request
'{"out_rate": 48000, "start_s": 0.0}' [--ring-fd R]`` (a
:class:`~stagebox.audio.request.DecodeRequest`), with the memory file inherited as
descriptor ``N``. The song file is untrusted, so it is decoded here, where a crash or a runaway
allocation costs one song, not the show.

Protocol on stdout: one line of JSON, then the frames until the end of the song. Given
a ring (``--ring-fd``, see :mod:`stagebox.audio.ring`), the frames go into it, stdout
carries the running count of frames put in and stdin brings back the count the player
has taken out; that is how the player runs it. Without one, stdout carries the frames
themselves, raw interleaved little-endian float32 (for trying the decoder by
hand, and for measuring it alone). The line is either
``{"ok": true, "format": "FLAC", "source_rate": R, "source_channels": C, "channels": 2,
"source_frames": N, "frames": M, "start_frames": S, "loop_frames": [A, B],
"guide_error": null}`` (``frames`` is the whole song, ``start_frames`` where this stream
starts and ``loop_frames`` the section it plays over and over once there, or null; all
at the output rate; ``guide_error`` why the request's guide track cannot play), or
``{"ok": false, "error": "short message"}`` followed by exit status 2. ``frames`` is the
song's true length where it can be known at open time (the packets FFmpeg decodes are
counted: an MP3 without a Xing frame, or two joined with ``cat``), else its header's.

A song that ends early plays what is there and fades out over its last
:data:`END_FADE_S` (never a click): its frames end, then the message as the last line on
stderr and exit status 1: ``ended early: file is cut short`` when its data stops before
its header's length or its file ends in the middle of a frame (a copy pulled half-way),
``ended early: bad data at 12.3 s`` when it is damaged within. The player shows it after
the song's name.

Channels: the stream is the main bus, stereo, or with the request's ``cue_bus`` the main
and cue buses, four channels (main left and right, cue left and right), as the header's
``channels`` says. Mono goes to both sides of the main bus; two channels are kept, or as
a split track (``split``) the music side goes to both sides of the main bus and the click
side to both sides of the cue bus; of more, the first two are the main bus and the third
and fourth the cue bus (a third alone to both its sides). Without a cue bus, cue channels
are dropped: on stage the extra channels of a multichannel backing track are a click or
cues for the band, which must never reach the front of house. A guide track
(``--guide-fd``, :mod:`stagebox.audio.guide`) is added to the cue bus.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
from dataclasses import dataclass
from typing import BinaryIO, Protocol

import numpy as np
import soxr

from stagebox.audio import ring
from stagebox.audio.guide import GuideTrack
from stagebox.audio.looper import SEAM_S, SectionLooper
from stagebox.audio.request import DecodeRequest
from stagebox.audio.ring import RingWriter
from stagebox.audio.rubberband import RubberBandUnavailable
from stagebox.audio.sources import Source, SourceError, open_source
from stagebox.audio.stretch import Stretcher

FIRST_BLOCK_FRAMES = 4096
"""Source frames decoded for the first write: the song's first frames arrive quickly. A
stream with a key or speed gives its first frames only once Rubber Band's delay has been
fed, after the second block: 15 ms after the header with a first block of 4,096 frames,
38 ms with 8,192 (on the README's VM), and a key change waits for them."""
BLOCK_FRAMES = 65536
"""Source frames decoded per block once under way (the first blocks double up to it).
Each block is a call into libsndfile and soxr and a count that wakes the player: at 8192
frames those per-block costs were over a tenth of the CPU of playing a song."""
ADDRESS_SPACE_LIMIT_BYTES = 1 << 30
"""Enough for any block of any sane file; a file built to make the decoder allocate
without end gets a MemoryError instead of taking the box's RAM. FFmpeg's libraries fit
well inside it: a decoder forked from the launcher, PyAV loaded, peaked at 216 MB of
address space decoding a 4-minute M4A."""
MIN_SOURCE_RATE = 1000
MAX_SOURCE_RATE = 768000
END_FADE_S = 0.015
"""A song that ends early (cut short, or damaged data) fades out over its last frames
this long: long enough to be no click, short enough to lose nothing worth hearing."""
EXIT_BAD_FILE = 2
EXIT_DECODE_ERROR = 1


class DecodeError(Exception):
    """The song could not be decoded (any further); the message is for the user."""


def main(argv: list[str] | None = None) -> int:
    """Decode one song to stdout (the decoder process's main thread)."""
    parser = argparse.ArgumentParser(prog="python -m stagebox.audio.decode_worker")
    parser.add_argument("--fd", type=int, required=True, help="memory file to decode")
    parser.add_argument("--request", type=_request, required=True,
                        help="the decode request, a JSON object")
    parser.add_argument("--ring-fd", type=int, default=None,
                        help="ring to put the frames in (else they go to stdout)")
    parser.add_argument("--guide-fd", type=int, default=None,
                        help="memory file of the request's guide track")
    parser.add_argument("--count-fd", type=int, default=None,
                        help="the song's count file: read if whole, else written")
    args = parser.parse_args(argv)
    return run(args.fd, args.request, args.ring_fd, args.guide_fd, args.count_fd)


def _request(text: str) -> DecodeRequest:
    try:
        return DecodeRequest.from_json(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def run(fd: int, request: DecodeRequest, ring_fd: int | None = None,
        guide_fd: int | None = None, count_fd: int | None = None) -> int:
    """Carry out ``request`` on the memory file ``fd``; the exit status.

    The frames go into the ring in the memory file ``ring_fd`` if one is given, else to
    stdout; ``guide_fd`` is the memory file of the request's guide track, ``count_fd`` the
    song's count file (:mod:`stagebox.audio.packet_count`). Limits this
    process's address space and core dumps first, so call it only in the decoder's own
    process (its main thread).
    """
    # A Ctrl-C in the terminal reaches the whole process group: end quietly.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _limit_resources()
    out = sys.stdout.buffer
    try:
        source = _open(fd, count_fd)
    except DecodeError as exc:
        _write_line(out, {"ok": False, "error": str(exc)})
        return EXIT_BAD_FILE
    mapping = bus_mapping(source.channels, request)
    guide, guide_error = _open_guide(guide_fd, request)
    try:
        frames_out = _frames_out(ring_fd, out, _stream_width(mapping, guide))
    except (OSError, ValueError) as exc:
        source.close()
        _write_line(out, {"ok": False, "error": f"decoder cannot start ({exc})"})
        return EXIT_BAD_FILE
    try:
        _decode(source, request, out, frames_out, mapping, guide, guide_error)
    except BrokenPipeError:
        # The player let go of the song. Point stdout at /dev/null so the flush at
        # exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_DECODE_ERROR
    except DecodeError as exc:
        print(exc, file=sys.stderr)
        return EXIT_DECODE_ERROR
    except MemoryError:
        print("decoder ran out of memory", file=sys.stderr)
        return EXIT_DECODE_ERROR
    finally:
        source.close()
        if guide is not None:
            guide.close()
    return 0


def _open_guide(guide_fd: int | None, request: DecodeRequest) -> tuple[GuideTrack | None,
                                                                       str | None]:
    """The request's guide track opened, or None and why not (None: none asked for)."""
    if not request.guide:
        return None, None
    if guide_fd is None:
        return None, "guide track not given"
    try:
        return GuideTrack(_open(guide_fd), request.out_rate), None
    except DecodeError as exc:
        return None, f"guide track: {exc}"


def _stream_width(mapping: BusMapping, guide: GuideTrack | None) -> int:
    """The stream's channels: the song's buses, widened to both by a guide track."""
    return 4 if guide is not None else mapping.width


def _frames_out(ring_fd: int | None, out: BinaryIO, channels: int) -> FramesOut:
    """The ring in ``ring_fd`` as frames of ``channels`` (its descriptor is closed: its
    mapping is all the decoder needs), or stdout."""
    if ring_fd is None:
        return _StdoutFrames(out)
    try:
        frames = ring.attach(ring_fd, channels)
    finally:
        os.close(ring_fd)
    return RingWriter(frames, out.fileno(), sys.stdin.fileno())


def _limit_resources() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > ADDRESS_SPACE_LIMIT_BYTES:
        hard = ADDRESS_SPACE_LIMIT_BYTES
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


def _open(fd: int, count_fd: int | None = None) -> Source:
    """Open the memory file ``fd``; libsndfile and FFmpeg both read it by descriptor, with
    no Python callback per block."""
    try:
        source = open_source(fd, count_fd)
    except SourceError as exc:
        raise DecodeError(str(exc)) from exc
    if not MIN_SOURCE_RATE <= source.rate <= MAX_SOURCE_RATE:
        rate = source.rate
        source.close()
        raise DecodeError(f"unsupported sample rate ({rate} Hz)")
    return source


@dataclass(frozen=True)
class BusMapping:
    """Which source channel feeds each channel of the stream: ``columns`` (None: the
    source's two channels as they are), and so the stream's width, 2 or 4."""

    columns: tuple[int, ...] | None
    width: int


def bus_mapping(source_channels: int, request: DecodeRequest) -> BusMapping:
    """How a source of ``source_channels`` is laid on the buses ``request`` asks for."""
    if source_channels == 1:
        return BusMapping((0, 0), 2)
    if request.split is not None:
        cue, music = (0, 1) if request.split == "click-left" else (1, 0)
        if request.cue_bus:
            return BusMapping((music, music, cue, cue), 4)
        return BusMapping((music, music), 2)
    if source_channels == 2:
        return BusMapping(None, 2)
    if request.cue_bus:
        return BusMapping((0, 1, 2, 3 if source_channels > 3 else 2), 4)
    return BusMapping((0, 1), 2)


def _decode(source: Source, request: DecodeRequest, out: BinaryIO,
            frames_out: FramesOut, mapping: BusMapping, guide: GuideTrack | None = None,
            guide_error: str | None = None) -> None:
    in_rate, out_rate = source.rate, request.out_rate
    source_frames = max(0, source.frames)
    start_frame = min(round(request.start_s * in_rate), source_frames)
    width = _stream_width(mapping, guide)
    block = np.zeros((BLOCK_FRAMES, source.channels), np.float32)
    # From here on the song's frames are its buses; a guide widens them to both.
    tail = HeldTail(frames_out, round(END_FADE_S * out_rate), width)
    # Song time runs up to the stretcher, output time after it: the looper works in the
    # song's frames, so a loop at 80 % still goes round at the same place.
    stretching = _Stretching(tail, out_rate, request, width) \
        if request.stretch.needs_stretching else None
    song_out: HeldTail | _Stretching = tail if stretching is None else stretching
    looper = _looper(request, song_out, _at_rate(start_frame, in_rate, out_rate),
                     _at_rate(source_frames, in_rate, out_rate), width)
    # A stream that starts inside its loop is decoded from just before the loop's start:
    # the whole section must be held before it can go round.
    read_from = start_frame if looper is None else min(
        start_frame, looper.held_from * in_rate // out_rate)
    if looper is not None:
        looper.position = _at_rate(read_from, in_rate, out_rate)
    try:
        source.skip_to(read_from)
    except SourceError as exc:
        raise DecodeError("cannot seek in this file") from exc
    if guide is not None:
        guide.start_at(_at_rate(read_from, in_rate, out_rate))
        guide_error = guide.error
    _write_line(out, {
        "ok": True,
        "format": source.format,
        "source_rate": in_rate,
        "source_channels": source.channels,
        "channels": width,
        "source_frames": source_frames,
        "frames": _at_rate(source_frames, in_rate, out_rate),
        "start_frames": _at_rate(start_frame, in_rate, out_rate),
        "loop_frames": [looper.start, looper.end] if looper is not None else None,
        "guide_error": guide_error,
    })
    buses = _Buses(mapping, in_rate, out_rate)
    sink: HeldTail | _Stretching | SectionLooper = song_out if looper is None else looper
    block_frames = FIRST_BLOCK_FRAMES
    decoded_frames = 0
    error = None
    while True:
        try:
            frames = source.read(block[:block_frames])
        except SourceError as exc:
            error = _ended_early(exc, (start_frame + decoded_frames) / in_rate)
            break
        if frames == 0:
            break
        decoded_frames += frames
        block_frames = min(2 * block_frames, BLOCK_FRAMES)
        song = buses.lay(block[:frames])
        sink.put(guide.lay_on(song) if guide is not None else song)
        if looper is not None and looper.holding_whole_section:
            # From here on the section plays from its copy, until the player lets go.
            looper.loop()
    song = buses.finish()
    if len(song):
        sink.put(guide.lay_on(song) if guide is not None else song)
    if looper is not None:
        # The song ended before the loop's end: it plays out, unlooped.
        looper.pass_on_held()
    if stretching is not None:
        stretching.finish()
    if error is None and source.ends_short(start_frame + decoded_frames):
        error = DecodeError(CUT_SHORT)
    tail.finish(fade=error is not None)
    if error is not None:
        raise error


class _Buses:
    """A song's source channels laid on its buses at the output rate. Only the channels
    the buses take are resampled, each once: a mono song, or a split track's music side,
    is resampled once and then put on both sides it plays on."""

    def __init__(self, mapping: BusMapping, in_rate: int, out_rate: int) -> None:
        # The source channels the buses take (a stereo song's both, as they are), and
        # which of them feeds each channel of the buses.
        picked = [0, 1] if mapping.columns is None else sorted(set(mapping.columns))
        self._picked = None if mapping.columns is None else picked
        self._spread = None if mapping.columns is None else [
            picked.index(column) for column in mapping.columns]
        self._picked_block = np.zeros((BLOCK_FRAMES, len(picked)), np.float32)
        self._resampler = (soxr.ResampleStream(in_rate, out_rate, len(picked),
                                               dtype="float32", quality="HQ")
                           if in_rate != out_rate else None)

    def lay(self, frames: np.ndarray) -> np.ndarray:
        """The buses of the song's next ``frames`` (source channels, at its rate)."""
        if self._picked is not None:
            frames = np.take(frames, self._picked, axis=1,
                             out=self._picked_block[:len(frames)])
        if self._resampler is not None:
            frames = self._resampler.resample_chunk(frames)
        return self._spread_out(frames)

    def finish(self) -> np.ndarray:
        """The last frames the resampler held back, on the buses (none without one)."""
        frames = self._picked_block[:0]
        if self._resampler is not None:
            frames = self._resampler.resample_chunk(frames, last=True)
        return self._spread_out(frames)

    def _spread_out(self, frames: np.ndarray) -> np.ndarray:
        return frames if self._spread is None else np.take(frames, self._spread, axis=1)


class _Stretching:
    """Key and speed between the song's frames and the held tail (Rubber Band)."""

    def __init__(self, tail: HeldTail, rate: int, request: DecodeRequest,
                 channels: int) -> None:
        self._tail = tail
        try:
            self._stretcher = Stretcher(rate, channels, request.stretch)
        except RubberBandUnavailable as exc:
            raise DecodeError(f"no key or speed change: {exc}") from exc

    def put(self, frames: np.ndarray) -> None:
        if len(frames):
            self._tail.put(self._stretcher.process(frames))

    def finish(self) -> None:
        """The stretcher's last frames, so the song is exactly its length at its speed."""
        self._tail.put(self._stretcher.finish())


def _looper(request: DecodeRequest, tail: HeldTail | _Stretching, start: int,
            song_frames: int, channels: int) -> SectionLooper | None:
    """The looper for the request's section (frames at the output rate), or None: no
    loop, or a stream that starts past the section's end."""
    if request.loop_start_s is None or request.loop_end_s is None:
        return None
    rate = request.out_rate
    loop_start, loop_end = round(request.loop_start_s * rate), round(request.loop_end_s * rate)
    if song_frames:
        loop_end = min(loop_end, song_frames)
    seam = round(SEAM_S * rate)
    if loop_end - loop_start < 4 * seam or start >= loop_end - seam:
        return None
    return SectionLooper(tail, loop_start, loop_end, start, seam, channels)


CUT_SHORT = "ended early: file is cut short"
"""What the player shows after the song's name when its data stops before its header's
length (a copy pulled half-way)."""


def _ended_early(exc: SourceError, seconds: float) -> DecodeError:
    if exc.cut_short:
        return DecodeError(CUT_SHORT)
    return DecodeError(f"ended early: bad data at {seconds:.1f} s")


class HeldTail:
    """Passes frames on, always holding back the last ``hold_frames``, so that a song
    that ends early can fade them out instead of stopping dead (a click)."""

    def __init__(self, frames_out: FramesOut, hold_frames: int, channels: int = 2) -> None:
        self._out = frames_out
        self._tail = np.zeros((max(1, hold_frames), channels), np.float32)
        self._held = 0

    def put(self, frames: np.ndarray) -> None:
        """Pass on all but the last ``hold_frames`` of what has come so far."""
        hold = len(self._tail)
        passed = self._held + len(frames) - hold
        if passed > 0:
            from_tail = min(passed, self._held)
            self._out.put(self._tail[:from_tail])
            self._out.put(frames[:passed - from_tail])
            kept = self._held - from_tail
            self._tail[:kept] = self._tail[from_tail:self._held]
            self._tail[kept:] = frames[passed - from_tail:]
            self._held = hold
        else:
            self._tail[self._held:self._held + len(frames)] = frames
            self._held += len(frames)

    def finish(self, fade: bool) -> None:
        """Pass on the frames held back, faded to silence if ``fade``, and flush."""
        tail = self._tail[:self._held]
        if fade:
            # A raised cosine from 1 to 0: no step at either end.
            ramp = 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, len(tail) + 1)[1:])
            tail *= ramp[:, None].astype(np.float32)
        self._out.put(tail)
        self._out.flush()


def _at_rate(frames: int, in_rate: int, out_rate: int) -> int:
    """``frames`` at ``in_rate`` counted at ``out_rate``, rounded as soxr's output is."""
    return (2 * frames * out_rate + in_rate) // (2 * in_rate)


def _write_line(out: BinaryIO, message: dict) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


class FramesOut(Protocol):
    """Where the decoded frames go."""

    def put(self, frames: np.ndarray) -> None: ...

    def flush(self) -> None: ...


class _StdoutFrames:
    """The frames themselves down stdout, when there is no ring."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def put(self, frames: np.ndarray) -> None:
        if len(frames):
            self._out.write(np.ascontiguousarray(frames, dtype="<f4").data)

    def flush(self) -> None:
        self._out.flush()


if __name__ == "__main__":
    sys.exit(main())
