"""Song files made at test time the way real tools and real accidents make them, and
how the tests listen to what the decoder makes of them.

No binary fixtures: each file is encoded here by the library a real tool uses (libsndfile's
LAME for MP3, FFmpeg's encoders through PyAV for AAC, ALAC, Opus, WMA, WavPack), then
broken the way files get broken (a Xing frame an old encoder never wrote, two songs joined
with ``cat``, a recorder that lost power before it wrote the WAV's sizes, a copy pulled
half-way).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile

from stagebox.audio.memfile import load_into_memory
from stagebox.audio.request import DecodeRequest
from stagebox.audio.track import TrackStream

AMPLITUDE = 0.3


def tone(seconds: float, rate: int, hz: float = 440.0, channels: int = 2) -> np.ndarray:
    """A steady sine, ``(frames, channels)`` float32."""
    t = np.arange(round(seconds * rate)) / rate
    wave = (AMPLITUDE * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.repeat(wave[:, None], channels, axis=1)


def chirp(seconds: float, rate: int) -> np.ndarray:
    """A rising tone in stereo: every moment sounds different."""
    t = np.arange(round(seconds * rate)) / rate
    wave = (AMPLITUDE * np.sin(2 * np.pi * (200 + 300 * t) * t)).astype(np.float32)
    return np.stack([wave, wave], 1)


def write_vbr_mp3(path: Path, samples: np.ndarray, rate: int) -> None:
    """A VBR MP3 as LAME writes it (through libsndfile): a Xing frame with a LAME tag first."""
    soundfile.write(path, samples, rate, format="MP3", bitrate_mode="VARIABLE")


def without_xing_frame(mp3: bytes) -> bytes:
    """The MP3 as an encoder that writes no Xing/Info frame would have left it: its first
    frame (the Xing frame, silent) removed, the ID3 tag before it kept."""
    start = _id3_bytes(mp3)
    length = _mpeg_frame_bytes(mp3[start:start + 4])
    first = mp3[start:start + length]
    assert b"Xing" in first or b"Info" in first, "no Xing frame to strip"
    return mp3[:start] + mp3[start + length:]


def _id3_bytes(data: bytes) -> int:
    if data[:3] != b"ID3":
        return 0
    size = data[6:10]
    return 10 + (size[0] << 21 | size[1] << 14 | size[2] << 7 | size[3])


_BITRATES_KBPS = {
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),   # MPEG-1
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),       # MPEG-2
}
_RATES_HZ = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame_bytes(header: bytes) -> int:
    """The length of the Layer III frame that starts with ``header``."""
    assert header[0] == 0xFF and header[1] & 0xE0 == 0xE0, "not an MPEG frame"
    version = (header[1] >> 3) & 3
    mpeg1 = version == 3
    bitrate = _BITRATES_KBPS[mpeg1][header[2] >> 4] * 1000
    rate = _RATES_HZ[version][(header[2] >> 2) & 3]
    return (144 if mpeg1 else 72) * bitrate // rate + ((header[2] >> 1) & 1)


def write_wav_with_sizes(path: Path, samples: np.ndarray, rate: int, riff_size: int,
                         data_size: int, subtype: str = "PCM_16",
                         metadata_bytes: int = 0) -> None:
    """A WAV whose RIFF and data sizes say ``riff_size`` and ``data_size`` whatever its
    audio (0: a recorder that lost power before it could write them); with an ``iXML``
    chunk of ``metadata_bytes`` before the audio, as field recorders write."""
    soundfile.write(path, samples, rate, subtype=subtype, format="WAV")
    data = bytearray(path.read_bytes())
    data_chunk = data.index(b"data")
    if metadata_bytes:
        xml = b"<BWFXML>" + b" " * (metadata_bytes - 17) + b"</BWFXML>"
        data[data_chunk:data_chunk] = b"iXML" + struct.pack("<I", len(xml)) + xml
        data_chunk += 8 + len(xml)
    data[4:8] = struct.pack("<I", riff_size)
    data[data_chunk + 4:data_chunk + 8] = struct.pack("<I", data_size)
    path.write_bytes(bytes(data))


def cut(path: Path, fraction: float) -> None:
    """Keep the first ``fraction`` of the file's bytes: a copy pulled half-way."""
    data = path.read_bytes()
    path.write_bytes(data[:round(len(data) * fraction)])


def encode_with_ffmpeg(path: Path, samples: np.ndarray, rate: int, codec: str,
                       container: str, **container_options: str) -> None:
    """Encode ``samples`` (``(frames, channels)`` float32) with FFmpeg's encoder ``codec``
    into the ``container`` format, as FFmpeg (and the apps built on it) write them."""
    layout = "mono" if samples.shape[1] == 1 else "stereo"
    with av.open(str(path), "w", format=container, options=container_options) as output:
        stream = output.add_stream(codec, rate=rate, layout=layout)
        context = stream.codec_context
        context.bit_rate = 128_000  # ignored by the lossless encoders; WMA needs one
        resampler = av.AudioResampler(format=context.format, layout=layout, rate=rate,
                                      frame_size=context.frame_size or 4096)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T), format="fltp",
                                           layout=layout)
        frame.sample_rate = rate
        for converted in resampler.resample(frame) + resampler.resample(None):
            output.mux(stream.encode(converted))
        output.mux(stream.encode(None))


# --- what a listener hears ------------------------------------------------------------------


def decode(path: Path, out_rate: int, start_s: float = 0.0,
           **options: Any) -> tuple[np.ndarray, TrackStream]:
    """The song as the player hears it: the real decoder process, from a memory file, read
    to its end; and the stream, for its header and error."""
    fd = load_into_memory(path, 1_000_000_000)
    try:
        stream = TrackStream.open(fd, DecodeRequest(out_rate, start_s), wait_for_data=True,
                                  **options)
    finally:
        os.close(fd)
    parts = [np.zeros((0, 2), np.float32)]
    out = np.zeros((100_000, 2), np.float32)
    try:
        while not stream.finished:
            parts.append(out[:stream.read(out)].copy())
    finally:
        stream.close()
    return np.concatenate(parts), stream


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    """The loudest frequency in ``samples`` (one channel)."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


def largest_step(samples: np.ndarray) -> float:
    """The largest jump from one sample to the next, the song followed by the silence
    after it: a song that stops dead mid-wave jumps to zero, a click."""
    padded = np.concatenate([samples, np.zeros((1, samples.shape[1]), samples.dtype)])
    return float(np.abs(np.diff(padded, axis=0)).max())


def fades_out(frames: np.ndarray, rate: int) -> bool:
    """True if the song's last 10 ms fade to silence: no click at the end (no step larger
    than a 440 Hz tone's own at 0.3 makes, into the silence after), and its last 2 ms
    well below the music's level."""
    tail = frames[-round(0.01 * rate):]
    return largest_step(tail) < 0.02 and rms(frames[-round(0.002 * rate):]) < 0.03


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
