"""``stagebox demo``: a stick of synthesised backing tracks and a scripted show on it.

The songs are a few bars each of drums, bass and chords, made with numpy and written in
different formats and sample rates, with a ``setlist.txt`` that also holds the kinds of
mistakes a real stick has (a missing file, a typo in an option, a broken file), so the
show demonstrates the warnings as well as the music.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import mutagen
import numpy as np
import soundfile
from mutagen.id3 import ID3, TIT2, Encoding
from PIL import Image

from stagebox.config import Config
from stagebox.sim.runner import run_show
from stagebox.sim.script import parse_script
from stagebox.ui.contact_sheet import make_contact_sheet

NOTE_A4_HZ = 440.0
# Chord roots as semitones from A, and whether each chord is minor.
PROGRESSIONS = {
    "pop": [(0, True), (-4, False), (3, False), (-2, False)],    # Am F C G
    "blues": [(0, False), (5, False), (0, False), (7, False)],  # A D A E
    "ballad": [(3, False), (-2, False), (0, True), (-4, False)],  # C G Am F
}


@dataclass(frozen=True)
class DemoSong:
    """One synthesised backing track."""

    file: str
    title: str
    bpm: float
    bars: int
    progression: str
    rate: int
    channels: int
    subtype: str | None = None


DEMO_SONGS = (
    DemoSong("01 Opening Jam.flac", "Opening Jam", 124, 4, "pop", 44100, 2),
    DemoSong("02 Sunset Drive.wav", "Sunset Drive", 110, 4, "blues", 48000, 2),
    DemoSong("03 Slow Burn.ogg", "Slow Burn", 96, 3, "ballad", 44100, 2),
    DemoSong("04 Night Train.mp3", "Night Train", 132, 4, "blues", 44100, 2),
    DemoSong("ballads/05 Long Road Home.aiff",
             "Long Road Home (Extended Acoustic Version)", 84, 2, "ballad", 22050, 1),
)

SETLIST = """\
# Demo setlist: one song per line, options after ' | '
01 Opening Jam.flac
02 Sunset Drive.wav | gain=-1.5dB
03 Slow Burn.ogg | then=next
04 Night Train.mp3 | then=stop gian=2dB
06 Broken Song.flac
07 Not On This Stick.wav
ballads/05 Long Road Home.aiff
"""

SCRIPT = """\
# The demo show (seconds of simulated time)
0.5   insert               # the setlist's mistakes show as warnings
2.0   press play           # Opening Jam; it stops at its end and Sunset Drive waits, cued
6.0   press next           # a tap while a song plays only shows a hint
12.0  press menu           # volume down 3 dB between songs
12.6  press play
13.0  press prev
13.4  press prev
13.8  press prev
14.4  press play
15.0  press menu
17.0  press play           # Sunset Drive
22.0  hold play 1.0        # pause it
25.0  press play           # and carry on
27.0  hold next 1.0        # skip to Slow Burn
30.0  press play           # Slow Burn goes straight on into Night Train (then=next)
44.0  remove               # the stick is pulled: Night Train plays on from memory
50.0  insert
52.0  press next
52.5  press next
53.0  press next
53.5  press next           # the broken file is skipped with a message
55.0  press play           # Long Road Home: its long title scrolls; then the setlist ends
# After the show, practice: the menu's Mode item, then the taps while the song plays.
64.5  press prev           # back to Long Road Home, cued
65.0  press menu
65.3  press next
65.6  press next
65.9  press next           # "Mode: show"
66.2  press play
66.5  press next           # practice
66.8  press play
67.1  press menu
68.0  press play           # Long Road Home in practice mode
68.6  press next           # key +1
68.9  press next           # key +2
69.3  press play           # the speed field
69.6  press prev           # 95 %
69.9  press prev           # 90 %
70.3  press play           # the loop field
70.6  press next           # A
72.2  press next           # B: back to A, round and round
76.5  press next           # let the loop go: the song plays on to its end
80.0  end
"""

README_MOMENTS_S = (0.6, 5.0, 13.5, 23.0, 45.0, 53.9, 58.0, 64.0, 73.0)
"""The demo's moments the README shows: a warning, playing, the menu, paused, the stick
pulled, a broken file skipped, a long title scrolling, the end of the setlist, practice
mode (key +2, 90 %, looping A-B)."""


def run_demo(out: Path) -> int:
    """Make the demo stick under ``out`` and run the show; return the exit status."""
    stick = out / "stick"
    if stick.exists():
        shutil.rmtree(stick)
    make_demo_stick(stick)
    script = out / "show.txt"
    script.write_text(SCRIPT, encoding="utf-8")
    result = run_show(media=stick, steps=parse_script(SCRIPT), out=out, config=Config())
    frames = result.frames()
    images: list[Image.Image] = [Image.open(path) for _, path in frames]
    captions = [f"t={t:.1f}s" for t, _ in frames]
    make_contact_sheet(images, columns=6, captions=captions).save(out / "contact-sheet.png")
    highlights = [_shown_at(frames, t) for t in README_MOMENTS_S]
    highlight_images: list[Image.Image] = [Image.open(path) for path in highlights]
    make_contact_sheet(highlight_images, columns=4, scale=3) \
        .save(out / "highlights.png")
    print(f"demo: {len(DEMO_SONGS)} songs, {result.end_s:.0f} s simulated, "
          f"{len(images)} screens; see {out}/audio.wav, {out}/contact-sheet.png, "
          f"{out}/events.jsonl")
    return 0


def _shown_at(frames: list[tuple[float, Path]], t: float) -> Path:
    """The screen that was showing at ``t``."""
    return [path for shown_t, path in frames if shown_t <= t][-1]


def make_demo_stick(root: Path, seed: int = 7) -> None:
    """Write the demo songs, a broken file and the setlist into ``root``."""
    rng = np.random.default_rng(seed)
    for song in DEMO_SONGS:
        path = root / song.file
        path.parent.mkdir(parents=True, exist_ok=True)
        audio = synthesise(song, rng)
        soundfile.write(path, audio if song.channels == 2 else audio.mean(axis=1),
                        song.rate, subtype=song.subtype)
        _tag_title(path, song.title)
    (root / "06 Broken Song.flac").write_bytes(b"fLaC" + rng.bytes(4096))
    (root / "setlist.txt").write_text(SETLIST, encoding="utf-8")


def _tag_title(path: Path, title: str) -> None:
    tagged = mutagen.File(path, easy=True)
    if tagged is None:
        return
    if tagged.tags is None:
        tagged.add_tags()
    if isinstance(tagged.tags, ID3):  # WAV and AIFF carry plain ID3, with no easy keys
        tagged.tags.add(TIT2(encoding=Encoding.UTF8, text=[title]))
    else:
        tagged["title"] = title
    tagged.save()


def synthesise(song: DemoSong, rng: np.random.Generator) -> np.ndarray:
    """A few bars of drums, bass and chords; float32 stereo at the song's rate."""
    rate = song.rate
    beat_s = 60.0 / song.bpm
    bar_frames = round(4 * beat_s * rate)
    frames = bar_frames * song.bars + int(rate * 1.5)  # room for the last chord to ring
    left = np.zeros(frames, np.float32)
    right = np.zeros(frames, np.float32)
    chords = PROGRESSIONS[song.progression]
    for bar in range(song.bars):
        root, minor = chords[bar % len(chords)]
        start = bar * bar_frames
        chord = _chord(root, minor, bar_frames, rate)
        left[start:start + bar_frames] += 0.22 * chord
        right[start:start + bar_frames] += 0.18 * chord
        for beat in range(4):
            at = start + round(beat * beat_s * rate)
            _add(left, right, at, _kick(rate) if beat % 2 == 0 else _snare(rate, rng), 0.5)
            for half in (0, 1):
                hat_at = at + round(half * beat_s * rate / 2)
                _add(left, right, hat_at, _hat(rate, rng), 0.12, pan=0.3)
            _add(left, right, at, _bass(root + (7 if beat == 3 else 0), beat_s, rate), 0.35)
    ring = _chord(chords[0][0], chords[0][1], frames - bar_frames * song.bars, rate)
    left[bar_frames * song.bars:] += 0.22 * ring
    right[bar_frames * song.bars:] += 0.18 * ring
    stereo = np.stack([left, right], axis=1)
    stereo *= 0.8 / max(1e-9, float(np.abs(stereo).max()))
    return stereo


def _hz(semitones_from_a: float, octave_shift: int = 0) -> float:
    return NOTE_A4_HZ * 2 ** (semitones_from_a / 12 + octave_shift)


def _envelope(frames: int, rate: int, attack_s: float, decay_s: float) -> np.ndarray:
    t = np.arange(frames) / rate
    return np.minimum(1.0, t / attack_s) * np.exp(-t / decay_s)


def _chord(root: int, minor: bool, frames: int, rate: int) -> np.ndarray:
    t = np.arange(frames) / rate
    tones = (0, 3 if minor else 4, 7)
    wave = sum(np.sin(2 * np.pi * _hz(root + tone, -1) * t) for tone in tones)
    return (wave / 3 * _envelope(frames, rate, 0.02, 1.2)).astype(np.float32)


def _bass(root: int, beat_s: float, rate: int) -> np.ndarray:
    frames = int(beat_s * rate * 0.9)
    t = np.arange(frames) / rate
    phase = (_hz(root, -3) * t) % 1.0
    saw = 2 * phase - 1
    return (0.6 * saw + 0.4 * np.sin(2 * np.pi * _hz(root, -3) * t)) \
        * _envelope(frames, rate, 0.005, 0.25)


def _kick(rate: int) -> np.ndarray:
    frames = int(0.25 * rate)
    t = np.arange(frames) / rate
    sweep = 45 + 90 * np.exp(-t / 0.03)
    return np.sin(2 * np.pi * np.cumsum(sweep) / rate) * _envelope(frames, rate, 0.001, 0.09)


def _snare(rate: int, rng: np.random.Generator) -> np.ndarray:
    frames = int(0.2 * rate)
    noise = rng.standard_normal(frames) * 0.4
    tone = np.sin(2 * np.pi * 190 * np.arange(frames) / rate) * 0.5
    return (noise + tone) * _envelope(frames, rate, 0.001, 0.05)


def _hat(rate: int, rng: np.random.Generator) -> np.ndarray:
    frames = int(0.05 * rate)
    noise = np.diff(rng.standard_normal(frames + 1))  # a first difference tilts it bright
    return noise * _envelope(frames, rate, 0.0005, 0.012)


def _add(left: np.ndarray, right: np.ndarray, at: int, sound: np.ndarray, level: float,
         pan: float = 0.0) -> None:
    end = min(len(left), at + len(sound))
    part = sound[:end - at] * level
    left[at:end] += part * (1 - pan)
    right[at:end] += part * (1 + pan)
