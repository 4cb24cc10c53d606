"""A stand-in USB stick built in tmp_path: tiny audio files, setlists, junk."""

from __future__ import annotations

import os
from pathlib import Path

import av
import mutagen
import numpy as np
import soundfile
from av.audio.stream import AudioStream
from mutagen.id3 import TIT2

from stagebox.media.model import Library
from stagebox.media.scan import scan_stick

_ID3_ONLY = {".wav", ".aif", ".aiff"}
"""Formats mutagen tags with raw ID3 frames, having no 'easy' interface."""
FFMPEG_FORMATS = {".m4a": ("aac", "ipod"), ".wma": ("wmav2", "asf"), ".opus": ("libopus", "ogg")}
"""What libsndfile cannot write: FFmpeg's encoder and container for each."""
RATE = 48000


def encoded(path: Path, codec: str, container: str) -> Path:
    """0.2 s of a quiet tone encoded by FFmpeg, as a phone or a desktop player would."""
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=RATE, layout="mono")
        assert isinstance(stream, AudioStream)
        stream.bit_rate = 64000
        tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(RATE // 5) / RATE)
        frame = av.AudioFrame.from_ndarray(tone.astype(np.float32)[None, :], format="flt",
                                           layout="mono")
        frame.sample_rate = RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


class Stick:
    """A folder standing in for a mounted stick."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()

    def audio(self, rel_path: str, title: str | None = None) -> Path:
        """A short file, its format from the extension; ``title`` goes in its tags."""
        path = self._parent_made(rel_path)
        if path.suffix.casefold() in FFMPEG_FORMATS:
            encoded(path, *FFMPEG_FORMATS[path.suffix.casefold()])
        else:
            silence = np.zeros((960, 1), dtype=np.float32)
            soundfile.write(path, silence, RATE, format=_format_of(path))
        if title is not None:
            tagged = mutagen.File(path, easy=True)
            if tagged.tags is None:
                tagged.add_tags()
            if path.suffix.casefold() in _ID3_ONLY:
                tagged.tags.add(TIT2(encoding=3, text=[title]))
            else:
                tagged.tags["title"] = [title]
            tagged.save()
        return path

    def songs(self, *rel_paths: str) -> None:
        for rel_path in rel_paths:
            self.audio(rel_path)

    def text(self, rel_path: str, text: str, encoding: str = "utf-8") -> Path:
        path = self._parent_made(rel_path)
        path.write_bytes(text.encode(encoding))
        return path

    def junk(self, rel_path: str, size: int = 4096) -> Path:
        """A file of seeded random bytes (a corrupt song)."""
        path = self._parent_made(rel_path)
        path.write_bytes(np.random.default_rng(7).bytes(size))
        return path

    def link(self, rel_path: str, target: Path | str) -> Path:
        path = self._parent_made(rel_path)
        os.symlink(target, path)
        return path

    def scan(self, **kwargs) -> Library:
        return scan_stick(self.root, **kwargs)

    def _parent_made(self, rel_path: str) -> Path:
        path = self.root / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


def _format_of(path: Path) -> str:
    suffix = path.suffix.casefold()
    return {".wav": "WAV", ".wave": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG",
            ".mp3": "MP3", ".aif": "AIFF", ".aiff": "AIFF", ".aifc": "AIFF"}[suffix]
