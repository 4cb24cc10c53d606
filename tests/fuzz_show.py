"""Seeded random shows in the simulator, checked for what a musician would notice.

Each seed makes a small stick (a few short sine songs, some joined with ``then=next``, a
broken file) and a random script (presses, holds of every button and length on the panel,
a page-turner pedal and a MIDI foot controller, program changes, stick inserts and
removes, interface unplugs and replugs, xruns), runs ``stagebox sim`` on
them in a child process, and when the script ends in a power cut, runs a second script on
the same state folder. Each run is checked for:

- the process alive: it exits 0 with no traceback;
- every line of ``events.jsonl`` and ``screens.jsonl`` one JSON record;
- only legal state changes (:data:`LEGAL`), and a song starts only on a PLAY press (or
  goes on into the next): nothing plays after an insert, a replug or a power cut until
  PLAY is pressed;
- silence (exact zero samples) outside the time a song was playing or fading out;
- no click: the largest step between samples stays within what the sines themselves make;
- memory bounded: the songs the box holds decoded, its decoders, open descriptors and
  resident memory do not pile up over the run.

``python tests/fuzz_show.py --seeds 200`` runs many seeds (``make fuzz``); a failure prints
its seed, what went wrong and the scripts, and ``--first-seed N --seeds 1 --keep DIR``
replays it, keeping the stick and the output folders.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from stagebox.cli import main as stagebox
from stagebox.clock import VirtualClock
from stagebox.hal.sim_audio import SimSink
from stagebox.sim import runner
from stagebox.ui.menu import VOLUME_MAX_DB

sys.path.insert(0, str(Path(__file__).parent))
from conftest import write_tone

BUTTONS = ("play", "next", "prev", "menu")
PEDAL_KEYS = ("KEY_SPACE", "KEY_ENTER", "KEY_PAGEDOWN", "KEY_RIGHT", "KEY_PAGEUP",
              "KEY_LEFT", "KEY_A")
"""The default keymap's keys (play, next, prev) and one it leaves unmapped."""
MIDI_SWITCHES = (81, 82, 80, 83, 20)
"""The default MIDI map's footswitch controllers (play, next, prev, menu) and one it
leaves unmapped."""
MIDI_RELEASE_S = 0.05
"""A MIDI footswitch tapped: its controller's 0 this long after its 127."""
HOLD_LENGTHS_S = (0.1, 0.5, 0.9, 1.5, 3.5)
"""Shorter than a hold (0.8 s), a hold, and MENU's long hold (3 s): shut down."""
HOLD_WEIGHTS = (3, 3, 3, 3, 1)
"""The long hold less often: a box shut down early makes the rest of a script moot."""
LEVEL = 0.5
RATE = 48000
FADE_S = 0.5
"""The box's default ``player.fade_s``."""
FADE_SLACK_S = 0.1
"""Sound allowed after a song stops playing, beyond the fade: two output passes."""
ROUNDING_S = 0.001
"""Times in ``events.jsonl`` are rounded to 0.1 ms: a few frames either way."""

LEGAL: dict[str, frozenset[str]] = {
    # From player.py's docstring: no_stick -> scanning -> cued <-> playing <-> paused,
    # ended when the setlist is done, error when nothing can play, shutdown from any state
    # but playing and never left. Every state but playing goes back to scanning on an
    # insert and to no_stick on a remove; playing goes to no_stick when its song ends with
    # the stick gone. A resume after a power cut comes out of the scan paused; a song
    # state entered again is the next song (or this one from its start).
    "no_stick": frozenset({"scanning", "shutdown"}),
    "scanning": frozenset({"cued", "paused", "error", "no_stick", "shutdown"}),
    "cued": frozenset({"cued", "playing", "ended", "scanning", "no_stick", "shutdown"}),
    "playing": frozenset({"playing", "paused", "cued", "ended", "no_stick"}),
    "paused": frozenset({"playing", "cued", "ended", "scanning", "no_stick", "shutdown"}),
    "ended": frozenset({"cued", "scanning", "no_stick", "shutdown"}),
    "error": frozenset({"scanning", "no_stick", "shutdown"}),
    "shutdown": frozenset(),
}
SAMPLE_S = 0.02
"""How often the box's process is looked at (wall-clock seconds)."""
MAX_DESCENDANTS = 5
"""The box's child processes at any moment: the decoder launcher, its two decoders (the
song and the next one), a scanner, and one on its way out."""
MAX_RINGS = 3
"""Songs whose decoded frames the box maps at once: the current one, the next one (for a
``then=next`` join) and one fading out. (Sampled every 2 ms, the three seeds of ``make
test`` never showed a fourth; 200 seeds showed four or more only while the interface was
gone.)"""
FD_GROWTH = 20
RSS_GROWTH_KB = 32 * 1024
"""How much the peaks of the show's second half may exceed those of its first half: a
stick's songs loaded, not one more stream or song in memory for each song cued."""


@dataclass(frozen=True)
class ToneSong:
    """A song on the fuzz stick: a sine of ``hz`` for ``seconds``, at ``rate``."""

    name: str
    hz: float
    seconds: float
    rate: int
    then_next: bool

    def max_step(self, out_rate: int) -> float:
        """The largest sample-to-sample step of this sine played at ``out_rate``."""
        return LEVEL * 2 * math.sin(math.pi * self.hz / out_rate)


def make_stick(rng: random.Random, root: Path) -> list[ToneSong]:
    """Three to five short smooth songs and a broken file, in a ``setlist.txt`` (or, for
    one stick in four, in folder order)."""
    songs = []
    for number in range(rng.randint(3, 5)):
        song = ToneSong(name=f"{number + 1:02d} song.{rng.choice(['flac', 'wav'])}",
                        hz=rng.choice([196.0, 247.0, 294.0, 330.0]),
                        seconds=round(rng.uniform(0.8, 3.0), 2),
                        rate=rng.choice([44100, 48000]), then_next=rng.random() < 0.4)
        write_tone(root / song.name, song.hz, song.seconds, rate=song.rate, level=LEVEL)
        songs.append(song)
    broken = f"{rng.randint(1, len(songs) + 1):02d} broken.flac"
    (root / broken).write_bytes(b"fLaC" + bytes(range(256)) * 20)
    if rng.random() < 0.75:
        lines = [song.name + (" | then=next" if song.then_next else "") for song in songs]
        lines.insert(rng.randint(0, len(lines)), broken)
        (root / "setlist.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return songs


def random_script(rng: random.Random, actions: int) -> str:
    """A script of ``actions`` random actions after an insert, ending in ``end`` or (one
    time in three) ``powercut``. One button at a time, whichever input it is on; a stick
    or an interface only goes in when it is out."""
    lines = ["0.2 insert"]
    t, stick_in, plugged = 0.2, True, True
    for _ in range(actions):
        t += rng.choice([0.05, 0.2, 0.5, 1.0, 2.0])
        kind = rng.choices(["press", "hold", "pedal", "midi", "stick", "interface", "xrun"],
                           weights=[40, 20, 10, 10, 8, 8, 4])[0]
        if kind == "press":
            lines.append(f"{t:.2f} press {rng.choices(BUTTONS, weights=[4, 2, 2, 1])[0]}")
        elif kind == "hold":
            button = rng.choice(BUTTONS)
            hold_s = rng.choices(HOLD_LENGTHS_S, weights=HOLD_WEIGHTS)[0]
            lines.append(f"{t:.2f} hold {button} {hold_s}")
            t += hold_s
        elif kind == "pedal":
            key = rng.choice(PEDAL_KEYS)
            if rng.random() < 0.5:
                lines.append(f"{t:.2f} hid {key}")
            else:
                hold_s = rng.choice(HOLD_LENGTHS_S[:-1])
                lines.append(f"{t:.2f} hid-hold {key} {hold_s}")
                t += hold_s
        elif kind == "midi":
            t, midi_lines = _midi_action(rng, t)
            lines += midi_lines
        elif kind == "stick":
            lines.append(f"{t:.2f} {'remove' if stick_in else 'insert'}")
            stick_in = not stick_in
        elif kind == "interface":
            lines.append(f"{t:.2f} {'unplug' if plugged else 'replug'}")
            plugged = not plugged
        else:
            lines.append(f"{t:.2f} xrun")
    if not plugged and rng.random() < 0.5:
        t += 0.5
        lines.append(f"{t:.2f} replug")
    lines.append(f"{t + rng.choice([0.5, 2.0, 4.0]):.2f} "
                 f"{'powercut' if rng.random() < 1 / 3 else 'end'}")
    return "\n".join(lines) + "\n"


def _midi_action(rng: random.Random, t: float) -> tuple[float, list[str]]:
    """A foot controller's switch tapped or held, or a program change (some beyond the
    setlist); the time after it and its script lines."""
    if rng.random() < 0.3:
        return t, [f"{t:.2f} midi pc {rng.randint(0, 6)}"]
    control = rng.choice(MIDI_SWITCHES)
    held_s = rng.choices((MIDI_RELEASE_S, *HOLD_LENGTHS_S), weights=(3, *HOLD_WEIGHTS))[0]
    return t + held_s, [f"{t:.2f} midi cc {control} 127",
                        f"{t + held_s:.2f} midi cc {control} 0"]


GAPS = "gaps.json"
"""Written beside ``audio.wav``: when the sink took no frames (the interface was gone)."""


class GapRecordingSink(SimSink):
    """The simulator's own sink, noting the times it took no frames, as
    ``[[start_s, end_s or null], ...]`` in ``gaps.json`` beside the WAV: the sound
    checks need to know which time each frame of ``audio.wav`` was taken at."""

    def __init__(self, clock: VirtualClock, *args: Any, wav_path: Path | None = None,
                 **kwargs: Any) -> None:
        super().__init__(clock, *args, wav_path=wav_path, **kwargs)
        self._gaps_path = wav_path.with_name(GAPS) if wav_path else None
        self._gaps: list[tuple[float, float | None]] = []
        self._now = clock.now
        self._taken_until = 0.0

    def write(self, block: np.ndarray) -> None:
        t = self._now()
        super().write(block)
        if t != self._taken_until:
            self._gaps.append((self._taken_until, t))
        self._taken_until = self._now()

    def finish(self) -> None:
        super().finish()
        if self._gaps_path is not None:
            # Still gone at the end: from the last frame taken to the end of the run.
            gone = [(self._taken_until, None)] if self._now() != self._taken_until else []
            self._gaps_path.write_text(json.dumps(self._gaps + gone), encoding="utf-8")
            self._gaps_path = None


def sim_recording_gaps(argv: list[str]) -> int:
    """``stagebox sim`` with :class:`GapRecordingSink` (in the child process)."""
    runner.SimSink = GapRecordingSink
    return stagebox(argv)


@dataclass
class Usage:
    """What the sampler saw of the box's process over a run."""

    fds: list[int] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    most_descendants: int = 0
    most_rings: int = 0


def _descendants(pid: int) -> int:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    count, todo = 0, list(children.get(pid, []))
    while todo:
        count += 1
        todo.extend(children.get(todo.pop(), []))
    return count


def _sample(pid: int, box_up: Path, usage: Usage, done: threading.Event) -> None:
    """Sample the box's process once it has logged its first event (its interpreter's
    start-up is not the show's growth)."""
    while not done.wait(SAMPLE_S):
        if not usage.fds and not (box_up.exists() and box_up.stat().st_size):
            continue
        try:
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            status = Path(f"/proc/{pid}/status").read_text()
            maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
        except OSError:
            return
        rings = {line.split()[4] for line in maps if "memfd:stagebox-ring" in line}
        usage.most_rings = max(usage.most_rings, len(rings))
        rss = [line for line in status.splitlines() if line.startswith("VmRSS:")]
        if not rss:
            return
        usage.fds.append(fds)
        usage.rss_kb.append(int(rss[0].split()[1]))
        usage.most_descendants = max(usage.most_descendants, _descendants(pid))


@dataclass
class Run:
    """One ``stagebox sim`` run's output folder and what was seen of its process."""

    out: Path
    returncode: int
    stderr: str
    usage: Usage


def run_sim(stick: Path, script: str, out: Path, state: Path) -> Run:
    """Run ``stagebox sim`` in its own process, sampling its resources as it runs."""
    script_path = out.with_suffix(".script")
    script_path.write_text(script, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "from fuzz_show import sim_recording_gaps; sys.exit(sim_recording_gaps(sys.argv[2:]))",
         str(Path(__file__).parent), "sim", "--media", str(stick), "--script",
         str(script_path), "--out", str(out), "--state", str(state)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    usage, done = Usage(), threading.Event()
    sampler = threading.Thread(target=_sample,
                               args=(process.pid, out / "events.jsonl", usage, done))
    sampler.start()
    try:
        _, stderr = process.communicate(timeout=600)
    finally:
        done.set()
        sampler.join()
        process.kill()
        process.wait()
    return Run(out, process.returncode, stderr, usage)


def json_lines_problems(path: Path) -> list[str]:
    """Each line of ``path`` must be one JSON object (no NaN or Infinity), and the file
    must split into the same lines however it is split."""
    text = path.read_text(encoding="utf-8")
    problems = []
    if len(text.splitlines()) != text.count("\n"):
        problems.append(f"{path.name}: a record holds a line break that splitlines() splits")
    for number, line in enumerate(text.split("\n")[:-1], start=1):
        try:
            record = json.loads(line, parse_constant=_refuse_constant)
        except ValueError as exc:
            problems.append(f"{path.name} line {number} is not JSON ({exc}): {line[:80]!r}")
            continue
        if not isinstance(record, dict):
            problems.append(f"{path.name} line {number} is not a JSON object")
    return problems


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def state_problems(events: list[dict]) -> list[str]:
    """Illegal state changes, and a song starting without a PLAY press."""
    problems = []
    state, last_button = "no_stick", None
    for event in events:
        if event["event"] == "button":
            last_button = event
            continue
        if event["event"] != "state":
            continue
        new = event["state"]
        if new not in LEGAL[state]:
            problems.append(f"{event['t']} s: {state} -> {new} is not a legal state change")
        if new == "playing" and state != "playing" and not (
                last_button is not None and last_button["t"] == event["t"]
                and (last_button["button"], last_button["gesture"]) == ("play", "down")):
            problems.append(f"{event['t']} s: {state} -> playing without a PLAY press")
        state = new
    return problems


def wav_frame(t: float, gaps: list[tuple[float, float]], rate: int) -> int:
    """The frame of ``audio.wav`` that simulated time ``t`` fell on (a time while the
    interface was gone falls where the recording goes on)."""
    skipped = sum(min(t, end) - start for start, end in gaps if start < t)
    return round((t - skipped) * rate) if math.isfinite(t - skipped) else sys.maxsize


def sim_time(frame: int, gaps: list[tuple[float, float]], rate: int) -> float:
    """The simulated time at which ``audio.wav``'s ``frame`` was taken."""
    t = frame / rate
    for start, end in gaps:
        if start <= t:
            t += end - start
    return t


def sounding_spans(events: list[dict]) -> list[tuple[float, float]]:
    """When sound may come out: from each start of playing to its fade's end."""
    spans, since = [], None
    state = "no_stick"
    for event in events:
        if event["event"] != "state":
            continue
        new = event["state"]
        if new == "playing" and state != "playing":
            since = event["t"] - ROUNDING_S
        elif new != "playing" and state == "playing" and since is not None:
            spans.append((since, event["t"] + FADE_S + FADE_SLACK_S))
            since = None
        state = new
    if since is not None:
        spans.append((since, math.inf))
    return spans


def silent_until_play(events: list[dict], gaps: list[tuple[float, float]]
                      ) -> list[tuple[float, float]]:
    """From each return of the interface to the next PLAY press: a song waits for PLAY
    when the interface comes back, whatever was pressed while it was gone."""
    presses = [event["t"] for event in events if event["event"] == "button"
               and (event["button"], event["gesture"]) == ("play", "down")]
    return [(back, next((t - ROUNDING_S for t in presses if t >= back), math.inf))
            for _, back in gaps if math.isfinite(back)]


def audio_problems(audio: np.ndarray, rate: int, events: list[dict],
                   gaps: list[tuple[float, float]], max_step: float) -> list[str]:
    """Sound where no PLAY press asked for it, and clicks (steps above ``max_step``).
    ``gaps`` are the times the interface was gone, which ``audio.wav`` skips."""
    problems = []
    may_sound = np.zeros(len(audio), bool)
    for start, end in sounding_spans(events):
        may_sound[wav_frame(start, gaps, rate):wav_frame(end, gaps, rate)] = True
    for start, end in silent_until_play(events, gaps):
        may_sound[wav_frame(start, gaps, rate):wav_frame(end, gaps, rate)] = False
    loud = np.flatnonzero(~may_sound & (np.abs(audio).max(axis=1) > 0))
    if len(loud):
        problems.append(f"sound at {sim_time(loud[0], gaps, rate):.3f} s with no PLAY "
                        "press for it")
    steps = np.abs(np.diff(audio, axis=0)).max(axis=1)
    # Where the interface went, the recording jumps to what came after its return.
    for start, _ in gaps:
        cut = wav_frame(start, gaps, rate)
        if 0 < cut < len(audio):
            steps[cut - 1] = 0
    if len(steps) and steps.max() > max_step:
        at = int(steps.argmax())
        problems.append(f"a click at {sim_time(at, gaps, rate):.3f} s: a step of "
                        f"{steps[at]:.3f} (the songs' largest is {max_step:.3f})")
    return problems


def usage_problems(usage: Usage) -> list[str]:
    """Resources that grow over the run, or decoders that pile up."""
    problems = []
    if usage.most_descendants > MAX_DESCENDANTS:
        problems.append(f"{usage.most_descendants} child processes at once "
                        f"(at most {MAX_DESCENDANTS})")
    if usage.most_rings > MAX_RINGS:
        problems.append(f"{usage.most_rings} songs held in memory at once (at most {MAX_RINGS})")
    split = len(usage.fds) // 2
    if split:
        fds_before, fds_after = max(usage.fds[:split]), max(usage.fds[split:])
        if fds_after > fds_before + FD_GROWTH:
            problems.append(f"open descriptors grew from {fds_before} to {fds_after}")
        rss_before, rss_after = max(usage.rss_kb[:split]), max(usage.rss_kb[split:])
        if rss_after > rss_before + RSS_GROWTH_KB:
            problems.append(f"resident memory grew from {rss_before // 1024} MB to "
                            f"{rss_after // 1024} MB")
    return problems


def run_problems(run: Run, max_step: float) -> list[str]:
    """Everything a musician would notice wrong in one run."""
    if run.returncode != 0 or "Traceback" in run.stderr:
        return [f"the simulator exited {run.returncode}: {run.stderr.strip()[-2000:]}"]
    problems = json_lines_problems(run.out / "events.jsonl")
    problems += json_lines_problems(run.out / "screens.jsonl")
    if problems:
        return problems
    events = [json.loads(line) for line in
              (run.out / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    audio, rate = soundfile.read(run.out / "audio.wav", dtype="float32", always_2d=True)
    gaps = [(start, math.inf if end is None else end) for start, end in
            json.loads((run.out / GAPS).read_text(encoding="utf-8"))]
    return (state_problems(events) + audio_problems(audio, rate, events, gaps, max_step)
            + usage_problems(run.usage))


@dataclass
class Outcome:
    """A seed's scripts and what went wrong (nothing, if it passed)."""

    seed: int
    scripts: list[str]
    problems: list[str]


def run_seed(seed: int, folder: Path, actions: int = 40) -> Outcome:
    """Make the stick and the scripts of ``seed`` in ``folder``, run and check them."""
    rng = random.Random(seed)
    songs = make_stick(rng, folder / "STICK")
    # The clicks threshold: the steepest sine at the loudest volume the menu gives (it is
    # remembered across the power cut), with room for soxr's ripple and dither.
    loudest = 10 ** (VOLUME_MAX_DB / 20)
    max_step = 1.5 * loudest * max(song.max_step(RATE) for song in songs)
    scripts, problems = [random_script(rng, actions)], []
    while True:
        run = run_sim(folder / "STICK", scripts[-1], folder / f"run{len(scripts)}",
                      folder / "state")
        problems += [f"run {len(scripts)}: {p}" for p in run_problems(run, max_step)]
        if problems or not scripts[-1].rstrip().endswith("powercut") or len(scripts) == 2:
            return Outcome(seed, scripts, problems)
        scripts.append(random_script(rng, actions // 2))


def report(outcome: Outcome) -> str:
    """A failed seed, to read and to replay."""
    lines = [f"seed {outcome.seed} failed:"]
    lines += [f"  {problem}" for problem in outcome.problems]
    for number, script in enumerate(outcome.scripts, start=1):
        lines.append(f"  script of run {number}:")
        lines += [f"    {line}" for line in script.splitlines()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=200, help="how many seeds to run")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--actions", type=int, default=40, help="actions in each script")
    parser.add_argument("--keep", type=Path, help="keep each seed's folder in here")
    args = parser.parse_args(argv)
    failed = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        folder = Path(tempfile.mkdtemp(prefix=f"fuzz-{seed}-"))
        try:
            outcome = run_seed(seed, folder, args.actions)
        finally:
            if args.keep:
                shutil.copytree(folder, args.keep / f"seed-{seed}", dirs_exist_ok=True)
            shutil.rmtree(folder)
        if outcome.problems:
            failed.append(seed)
            print(report(outcome), flush=True)
        else:
            print(f"seed {seed}: ok", flush=True)
    print(f"{args.seeds - len(failed)} of {args.seeds} seeds passed"
          + (f"; failed: {' '.join(map(str, failed))}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
