"""Generated media for the benchmarks, cached so that a re-run starts at once.

The music is synthesised (chords with harmonics, a kick, a hi-hat, a noise floor), so FLAC
compresses it about as much as a real mix; everything else is built from it. Files are
written under a temporary name and renamed, so an interrupted run never leaves half a file
in the cache.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import av
import mutagen
import numpy as np
import soundfile
import soxr
from av.audio.stream import AudioStream
from mutagen.easyid3 import EasyID3
from mutagen.id3 import TIT2

SOURCE_RATE = 44100
DEVICE_RATE = 48000
SEGMENT_S = 2.0
"""One chord per segment; the synthesis runs segment by segment."""
BEAT_S = 0.5
CHORDS_HZ = (
    (130.81, 164.81, 196.00, 65.41),  # C
    (110.00, 130.81, 164.81, 55.00),  # Am
    (174.61, 220.00, 261.63, 87.31),  # F
    (196.00, 246.94, 293.66, 98.00),  # G
)
HARMONICS = 5


def music_segments(seconds: float, rate: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Stereo float32 music, ``seconds`` long, in segments of :data:`SEGMENT_S`."""
    rng = np.random.default_rng(seed)
    total = round(seconds * rate)
    per_segment = round(SEGMENT_S * rate)
    for index, start in enumerate(range(0, total, per_segment)):
        frames = min(per_segment, total - start)
        t = (start + np.arange(frames)) / rate
        beat_t = np.mod(t, BEAT_S)
        pluck = np.exp(-3.0 * beat_t)
        left = np.zeros(frames)
        right = np.zeros(frames)
        for voice, hz in enumerate(CHORDS_HZ[index % len(CHORDS_HZ)]):
            tone = sum(np.sin(2 * np.pi * hz * h * t + voice) / h for h in range(1, HARMONICS + 1))
            pan = (voice + 1) / (len(CHORDS_HZ[0]) + 1)
            left += (1 - pan) * 0.09 * tone * pluck
            right += pan * 0.09 * tone * pluck
        kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-30 * beat_t)) * beat_t) * np.exp(-8 * beat_t)
        hat_t = np.mod(t + BEAT_S / 2, BEAT_S)
        hat = np.diff(rng.standard_normal(frames + 1)) * np.exp(-40 * hat_t)
        floor = rng.standard_normal((frames, 2)) * 0.004
        left += 0.25 * kick + 0.03 * hat
        right += 0.25 * kick + 0.05 * hat
        block = np.stack([left, right], axis=1) + floor
        yield np.clip(block, -0.95, 0.95).astype(np.float32)


def music_flac(folder: Path, seconds: float) -> Path:
    """A 44.1 kHz 16-bit stereo FLAC of ``seconds`` of music (cached)."""
    path = folder / f"music-{seconds:g}s.flac"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        with soundfile.SoundFile(partial, "w", SOURCE_RATE, 2, "PCM_16", format="FLAC") as out:
            for segment in music_segments(seconds, SOURCE_RATE):
                out.write(segment)
        partial.rename(path)
    return path


MP3_BIT_RATE = 192_000


def music_mp3(folder: Path, flac: Path) -> Path:
    """``flac`` as a 192 kbit/s constant bit rate MP3 (LAME, through PyAV) (cached)."""
    path = folder / f"{flac.stem}.mp3"
    if not path.exists():
        partial = path.with_suffix(".part")
        with soundfile.SoundFile(flac) as source, \
                av.open(str(partial), "w", format="mp3") as out:
            stream = out.add_stream("libmp3lame", rate=source.samplerate, layout="stereo")
            assert isinstance(stream, AudioStream)
            stream.bit_rate = MP3_BIT_RATE
            for block in source.blocks(65536, dtype="float32"):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block.T), format="fltp",
                                                   layout="stereo")
                frame.sample_rate = source.samplerate
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        partial.rename(path)
    return path


def device_rate_wav(folder: Path, flac: Path) -> Path:
    """``flac`` resampled to 48 kHz (soxr HQ) as a 16-bit WAV, for aplay (cached)."""
    path = folder / f"{flac.stem}-48k.wav"
    if not path.exists():
        partial = path.with_suffix(".part")
        resampler = soxr.ResampleStream(SOURCE_RATE, DEVICE_RATE, 2, dtype="float32",
                                        quality="HQ")
        with soundfile.SoundFile(flac) as source, \
                soundfile.SoundFile(partial, "w", DEVICE_RATE, 2, "PCM_16", format="WAV") as out:
            for block in source.blocks(65536, dtype="float32"):
                out.write(resampler.resample_chunk(block))
            out.write(resampler.resample_chunk(np.zeros((0, 2), np.float32), last=True))
        partial.rename(path)
    return path


def _partial_folder(root: Path) -> Path:
    """Where a cached stick is built before it is renamed to ``root``, cleared of what an
    interrupted run left there."""
    partial = root.with_name(root.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    return partial


def song_stick(folder: Path, song: Path, count: int, setlist_repeats: int = 1,
               options: str = "") -> Path:
    """A stick of ``count`` songs, hard links to ``song`` under their own names, with a
    ``setlist.txt`` listing them ``setlist_repeats`` times over, each line with ``options``
    (``key=+2 speed=80%``) if given (cached)."""
    tag = "".join(char for char in options if char.isalnum())
    root = folder / f"stick-{song.stem}-x{count}-r{setlist_repeats}{'-' + tag if tag else ''}"
    if root.exists():
        return root
    partial = _partial_folder(root)
    partial.mkdir(parents=True)
    names = [f"{number:02d} Song {number}{song.suffix}" for number in range(1, count + 1)]
    for name in names:
        os.link(song, partial / name)
    lines = [f"{name} | {options}" if options else name for name in names]
    (partial / "setlist.txt").write_text("\n".join(lines * setlist_repeats) + "\n",
                                         encoding="utf-8")
    partial.rename(root)
    return root


SCAN_FORMATS = (("flac", "FLAC", "PCM_16"), ("wav", "WAV", "PCM_16"), ("ogg", "OGG", "VORBIS"),
                ("mp3", "MP3", "MPEG_LAYER_III"), ("aiff", "AIFF", "PCM_16"))
SCAN_FOLDERS = (10, 5)
"""Artists, then albums per artist: the files spread over two levels of folders."""


def scan_stick(folder: Path, files: int) -> Path:
    """A stick of ``files`` tiny audio files in nested folders (cached).

    Formats rotate through :data:`SCAN_FORMATS`; every third file has a title tag. A cover
    image and a text file sit beside each album, as they do on real sticks, and there is
    no setlist: the box lists "All songs", which reads every file's tags.
    """
    root = folder / f"scan-stick-{files}"
    if root.exists():
        return root
    partial = _partial_folder(root)
    prototypes = _scan_prototypes(folder / "scan-prototypes")
    artists, albums = SCAN_FOLDERS
    per_album = -(-files // (artists * albums))
    made = 0
    for artist in range(1, artists + 1):
        for album in range(1, albums + 1):
            album_dir = partial / f"Artist {artist}" / f"Album {album}"
            album_dir.mkdir(parents=True)
            (album_dir / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(2000))
            (album_dir / "notes.txt").write_text("liner notes\n", encoding="utf-8")
            for track in range(1, per_album + 1):
                if made == files:
                    break
                ext = SCAN_FORMATS[made % len(SCAN_FORMATS)][0]
                tagged = made % 3 == 0
                shutil.copyfile(prototypes[ext, tagged], album_dir / f"{track:02d} Track.{ext}")
                made += 1
    partial.rename(root)
    return root


def _scan_prototypes(folder: Path) -> dict[tuple[str, bool], Path]:
    """One tiny file per format, with and without a title tag."""
    folder.mkdir(parents=True, exist_ok=True)
    audio = next(music_segments(0.2, SOURCE_RATE, seed=1))
    made = {}
    for ext, container, subtype in SCAN_FORMATS:
        for tagged in (False, True):
            path = folder / f"{'tagged' if tagged else 'plain'}.{ext}"
            if not path.exists():
                partial = folder / f"partial.{ext}"
                soundfile.write(partial, audio, SOURCE_RATE, subtype=subtype, format=container)
                if tagged:
                    _tag(partial, ext, "A Tagged Title")
                partial.rename(path)
            made[ext, tagged] = path
    return made


def _tag(path: Path, ext: str, title: str) -> None:
    if ext == "mp3":
        tags = EasyID3()
        tags["title"] = title
        tags.save(path)
        return
    audio = mutagen.File(path)
    if ext in ("wav", "aiff"):
        audio.add_tags()
        audio.tags.add(TIT2(encoding=3, text=[title]))
    else:
        audio["title"] = title
    audio.save()


SETLIST_STICK_DEPTH = 6
"""Folders between the root and each song of :func:`setlist_stick`."""


def setlist_stick(folder: Path, lines: int) -> Path:
    """A stick of ``lines`` distinct songs deep in folders, listed in ``setlist.txt`` and
    again, backwards, in ``setlists/reverse.txt`` (cached).

    Each line is about 100 bytes, so a 10,000-line setlist is just under the scanner's
    1 MB limit: the largest scan result a setlist of plausible paths gives. The songs are
    hard links to the scan stick's tiny files, so every one is read for its tags.
    """
    root = folder / f"setlist-stick-{lines}"
    if root.exists():
        return root
    partial = _partial_folder(root)
    prototypes = _scan_prototypes(folder / "scan-prototypes")
    rel_paths = []
    for number in range(lines):
        artist, album, track = number // 1000, number // 100 % 10, number % 100
        album_dir = (f"Music/Live {artist:02d}/The Band Number {artist:02d}/"
                     f"Album {album} Sessions/Disc 1/Takes")
        assert album_dir.count("/") + 1 == SETLIST_STICK_DEPTH
        ext = SCAN_FORMATS[number % len(SCAN_FORMATS)][0]
        rel_path = f"{album_dir}/{track:02d} A Song With a Longish Title {number:05d}.{ext}"
        (partial / album_dir).mkdir(parents=True, exist_ok=True)
        os.link(prototypes[ext, number % 3 == 0], partial / rel_path)
        rel_paths.append(rel_path)
    (partial / "setlist.txt").write_text("\n".join(rel_paths) + "\n", encoding="utf-8")
    (partial / "setlists").mkdir()
    (partial / "setlists" / "reverse.txt").write_text("\n".join(reversed(rel_paths)) + "\n",
                                                     encoding="utf-8")
    partial.rename(root)
    return root
