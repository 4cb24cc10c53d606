"""Where the decoder's samples come from: one song file opened by libsndfile or by FFmpeg.

Used in the decoder process only (:mod:`stagebox.audio.decode_worker`, its main thread).
:func:`open_source` looks at the file's first bytes, never at its name, and picks:

- libsndfile for WAV, FLAC, Ogg Vorbis, AIFF and whatever else it opens: it is the
  quickest there and reads the memory file by descriptor itself;
- FFmpeg (PyAV) for MP3, MP4/M4A (AAC, ALAC), ASF (WMA), Ogg Opus, APE, WavPack, a WAV
  whose sizes are zero (a recorder that lost power), and anything libsndfile refuses.

MP3 goes to FFmpeg although libsndfile 1.2.2 decodes it: libsndfile stops where the
header's length says the song ends, and without a Xing/Info frame that length is a guess
from the first frame's bitrate (a 6 s VBR song played 0.9 s), and of two songs joined with
``cat`` it played only the first. FFmpeg decodes the real stream to its end and trims the
encoder's delay and padding exactly from the LAME tag, as libsndfile did. Measured on the
development VM, one minute of 44.1 kHz stereo at 155-160 kbit/s, CBR and VBR, the median
of five, decoded to float32 frames through this module: libsndfile 49-53 ms of CPU,
FFmpeg 61-63 ms (a bare PyAV loop 54-55 ms), about a fifth more; opening it (which counts
the packets, for the true length) 9 ms more.

A start inside a song is exact to the sample in every format. Where the container's
index says where each packet is (MP4, Ogg, WavPack, Matroska) FFmpeg seeks by time; an
MP3 has no index, so the packets counted at open time note each one's first byte, and a
start seeks to the byte of the packet before it (a start at 5:00 of a 10-minute MP3
decoded 5 minutes to get there, 0.4 s on the development VM; now about 1 ms after the
count, which a song's later decoders read from its count file, see
:mod:`stagebox.audio.packet_count`). An ASF (WMA) decodes from the top.

FFmpeg reads the memory file through a fresh open of ``/proc/self/fd/N``: its own file
protocol reads it, with no Python callback per block. Only the audio demuxers in
:data:`FFMPEG_DEMUXERS` may open it: a playlist-like demuxer (HLS, concat) would open
other files or the network.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import struct
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

import numpy as np
import soundfile

from stagebox.audio.packet_count import PacketCount

if TYPE_CHECKING:
    # PyAV is imported when a song needs it (see load_ffmpeg).
    from av.audio.frame import AudioFrame
    from av.audio.stream import AudioStream
    from av.container import InputContainer
    from av.packet import Packet


class SourceError(Exception):
    """The song cannot be opened, or cannot be decoded any further.

    ``cut_short`` says the decoder ran into the end of the file (a copy pulled half-way),
    rather than into damaged data within it. The message is for the user.
    """

    def __init__(self, message: str, cut_short: bool = False) -> None:
        super().__init__(message)
        self.cut_short = cut_short


class Source(Protocol):
    """An open song: blocks of float32 frames in the file's own rate and channels."""

    format: str
    """The container or codec, as the header line names it: ``"FLAC"``, ``"MP3"``, ``"AAC"``..."""
    rate: int
    channels: int
    frames: int
    """The song's length as known at open time: the true length where it can be counted
    cheaply (MP3 and everything FFmpeg decodes: its packets are counted), else the
    header's."""

    def ends_short(self, end_frame: int) -> bool:
        """True if a song whose frames ran out at ``end_frame`` without an error is cut
        short: its header claims more, or (Ogg) its last page is not its stream's end."""
        ...

    def skip_to(self, frame: int) -> None:
        """Go to ``frame`` (from the song's start, at its own rate), exactly; only before
        the first :meth:`read`. Raises :class:`SourceError`."""
        ...

    def read(self, out: np.ndarray) -> int:
        """Fill ``out`` (shape ``(n, channels)``, float32) with the next frames; how many.
        0 at the end. Raises :class:`SourceError`."""
        ...

    def close(self) -> None: ...


FFMPEG_DEMUXERS = ("mp3,mov,asf,ogg,ape,wv,wav,w64,aiff,flac,aac,matroska,caf,tta,"
                   "dsf,mpc,mpc8,ac3,eac3,dts,au")
"""The demuxers FFmpeg may use on a song: audio containers, none that opens another file."""
_OPEN_ERRORS = {3: "damaged sound file", 4: "unsupported audio encoding"}
"""libsndfile's SF_ERR_MALFORMED_FILE and SF_ERR_UNSUPPORTED_ENCODING, said for the user."""
_SNIFF_BYTES = 4096
_MAX_HEADER_CHUNKS = 64
_EXACT_SEEK_DEMUXERS = ("mov", "ogg", "wv", "matroska")
"""FFmpeg's demuxers whose index gives each packet's exact place in the song."""
_BYTE_INDEXED_DEMUXERS = ("mp3",)
"""FFmpeg's demuxers whose packets each start at a byte of their own, and whose seek by
time lands only near the place (from a VBR MP3's table of contents, or its bitrate): the
packets counted at open time say where each one is, and a seek goes to its byte (see
:meth:`FFmpegSource._seek_by_bytes`)."""
MP3_PADDED_PACKETS = 6
"""An MP3's last packets FFmpeg may mark with padding to drop: a LAME tag's padding is at
most 4,095 samples, which can reach into five 1,152-sample frames."""
SEEK_PREROLL_S = 0.5
"""How far before a start an FFmpeg seek lands: the decoder needs the audio before it to
make the start right (AAC's overlapping windows, Opus's 80 ms of pre-roll)."""
CUT_SHORT_SLACK_BYTES = 4096
"""An FFmpeg error this close to the end of the file is the end of a copy pulled half-way,
not damage within it."""
_WAV_UNKNOWN_SIZES = (0, 0xFFFFFFFF)
"""Data sizes that mean "not known": a recorder that never got to write it (0), or a
writer that could not seek back (FFmpeg leaves 0xFFFFFFFF)."""


@dataclass(frozen=True)
class Sniff:
    """What the file's first and last bytes and its chunk headers say it is."""

    ffmpeg_first: bool
    """A format FFmpeg decodes (and libsndfile not, or not to its real end)."""
    declared_frames: int | None = None
    """The length a WAV's data size or an AIFF's COMM chunk says, when it says one:
    libsndfile counts only the frames the file holds."""
    ogg_cut_short: bool = False
    """An Ogg file whose last page is incomplete or not its stream's end."""
    length_in_header: bool = True
    """FFmpeg's length for the stream is the header's claim (not an MP3's: FFmpeg guesses
    one from the bitrate when the Xing frame is missing or does not fit the file)."""
    mpeg_frames: int | None = None
    """The MPEG frames an MP3's Xing, Info or VBRI frame counts."""


def sniff(fd: int, file_bytes: int) -> Sniff:
    """Decide from the file's first bytes and its last (up to :data:`_SNIFF_BYTES` each),
    and a WAV's or AIFF's chunk headers wherever they are."""
    head = os.pread(fd, _SNIFF_BYTES, 0)
    if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
        return _sniff_wav(fd, little=head[:4] == b"RIFF")
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return Sniff(ffmpeg_first=False, declared_frames=_aiff_frames(fd))
    if head[:4] == b"OggS":
        # libsndfile plays nothing of an Ogg Vorbis file cut short; FFmpeg what is there.
        tail = os.pread(fd, _SNIFF_BYTES, max(0, file_bytes - _SNIFF_BYTES))
        cut_short = not _ogg_ends_whole(tail)
        return Sniff(ffmpeg_first=cut_short or b"OpusHead" in head[:512],
                     ogg_cut_short=cut_short)
    id3 = _id3_bytes(head)
    # Cover art makes a tag of hundreds of kilobytes: the audio starts after it.
    body = head[id3:] if id3 + 512 <= len(head) else os.pread(fd, _SNIFF_BYTES, id3)
    if body[:4] == b"fLaC":
        return Sniff(ffmpeg_first=bool(id3))
    if len(body) >= 2 and body[0] == 0xFF and body[1] & 0xE0 == 0xE0:
        return Sniff(ffmpeg_first=True, length_in_header=False,
                     mpeg_frames=_xing_frames(body[:200]))
    ffmpeg_first = (head[4:8] == b"ftyp"                                  # MP4, M4A
                    or head[:4] == b"\x30\x26\xb2\x75"                    # ASF, WMA
                    or head[:4] in (b"MAC ", b"wvpk"))                    # APE, WavPack
    return Sniff(ffmpeg_first=ffmpeg_first, length_in_header=ffmpeg_first)


def _ogg_ends_whole(tail: bytes) -> bool:
    """True if the last Ogg page in ``tail`` (the file's last bytes) is complete and ends
    its stream: a copy cut short stops mid-page, or after a page that is not the last."""
    start = tail.rfind(b"OggS")
    while start >= 0:
        page = tail[start:]
        if len(page) >= 27 and page[4] == 0:  # version 0: a page header, not audio bytes
            segments = page[26]
            if len(page) >= 27 + segments:
                length = 27 + segments + sum(page[27:27 + segments])
                return length == len(page) and bool(page[5] & 0x04)
        start = tail.rfind(b"OggS", 0, start)
    return False


def _xing_frames(first_frame: bytes) -> int | None:
    """The frame count in the Xing/Info (LAME) or VBRI tag of an MP3's first frame, which
    comes after the frame's side information."""
    for tag in (b"Xing", b"Info"):
        at = first_frame.find(tag)
        if at >= 0 and len(first_frame) >= at + 12 and first_frame[at + 7] & 1:
            return int(struct.unpack(">I", first_frame[at + 8:at + 12])[0])
    at = first_frame.find(b"VBRI")
    if at >= 0 and len(first_frame) >= at + 18:
        return int(struct.unpack(">I", first_frame[at + 14:at + 18])[0])
    return None


def _id3_bytes(head: bytes) -> int:
    """The length of an ID3v2 tag at the start of ``head`` (0 if none)."""
    if head[:3] != b"ID3" or len(head) < 10:
        return 0
    size = head[6:10]
    return 10 + (size[0] << 21 | size[1] << 14 | size[2] << 7 | size[3])


def _chunks(fd: int, little: bool) -> Iterator[tuple[bytes, int, int]]:
    """A RIFF or AIFF file's chunks, from its 12th byte: ``(id, size, where its data
    starts)``, read one header at a time (a recorder's metadata before the audio can take
    many kilobytes), at most :data:`_MAX_HEADER_CHUNKS`."""
    position = 12
    for _ in range(_MAX_HEADER_CHUNKS):
        header = os.pread(fd, 8, position)
        if len(header) < 8:
            return
        (size,) = struct.unpack("<I" if little else ">I", header[4:])
        yield header[:4], size, position + 8
        position += 8 + size + (size & 1)


def _sniff_wav(fd: int, little: bool) -> Sniff:
    """A WAV's data size in frames, from its ``fmt `` and ``data`` chunks."""
    block_align = 0
    for chunk_id, size, start in _chunks(fd, little):
        if chunk_id == b"fmt ":
            (block_align,) = struct.unpack("<H" if little else ">H",
                                           os.pread(fd, 2, start + 12).rjust(2, b"\0"))
        elif chunk_id == b"data":
            if size in _WAV_UNKNOWN_SIZES:
                return Sniff(ffmpeg_first=size == 0)
            declared = size // block_align if block_align else None
            return Sniff(ffmpeg_first=False, declared_frames=declared)
    return Sniff(ffmpeg_first=False)


def _aiff_frames(fd: int) -> int | None:
    """The frame count in an AIFF's COMM chunk."""
    for chunk_id, _, start in _chunks(fd, little=False):
        if chunk_id == b"COMM":
            comm = os.pread(fd, 6, start)
            return struct.unpack(">I", comm[2:6])[0] if len(comm) == 6 else None
    return None


def open_source(fd: int, count_fd: int | None = None) -> Source:
    """Open the memory file ``fd`` with the library its content calls for.

    A fresh open file description of it, so this process's reads never move the offset of
    another decoder started from the same memory file. ``count_fd`` is the song's count
    file (:mod:`stagebox.audio.packet_count`), if it has one. Raises :class:`SourceError`.
    """
    try:
        own_fd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        own_fd = os.dup(fd)
        os.lseek(own_fd, 0, os.SEEK_SET)
    try:
        file_bytes = os.fstat(own_fd).st_size
        found = sniff(own_fd, file_bytes)
        openers: list[Callable[[], Source]] = [
            lambda: SndfileSource(own_fd, file_bytes, found),
            lambda: FFmpegSource(own_fd, file_bytes, found, count_fd)]
        if found.ffmpeg_first:
            openers.reverse()
        first_error = None
        for opener in openers:
            try:
                source = opener()
            except SourceError as exc:
                first_error = first_error or exc
                continue
            return source
        assert first_error is not None
        raise first_error
    finally:
        os.close(own_fd)


class _SequentialSoundFile(soundfile.SoundFile):
    """A SoundFile whose reads never seek.

    soundfile follows every read with a seek to where the read ended (``_cdata_io``), for
    files that say they are seekable: a system call per block for nothing, when reading
    straight through. :meth:`seek` itself still works.
    """

    frames_before_error = 0
    """How many frames the last read gave before it failed."""

    def seekable(self) -> bool:
        return False

    def _cdata_io(self, action: str, data: object, ctype: str, frames: int) -> int:
        # soundfile checks for an error after the call, and its exception loses how many
        # frames the call gave first: the last good audio of a damaged file.
        self._check_if_closed()
        read = getattr(soundfile._snd, f"sf_{action}f_{ctype}")
        self.frames_before_error = read(self._file, data, frames)
        soundfile._error_check(self._errorcode)
        return self.frames_before_error


class SndfileSource:
    """A song libsndfile decodes, reading the memory file by descriptor itself."""

    def __init__(self, fd: int, file_bytes: int, found: Sniff) -> None:
        self._fd = os.dup(fd)
        self._file_bytes = file_bytes
        try:
            self._file = _SequentialSoundFile(self._fd, closefd=False)
        except soundfile.LibsndfileError as exc:
            os.close(self._fd)
            raise SourceError(_OPEN_ERRORS.get(exc.code, "not a sound file")) from exc
        except (soundfile.SoundFileError, TypeError, ValueError, MemoryError) as exc:
            os.close(self._fd)
            raise SourceError("not a sound file") from exc
        self.format = self._file.format
        self.rate = self._file.samplerate
        self.channels = self._file.channels
        # libsndfile counts a WAV's frames up to the end of the file when its data size
        # says more: the true length. The size it said is how we know it is cut short.
        self.frames = max(0, self._file.frames)
        self._declared_frames = (found.declared_frames if self.format in ("WAV", "AIFF")
                                 else self.frames)
        self._ogg_cut_short = found.ogg_cut_short
        self._error: SourceError | None = None
        """Raised by the next read: the one that failed gave frames first."""

    def ends_short(self, end_frame: int) -> bool:
        return self._ogg_cut_short or (self._declared_frames is not None
                                       and end_frame < self._declared_frames)

    def skip_to(self, frame: int) -> None:
        if frame:
            try:
                self._file.seek(frame)
            except (soundfile.SoundFileError, RuntimeError) as exc:
                raise SourceError("cannot seek in this file") from exc

    def read(self, out: np.ndarray) -> int:
        if self._error is not None:
            raise self._error
        try:
            return len(self._file.read(out=out))
        except (soundfile.SoundFileError, RuntimeError) as exc:
            # libsndfile reads the descriptor itself: where it got to tells a file that
            # stops mid-frame from damage within it.
            at_end = os.lseek(self._fd, 0, os.SEEK_CUR) >= self._file_bytes
            self._error = SourceError(_reason(exc), cut_short=at_end)
            self._error.__cause__ = exc
            if self._file.frames_before_error:
                return self._file.frames_before_error
            raise self._error from exc

    def close(self) -> None:
        self._file.close()
        os.close(self._fd)


def _reason(exc: Exception) -> str:
    """libsndfile's message without its decoration ("Error : flac decoder lost sync.")."""
    text = exc.error_string if isinstance(exc, soundfile.LibsndfileError) else str(exc)
    return text.removeprefix("Error : ").rstrip(".") or type(exc).__name__


def load_ffmpeg() -> ModuleType:
    """Import PyAV (FFmpeg) with its log quiet: the decoder's last line on stderr is the
    message the player shows, and FFmpeg's warnings are not for the stage."""
    import av

    av.logging.set_level(None)
    return av


_CODEC_NAMES = {"mp3float": "MP3", "mp3": "MP3", "aac": "AAC", "alac": "ALAC",
                "opus": "OPUS", "libopus": "OPUS", "wmav1": "WMA", "wmav2": "WMA",
                "wmapro": "WMA", "wmalossless": "WMA", "ape": "APE", "wavpack": "WAVPACK",
                "vorbis": "OGG", "flac": "FLAC"}
_SAMPLE_TYPES: dict[str, tuple[type[np.generic], float]] = {
    "flt": (np.float32, 1.0), "dbl": (np.float64, 1.0), "s16": (np.int16, 1 / 32768),
    "s32": (np.int32, 1 / 2147483648), "u8": (np.uint8, 1 / 128)}
"""FFmpeg's sample formats (planar or not): their type and the scale to full range 1.0
(unsigned 8-bit is also shifted down by 1.0)."""


class _Packets:
    """The sum of a stream's packets (see :meth:`FFmpegSource._count_packets`), and with
    ``placed``, where each one is."""

    def __init__(self, placed: bool) -> None:
        self.count = 0
        self.ticks = 0
        """Their durations, in the stream's time base."""
        self.longest_ticks = 0
        self.skipped_frames = 0
        self.first_skipped_frames = 0
        """The priming the first packet's decoder drops (an MP3's encoder delay)."""
        self.bytes: array[int] | None = array("q") if placed else None
        """Each packet's first byte in the file, in order."""
        self.ticks_before: array[int] = array("q")
        """Each packet's place in the stream: the durations of the packets before it."""

    def add(self, packet: Packet, skips: bool = True) -> None:
        """Count ``packet``; with ``skips``, what it asks the decoder to drop too."""
        duration = packet.duration or 0
        if self.bytes is not None:
            if packet.pos is None or packet.pos < 0:
                self.bytes = None
            else:
                self.bytes.append(packet.pos)
                self.ticks_before.append(self.ticks)
        self.count += 1
        self.ticks += duration
        self.longest_ticks = max(self.longest_ticks, duration)
        if skips:
            self.add_skips(packet, first=self.count == 1)

    def places(self, to_frames: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Each packet's first byte and the song frame it starts at (the priming
        dropped), or None if the packets do not each start at a byte of their own
        (several in one container packet, or not said)."""
        if self.bytes is None or not self.bytes:
            return None
        place_bytes = np.frombuffer(self.bytes, np.int64)
        if np.any(place_bytes[1:] <= place_bytes[:-1]):
            return None
        ticks = np.frombuffer(self.ticks_before, np.int64)
        place_frames = np.rint(ticks * to_frames).astype(np.int64) - self.first_skipped_frames
        return place_bytes, place_frames

    def add_skips(self, packet: Packet, first: bool = False) -> None:
        """Count the priming and padding ``packet`` (counted already) asks the decoder to
        drop; ``first``: it is the stream's first packet."""
        if packet.has_sidedata("skip_samples"):
            start, end = struct.unpack("<II", bytes(packet.get_sidedata("skip_samples"))[:8])
            self.skipped_frames += start + end
            if first:
                self.first_skipped_frames = start


class _TagSkipper:
    """Tells an MP3's packets that are no MPEG frame: the ID3 tags between songs joined
    with ``cat`` (the second song's ID3v2 tag, whose cover art FFmpeg hands on in pieces
    that may look like frames; the first song's ID3v1 or APE tag). The decoder refuses
    them as bad data. One a pass over the packets, in order."""

    def __init__(self, mp3: bool) -> None:
        self._mp3 = mp3
        self._tag_end = 0
        """The byte after the ID3v2 tag the packets are in, while they are."""

    def is_tag(self, packet: Packet) -> bool:
        if not self._mp3:
            return False
        if packet.pos is not None and 0 <= packet.pos < self._tag_end:
            return True
        head = bytes(memoryview(packet)[:10])
        if head[:3] == b"ID3" and packet.pos is not None and packet.pos >= 0:
            self._tag_end = packet.pos + _id3_bytes(head) + (10 if head[5:6] and
                                                             head[5] & 0x10 else 0)
            return True
        # Anything else is the decoder's to judge: damage within the song is bad data.
        return head.startswith((b"TAG", b"APETAGEX"))


class FFmpegSource:
    """A song FFmpeg decodes (through PyAV), one audio stream, on this thread only."""

    def __init__(self, fd: int, file_bytes: int, found: Sniff,
                 count_fd: int | None = None) -> None:
        try:
            av = load_ffmpeg()
        except ImportError as exc:
            raise SourceError("unsupported audio format") from exc
        self._av = av
        self._mp3 = False
        self._path = f"/proc/self/fd/{fd}"
        self._file_bytes = file_bytes
        container = self._open()
        try:
            stream = container.streams.audio[0]
            context = stream.codec_context
            self.rate = int(context.sample_rate or 0)
            self.channels = int(context.channels or 0)
            if self.rate <= 0 or self.channels <= 0:
                raise SourceError("not a sound file")
            codec = context.name
            self.format = (_CODEC_NAMES.get(codec) or codec.upper()
                           if not codec.startswith("pcm_") else "WAV")
            demuxer = container.format.name.split(",")[0]
            self._mp3 = demuxer == "mp3"
            count = PacketCount.read(count_fd, file_bytes) if count_fd is not None else None
            if count is None:
                count = self._count_packets(container, stream, found,
                                            placed=demuxer in _BYTE_INDEXED_DEMUXERS)
                if count_fd is not None:
                    with contextlib.suppress(OSError):
                        count.write(count_fd)
        except (av.FFmpegError, IndexError, ValueError, TypeError, MemoryError) as exc:
            raise SourceError("not a sound file") from exc
        finally:
            container.close()
        self.frames = count.frames
        self._count = count
        self._container = self._open()
        self._stream = self._container.streams.audio[0]
        self._stream.codec_context.thread_type = "NONE"
        self._frames = self._decoded_frames()
        self._pending: list[np.ndarray] = [np.zeros(0, np.float32)]
        """The decoded frame not yet read, a view of each channel."""
        self._offset = 0
        self._frames_left: int | None = None
        """Frames to the song's end, where this source ends it itself (after a seek by
        bytes): else FFmpeg does, dropping the encoder's padding."""
        self._pending_pts: int | None = None
        self._scale = 1.0
        self._last_byte = 0
        self._largest_packet_bytes = 0
        self._error: SourceError | None = None

    def ends_short(self, end_frame: int) -> bool:
        # Known at open time: the packets are counted.
        return self._count.cut_short

    def _open(self) -> InputContainer:
        try:
            return self._av.open(self._path, options={"format_whitelist": FFMPEG_DEMUXERS})
        except (self._av.FFmpegError, OSError, ValueError, MemoryError) as exc:
            raise SourceError("not a sound file") from exc

    def _count_packets(self, container: InputContainer, stream: AudioStream, found: Sniff,
                       placed: bool) -> PacketCount:
        """Add up the packets' durations and the priming and padding the demuxer asks the
        decoder to drop (from an MP3's LAME tag, an Opus pre-skip): the song's true
        length, and whether it is cut short, without decoding it. With ``placed``, note
        where each packet starts."""
        counted = _Packets(placed)
        tags = _TagSkipper(self._mp3)
        # FFmpeg marks what to drop on an MP3's first packet (the encoder's delay) and
        # its last few (the padding, by their times) only: asking every packet was a
        # fifth of the count's time.
        last: collections.deque[Packet] | None = \
            collections.deque(maxlen=MP3_PADDED_PACKETS) if self._mp3 else None
        # Damaged or cut short: the packets before the damage are what the song holds.
        with contextlib.suppress(self._av.FFmpegError):
            for packet in container.demux(stream):
                if packet.size and not tags.is_tag(packet):
                    first = counted.count == 0
                    counted.add(packet, skips=last is None or first)
                    if last is not None and not first:
                        last.append(packet)
        for packet in last or ():
            counted.add_skips(packet)
        to_frames = (stream.time_base or 0) * self.rate
        frames = max(0, round(counted.ticks * to_frames) - counted.skipped_frames)
        # The demuxers differ in whether a packet's duration already leaves out the padding
        # the decoder drops: packets that fall short of the header's length by more than
        # one packet and all the padding are a file that is cut short, whatever they mean.
        slack_ticks = counted.longest_ticks + counted.skipped_frames / to_frames \
            if to_frames else 0
        cut_short = found.ogg_cut_short or bool(
            found.length_in_header and stream.duration
            and counted.ticks + slack_ticks < stream.duration)
        if found.mpeg_frames is not None:
            # The Xing frame is not a packet; a ``cat`` medley has more than it counts.
            cut_short = counted.count + 1 < found.mpeg_frames
        places = counted.places(float(to_frames)) if to_frames else None
        return PacketCount(self._file_bytes, frames, cut_short,
                           *(places if places is not None else (None, None)))

    def _decoded_frames(self, packets: Iterable[Packet[AudioStream]] | None = None,
                        bare: bool = False) -> Iterator[AudioFrame]:
        """The decoded frames of ``packets`` (else the stream's from where it is), each
        at the song's rate: a stream that changes its rate midway (a 22 kHz MP3 joined
        with ``cat`` to a 44.1 kHz one) is converted by FFmpeg's resampler. Channels are
        matched up in :meth:`_next_frames`.

        ``bare`` decodes the packets without what the demuxer says to drop: after a seek
        by bytes, its idea of the time (and so of where the padding starts) is a guess.
        """
        converter = None
        converting = None  # the frames' rate, layout and format the converter takes
        tags = _TagSkipper(self._mp3)
        for packet in packets if packets is not None else self._container.demux(self._stream):
            if packet.size and tags.is_tag(packet):
                continue
            if packet.size and packet.pos is not None and packet.pos >= 0:
                self._last_byte = packet.pos + packet.size
                self._largest_packet_bytes = max(self._largest_packet_bytes, packet.size)
            decoded = (packet.decode() if not bare else
                       self._stream.decode(self._av.Packet(bytes(packet))) if packet.size
                       else ())
            for frame in decoded:
                kind = (None if frame.sample_rate == self.rate
                        else (frame.sample_rate, frame.layout.name, frame.format.name))
                if kind != converting and converter is not None:
                    # What it holds comes first.
                    yield from converter.resample(None)
                    converter = None
                if kind is None:
                    yield frame
                    continue
                if converter is None:
                    converter = self._av.AudioResampler(format="fltp", layout=kind[1],
                                                        rate=self.rate)
                    converting = kind
                yield from converter.resample(frame)
        if converter is not None:
            yield from converter.resample(None)

    def skip_to(self, frame: int) -> None:
        """Go to ``frame`` exactly: seek to :data:`SEEK_PREROLL_S` before it and decode
        from there where the place a seek lands is known exactly, from the container's
        index (MP4, Ogg, WavPack, Matroska) or the packets counted at open time (MP3);
        else (an ASF, whose seeks land only near the place) decode from the top. Then
        drop the frames before ``frame``."""
        at_frame = 0
        preroll_frames = round(SEEK_PREROLL_S * self.rate)
        demuxer = self._container.format.name.split(",")[0]
        if frame > 2 * preroll_frames and (demuxer in _EXACT_SEEK_DEMUXERS
                                           or self._count.placed):
            at_frame = self._seek_before(frame - preroll_frames)
        block = np.zeros((65536, self.channels), np.float32)
        frame -= at_frame
        while frame > 0:
            got = self.read(block[:min(frame, len(block))])
            if got == 0:
                return
            frame -= got

    def _seek_before(self, frame: int) -> int:
        """Seek to a packet at or before ``frame``; the frame decoding resumes at (0, and
        back at the top, if the stream cannot say)."""
        try:
            at_frame = (self._seek_by_bytes(frame) if self._count.placed
                        else self._seek_by_index(frame))
        except (self._av.FFmpegError, SourceError):
            at_frame = None
        if at_frame is not None:
            return at_frame
        # Back to the top: decoding from there is exact, only slower.
        self._container.close()
        self._container = self._open()
        self._stream = self._container.streams.audio[0]
        self._stream.codec_context.thread_type = "NONE"
        self._frames = self._decoded_frames()
        self._pending = [np.zeros(0, np.float32)]
        self._offset = 0
        self._frames_left = None
        self._error = None
        return 0

    def _seek_by_bytes(self, frame: int) -> int | None:
        """Seek to the first byte of the last packet counted at open time that starts at
        or before ``frame``; the frame decoding resumes at, or None if the demuxer does
        not start there. From there this source decodes the packets bare and ends the
        song itself, where the count says it ends."""
        place = self._count.packet_before(frame)
        if place is None:
            return None
        at_byte, at_frame = place
        self._container.seek(at_byte, unsupported_byte_offset=True)
        self._stream.codec_context.flush_buffers()
        packets = self._container.demux(self._stream)
        first = next((packet for packet in packets if packet.size), None)
        if first is None or first.pos != at_byte:
            return None
        self._frames = self._decoded_frames(itertools.chain((first,), packets), bare=True)
        self._frames_left = max(0, self.frames - at_frame)
        return at_frame

    def _seek_by_index(self, frame: int) -> int | None:
        """Seek through the container's index to a packet at or before ``frame``; the frame
        decoding resumes at, or None if the stream cannot say where that is."""
        stream = self._stream
        time_base = stream.time_base or 0
        start_ticks = stream.start_time or 0
        if not time_base:
            return None
        self._container.seek(start_ticks + int(frame / self.rate / time_base), stream=stream,
                             backward=True)
        stream.codec_context.flush_buffers()
        self._frames = self._decoded_frames()
        if not self._next_frames() or self._pending_pts is None:
            return None
        at_frame = round((self._pending_pts - start_ticks) * time_base * self.rate)
        return at_frame if 0 <= at_frame <= frame else None

    def read(self, out: np.ndarray) -> int:
        if self._error is not None:
            raise self._error
        filled = 0
        wanted = len(out) if self._frames_left is None else min(len(out), self._frames_left)
        while filled < wanted:
            if self._offset == len(self._pending[0]):
                try:
                    if not self._next_frames():
                        break
                except SourceError as exc:
                    if not filled:
                        raise
                    # Raised by the next read: these frames are the last good audio.
                    self._error = exc
                    break
            start = self._offset
            count = min(wanted - filled, len(self._pending[0]) - start)
            for channel, samples in enumerate(self._pending):
                target = out[filled:filled + count, channel]
                if self._scale == 1.0:
                    np.copyto(target, samples[start:start + count], casting="unsafe")
                else:
                    np.multiply(samples[start:start + count], self._scale, out=target,
                                casting="unsafe")
                    if samples.dtype == np.uint8:
                        target -= 1.0
            self._offset = start + count
            filled += count
        if self._frames_left is not None:
            self._frames_left -= filled
        return filled

    def _next_frames(self) -> bool:
        """Decode the next frame into :attr:`_pending`, one array a channel (views of
        FFmpeg's own buffers: no copy); False at the end."""
        try:
            frame = next(self._frames, None)
        except (self._av.FFmpegError, MemoryError) as exc:
            # The demuxer stopped in the packet after the last good one: if that could
            # reach the end of the file, the copy stopped in it.
            at_end = (self._file_bytes - self._last_byte
                      <= max(2 * self._largest_packet_bytes, CUT_SHORT_SLACK_BYTES))
            raise SourceError(str(getattr(exc, "strerror", None) or "bad data"),
                              cut_short=at_end) from exc
        if frame is None:
            return False
        sample_type = _SAMPLE_TYPES.get(frame.format.name.removesuffix("p"))
        if sample_type is None:
            raise SourceError(f"unsupported sample format ({frame.format.name})")
        dtype, self._scale = sample_type
        frames = frame.samples
        if frame.format.is_planar:
            channels = [np.frombuffer(memoryview(plane), dtype, frames)
                        for plane in frame.planes]
        else:
            count = len(frame.layout.channels)
            packed = np.frombuffer(memoryview(frame.planes[0]), dtype, frames * count)
            packed = packed.reshape(frames, count)
            channels = [packed[:, channel] for channel in range(count)]
        # A stream whose channels change midway (a mono song joined to a stereo one) keeps
        # the song's: as the decoder plays a mono song on both sides and only the first two
        # of more, the last channel there is stands in for any missing, the rest are left.
        self._pending = (channels if len(channels) == self.channels else
                         [channels[min(channel, len(channels) - 1)]
                          for channel in range(self.channels)])
        self._offset = 0
        self._pending_pts = frame.pts
        return True

    def close(self) -> None:
        self._container.close()
