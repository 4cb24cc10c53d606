"""Throughput: CPU seconds to push the same song into ALSA's ``null`` device at 48 kHz,
as 44.1 kHz FLAC and as a 192 kbit/s MP3 of it.

Each contender runs as a process of its own and its CPU (user + system, its reaped
children included, so stagebox's decoder counts) is read from ``os.wait4``. The
contenders take turns, ``reps`` rounds over, and each one's median counts.

The machine's speed may drift during a run (a virtual machine's more than most), so each
ratio is the median of the ratios within one turn, rather than the ratio of the medians.
stagebox runs between its two peers with goals, ffmpeg and the floor, which take turns
going first; the MP3 pair swaps every other turn: on the 2-core VM of the README, with
sox's runs between stagebox and the floor, the turn ratios' interquartile range was twice
as wide (0.30 against 0.15 over 20 turns), for the same median.

- stagebox: ``stagebox play --device null --rate 48000 --format S16_LE``: the loader,
  the decoder process, the engine and the ALSA sink, as in the box; as a file player
  that answers no buttons, it renders and writes blocks of
  :data:`stagebox.playfiles.BLOCK_FRAMES` frames, where the box's output thread writes
  one or two periods at a time (the steady playback benchmark measures that).
- ffmpeg: ``ffmpeg -threads 1 -i FILE -af aresample=resampler=soxr -ar 48000 -f alsa
  null``: FFmpeg's decoders and soxr at its default precision (20 bits, soxr's ``HQ``),
  into the same ALSA device in 16 bits, without dither; one decoding thread, since more
  cost more CPU in all. For the FLAC and the MP3.
- sox: ``sox FILE -t alsa null rate -h 48000`` (``-h``: the quality of soxr's ``HQ``,
  which stagebox uses; sox adds TPDF dither to 16 bits, as stagebox does), and with
  ``rate -v`` (sox's best) for reference.
- aplay: the same song already at 48 kHz as a 16-bit WAV: no decoding or resampling.
- floor: soundfile and soxr (HQ), decoding and resampling the FLAC alone in one process.
- decoder: stagebox's decoder process alone (its start-up included), writing to
  ``/dev/null``; decoder start-up: an interpreter importing what the decoder imports,
  which ``stagebox play`` does not pay (it forks its decoders from itself); start-up: the
  player's interpreter importing what ``stagebox play`` imports. With these the notes
  split stagebox's CPU into decoding, the player's start-up and the player's work per
  block (feeder, engine, format conversion, ALSA writes).

Every contender runs with :data:`stagebox.ONE_THREAD_ENV`, as ``stagebox`` sets for itself,
and with its Python modules' bytecode cached, as an installed box has it (pip compiles a
wheel's modules when it installs it): a first turn that is not counted writes the cache
(under the work folder) and warms the page cache for every contender alike.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.report import Report, Row, ratio
from stagebox import ONE_THREAD_ENV
from stagebox.audio.request import DecodeRequest
from stagebox.playfiles import BLOCK_FRAMES

DEVICE = "null"
RATE = 48000
STARTUP = "import stagebox.cli, stagebox.playfiles"
"""What the player process of ``stagebox play`` costs before any audio."""
DECODER_STARTUP = "import stagebox.audio.decode_worker"
"""What a decoder started as a process of its own costs before any audio."""


@dataclass(frozen=True)
class Contender:
    """A command whose CPU is measured."""

    name: str
    command: list[str]
    stdin: Path | None = None


@dataclass(frozen=True)
class Measured:
    """One run of a contender."""

    cpu_s: float
    wall_s: float
    ok: bool


def contenders(flac: Path, mp3: Path, wav48: Path, config: Path) -> list[Contender]:
    """The commands, in the order of an even turn (see :func:`turn_order`)."""
    return [
        Contender("ffmpeg", _ffmpeg(flac)),
        _stagebox("stagebox", flac, config),
        Contender("floor", [sys.executable, "-m", "bench.floor", str(flac), str(RATE)]),
        _stagebox("stagebox mp3", mp3, config),
        Contender("ffmpeg mp3", _ffmpeg(mp3)),
        Contender("sox", ["sox", "-q", str(flac), "-t", "alsa", DEVICE,
                          "rate", "-h", str(RATE)]),
        Contender("sox -v", ["sox", "-q", str(flac), "-t", "alsa", DEVICE,
                             "rate", "-v", str(RATE)]),
        Contender("aplay", ["aplay", "-q", "-D", DEVICE, str(wav48)]),
        Contender("decoder", [sys.executable, "-m", "stagebox.audio.decode_worker",
                              "--fd", "0", "--request", DecodeRequest(RATE).to_json()],
                  stdin=flac),
        Contender("decoder start-up", [sys.executable, "-c", DECODER_STARTUP]),
        Contender("start-up", [sys.executable, "-c", STARTUP]),
    ]


def _stagebox(name: str, song: Path, config: Path) -> Contender:
    return Contender(name, [sys.executable, "-m", "stagebox", "play", "--device", DEVICE,
                            "--rate", str(RATE), "--format", "S16_LE", "--config",
                            str(config), str(song)])


def _ffmpeg(song: Path) -> list[str]:
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
            "-i", str(song), "-af", "aresample=resampler=soxr", "-ar", str(RATE),
            "-f", "alsa", DEVICE]


def measure(contender: Contender, cwd: Path, log: Path, env: dict[str, str]) -> Measured:
    """Run ``contender`` to its end; its CPU and wall time from ``os.wait4``."""
    with log.open("ab") as log_file, \
            open(contender.stdin or os.devnull, "rb") as stdin:
        started_s = time.monotonic()
        process = subprocess.Popen(contender.command, cwd=cwd, stdin=stdin,
                                   stdout=subprocess.DEVNULL if contender.stdin else log_file,
                                   stderr=log_file,
                                   env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.monotonic() - started_s
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(usage.ru_utime + usage.ru_stime, wall_s, process.returncode == 0)


def run(report: Report, *, flac: Path, mp3: Path, wav48: Path, seconds: float, reps: int,
        work: Path, repo: Path) -> None:
    """Measure every contender ``reps`` times and add the rows."""
    config = work / "bench-config.toml"
    config.write_text("# the defaults\n", encoding="utf-8")
    log = work / "throughput.log"
    log.write_bytes(b"")
    runs: dict[str, list[Measured]] = {}
    env = {**os.environ, **ONE_THREAD_ENV, "PYTHONPYCACHEPREFIX": str(work / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    every = contenders(flac, mp3, wav48, config)
    for contender in every:
        measure(contender, repo, log, env)
    for turn in range(reps):
        for contender in turn_order(every, turn):
            runs.setdefault(contender.name, []).append(measure(contender, repo, log, env))
    cpu = {name: _median_cpu(measured) for name, measured in runs.items()}
    for name, value in cpu.items():
        report.figure(f"throughput.{name}.cpu_s", value)
    if any(math.isnan(value) for value in cpu.values()):
        report.notes.append(f"throughput: a contender failed; see {log}")
    minutes = f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
    figure = f"CPU s, {minutes} FLAC 44.1k→48k into `null`"
    stagebox = cpu["stagebox"]

    def against(name: str, peer: str) -> float:
        return _paired_ratio(runs[name], runs[peer])

    against_ffmpeg = report.figure("throughput.ratio_ffmpeg", against("stagebox", "ffmpeg"))
    report.add(Row("throughput", figure + " vs ffmpeg (soxr)", _s(stagebox), _s(cpu["ffmpeg"]),
                   _x(against_ffmpeg), "≤ 1.0×", _goal(against_ffmpeg, 1.0)))
    against_ffmpeg_mp3 = report.figure("throughput.ratio_ffmpeg_mp3",
                                       against("stagebox mp3", "ffmpeg mp3"))
    report.add(Row("throughput", f"CPU s, {minutes} MP3 (192 kbit/s) 44.1k→48k into `null` "
                   "vs ffmpeg (soxr)", _s(cpu["stagebox mp3"]), _s(cpu["ffmpeg mp3"]),
                   _x(against_ffmpeg_mp3), "≤ 1.0×", _goal(against_ffmpeg_mp3, 1.0)))
    against_sox = report.figure("throughput.ratio_sox", against("stagebox", "sox"))
    against_floor = report.figure("throughput.ratio_floor", against("stagebox", "floor"))
    report.add(Row("throughput", figure + " vs sox (`rate -h`)", _s(stagebox), _s(cpu["sox"]),
                   _x(against_sox), "≤ 0.7×", _goal(against_sox, 0.7)))
    report.add(Row("throughput", figure + " vs sox (`rate -v`)", _s(stagebox),
                   _s(cpu["sox -v"]), _x(against("stagebox", "sox -v"))))
    report.add(Row("throughput", figure + " vs aplay (48k WAV, no decoding)", _s(stagebox),
                   _s(cpu["aplay"]), _x(against("stagebox", "aplay"))))
    report.add(Row("throughput", figure + " vs floor (soundfile + soxr HQ alone)",
                   _s(stagebox), _s(cpu["floor"]), _x(against_floor), "≤ 1.25×",
                   _goal(against_floor, 1.25)))
    report.add(Row("throughput", "CPU s of stagebox's decoder process alone (to /dev/null)",
                   _s(cpu["decoder"]), _s(cpu["floor"]), _x(against("decoder", "floor"))))
    decoding_s = cpu["decoder"] - cpu["decoder start-up"]
    player_s = stagebox - decoding_s - cpu["start-up"]
    report.notes.append(
        f"throughput: stagebox's {stagebox:.2f} s = decoding {decoding_s:.2f} s (the decoder "
        f"process alone, {cpu['decoder']:.2f} s, less its interpreter's start-up, "
        f"{cpu['decoder start-up']:.2f} s: `stagebox play` forks its decoders) "
        f"+ the player's start-up (interpreter and imports) {cpu['start-up']:.2f} s + the "
        f"player's work on the blocks {player_s:.2f} s "
        f"({player_s / (seconds * RATE / 1024) * 1e6:.0f} µs per 1024 frames, in blocks of "
        f"{BLOCK_FRAMES}: counts between the processes, engine, S16 conversion with "
        "dither, ALSA write)")
    walls = ", ".join(f"{name} {statistics.median(m.wall_s for m in measured):.2f} s"
                      for name, measured in runs.items())
    report.notes.append(f"throughput: median of {reps} turns each; wall time {walls}")
    for name, peer in (("stagebox", "floor"), ("stagebox", "ffmpeg"),
                       ("stagebox mp3", "ffmpeg mp3")):
        report.notes.append(f"throughput: {name} over {peer}, turn by turn: "
                            + ", ".join(f"{turn:.2f}" for turn in
                                        _turn_ratios(runs[name], runs[peer])))


def turn_order(turn_contenders: list[Contender], turn: int) -> list[Contender]:
    """The order of one turn: every other turn, the first and third swap places (the
    second runs between them), and so do the fourth and fifth."""
    if turn % 2:
        first, second, third, fourth, fifth, *rest = turn_contenders
        return [third, second, first, fifth, fourth, *rest]
    return turn_contenders


def _median_cpu(measured: list[Measured]) -> float:
    if not all(m.ok for m in measured):
        return math.nan
    return statistics.median(m.cpu_s for m in measured)


def _paired_ratio(measured: list[Measured], peers: list[Measured]) -> float:
    """The median over the turns of ``measured``'s CPU over its peer's in the same turn."""
    if not all(m.ok for m in (*measured, *peers)):
        return math.nan
    return statistics.median(_turn_ratios(measured, peers))


def _turn_ratios(measured: list[Measured], peers: list[Measured]) -> list[float]:
    """``measured``'s CPU over its peer's, turn by turn."""
    return [ratio(m.cpu_s, p.cpu_s) for m, p in zip(measured, peers, strict=True)]


def _goal(value: float, limit: float) -> bool | None:
    return None if math.isnan(value) else value <= limit


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def _x(value: float) -> str:
    return f"{value:.2f}×"
