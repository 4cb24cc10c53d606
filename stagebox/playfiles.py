"""``stagebox play``: files straight through the engine and ALSA, a quick interface check.

The same loader, decoder, engine and sink as the box, with no buttons and no display:
each file is loaded, cued and played to its end, one after another. The engine waits for
its decoder here rather than play silence when it is late: alsa-lib's ``null`` and
``file`` devices take audio as fast as it comes, and what they record must be the song.

Nothing here answers a button, so blocks of :data:`BLOCK_FRAMES` go to the device
rather than one period at a time: the same audio for a fraction of the per-block work.
Only what playing files needs is imported (not the daemon's display, buttons and
player), so the command starts quickly.
"""

from __future__ import annotations

import gc
import queue
import sys
from pathlib import Path

from stagebox import events as ev
from stagebox.audio.engine import Engine
from stagebox.audio.launcher import DecoderLauncher
from stagebox.audio.loader import Loader, songs_budget_from_meminfo
from stagebox.audio.memfile import BYTES_PER_MB
from stagebox.config import Config
from stagebox.hal.alsa import open_configured
from stagebox.hal.audio import AudioSink, DeviceLost
from stagebox.media.model import Song
from stagebox.workers import InlineWorker

BLOCK_FRAMES = 65536
"""Frames rendered and written at a time (1.4 s at 48 kHz). The engine, the encoder and
the sink each cost some Python per block: at 16384 frames, 7 % of the command's CPU."""
RING_S = 30.0
"""How far each song's decoder may run ahead (11.5 MB at 48 kHz): with a deep ring the
engine reads in long batches (see :data:`stagebox.audio.track.BATCH_FILL`)."""


def play_files(files: list[Path], config: Config) -> int:
    """Play ``files`` in order; return 0 if all played, 1 if any could not be."""
    # Started first, while this process has one thread and no device open: the launcher
    # is then a fork of it, sharing what it has imported instead of starting another
    # interpreter.
    with DecoderLauncher(fork_first=True) as launcher:
        launcher.start()
        return _play(files, config, launcher)


def _play(files: list[Path], config: Config, launcher: DecoderLauncher) -> int:
    try:
        sink = open_configured(config, BLOCK_FRAMES)
    except DeviceLost as exc:
        print(f"stagebox play: cannot open {config['audio.device']}: {exc}", file=sys.stderr)
        return 1
    settings = sink.config
    print(f"{settings.device}: {settings.rate} Hz, {settings.sample_format}, "
          f"{settings.channels} ch, period {settings.period_frames}, "
          f"buffer {settings.buffer_frames} ({settings.latency_s * 1000:.0f} ms)")
    results: queue.SimpleQueue[object] = queue.SimpleQueue()
    block_frames = max(BLOCK_FRAMES, settings.period_frames)
    engine = Engine(settings.rate, max_frames=block_frames, fade_s=config["player.fade_s"])
    loader = Loader(rate=settings.rate, max_bytes=config["player.max_file_mb"] * BYTES_PER_MB,
                    post=results.put, worker=InlineWorker(), wait_for_data=True,
                    ring_s=RING_S, launcher=launcher, budget_bytes=songs_budget_from_meminfo())
    # What exists now lasts the whole run: the collector need not sweep it again.
    gc.freeze()
    failures = 0
    try:
        for load_id, path in enumerate(files, start=1):
            loader.load(load_id, Song(path.absolute(), str(path), path.stem))
            outcome = results.get()
            if isinstance(outcome, ev.TrackFailed):
                print(f"{path}: {outcome.message}", file=sys.stderr)
                failures += 1
                continue
            assert isinstance(outcome, ev.TrackReady)
            print(f"{path} ({outcome.duration_s or 0:.1f} s)")
            engine.cue(load_id, outcome.stream, 0.0)
            engine.play()
            if not _play_to_end(engine, sink, load_id, block_frames):
                failures += 1
            outcome.stream.close()
    except DeviceLost as exc:
        print(f"stagebox play: the interface went away: {exc}", file=sys.stderr)
        return 1
    finally:
        sink.close()
    if sink.xruns:
        print(f"{sink.xruns} underruns", file=sys.stderr)
    return 1 if failures else 0


def _play_to_end(engine: Engine, sink: AudioSink, load_id: int, block_frames: int) -> bool:
    """Write blocks until the song ends, then a buffer and a period of silence to let
    it out."""
    while True:
        sink.write(engine.render(block_frames))
        for notice in engine.take_notices():
            if isinstance(notice, ev.TrackEnded) and notice.load_id == load_id:
                silence_frames = sink.config.buffer_frames + sink.config.period_frames
                while silence_frames > 0:
                    frames = min(block_frames, silence_frames)
                    sink.write(engine.render(frames))
                    silence_frames -= frames
                if notice.error:
                    print(f"  {notice.error}", file=sys.stderr)
                return notice.error is None
