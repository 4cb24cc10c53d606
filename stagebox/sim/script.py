"""The simulator's script: one action a line, ``SECONDS ACTION [ARGS]``.

::

    # '#' starts a comment
    0.0  insert            # the --media folder (or: insert other/folder)
    2.0  press play        # down, and up 50 ms later
    30   hold play 1.0     # down, and up 1.0 s later
    31   remove
    33   unplug            # the audio interface goes (replug: it comes back)
    34   xrun              # the interface runs dry once
    35   hid KEY_PAGEDOWN  # a pedal's key, down and up 50 ms later
    36   hid-hold KEY_SPACE 1.0
    37   midi pc 3         # a program change: cues song 4
    38   midi cc 81 127    # a controller's value (a footswitch down; 0: up)
    39   midi note 60      # note on, and its note off 50 ms later (or: midi note 60 1.0)
    40   end

Times are seconds from the start and never go backwards; the script must finish with
``end``, or with ``powercut``: the box stops at once, writing nothing more, as when the
power bank dies. A bad line is refused with its number and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stagebox.events import BUTTONS
from stagebox.hal.pedal import evdev
from stagebox.inputs.keymap import suggest

PRESS_S = 0.05
NOTE_VELOCITY = 100


class ScriptError(ValueError):
    """A script line that cannot be run."""


@dataclass(frozen=True, order=True)
class Step:
    """One low-level thing that happens at ``t``: a button level, a stick, the end."""

    t: float
    seq: int
    action: str
    """``down``, ``up``, ``key_down``, ``key_up``, ``midi``, ``insert``, ``remove``,
    ``unplug``, ``replug``, ``xrun``, ``end`` or ``powercut``."""
    arg: str = ""
    """A button, a key name, a folder, or a MIDI message without its channel: ``pc 3``,
    ``cc 81 127``, ``note_on 60 100``, ``note_off 60 0``."""


def parse_script(text: str, base: Path | None = None) -> list[Step]:
    """Parse a script into steps in time order. ``base`` anchors ``insert DIR`` paths."""
    steps: list[Step] = []
    last_t = 0.0
    ended = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if ended:
            raise ScriptError(f"line {number}: nothing may follow 'end'")
        words = line.split()
        t = _seconds(words[0], number)
        if t < last_t:
            raise ScriptError(f"line {number}: {t:g} s is before the previous line's {last_t:g} s")
        last_t = t
        action, args = (words[1].lower() if len(words) > 1 else ""), words[2:]
        seq = len(steps)
        if action == "insert":
            if len(args) > 1:
                raise ScriptError(f"line {number}: insert takes at most one folder")
            folder = ""
            if args:
                folder = str((base / args[0]) if base and not Path(args[0]).is_absolute()
                             else Path(args[0]))
            steps.append(Step(t, seq, "insert", folder))
        elif action in ("remove", "unplug", "replug", "xrun", "end", "powercut"):
            if args:
                raise ScriptError(f"line {number}: {action} takes no arguments")
            steps.append(Step(t, seq, action))
            ended = action in ("end", "powercut")
        elif action in ("press", "hold"):
            hold_s = PRESS_S
            wanted = 2 if action == "hold" else 1
            if len(args) != wanted:
                usage = "hold BUTTON SECONDS" if action == "hold" else "press BUTTON"
                raise ScriptError(f"line {number}: expected '{usage}'")
            button = args[0].lower()
            if button not in BUTTONS:
                raise ScriptError(f"line {number}: unknown button {args[0]!r} "
                                  f"(one of {', '.join(BUTTONS)})")
            if action == "hold":
                hold_s = _seconds(args[1], number)
                if hold_s <= 0:
                    raise ScriptError(f"line {number}: a hold must last some time")
            steps.append(Step(t, seq, "down", button))
            steps.append(Step(t + hold_s, seq + 1, "up", button))
        elif action in ("hid", "hid-hold"):
            steps += _key_steps(action, args, t, seq, number)
        elif action == "midi":
            steps += _midi_steps(args, t, seq, number)
        else:
            known = ("insert, remove, press, hold, hid, hid-hold, midi, unplug, replug, xrun, "
                     "end, powercut")
            raise ScriptError(f"line {number}: unknown action {action!r} (one of {known})")
    if not ended:
        raise ScriptError("the script must finish with an 'end' or 'powercut' line")
    return sorted(steps)


def _key_steps(action: str, args: list[str], t: float, seq: int, number: int) -> list[Step]:
    """``hid KEYNAME`` or ``hid-hold KEYNAME SECONDS``: a pedal's key down, then up."""
    ecodes = evdev().ecodes  # for a script that has a pedal in it only

    wanted = 2 if action == "hid-hold" else 1
    if len(args) != wanted:
        usage = "hid-hold KEYNAME SECONDS" if wanted == 2 else "hid KEYNAME"
        raise ScriptError(f"line {number}: expected '{usage}'")
    name = args[0].upper()
    if not name.startswith(("KEY_", "BTN_")) or name not in ecodes.ecodes:
        known = [key for key in ecodes.ecodes if key.startswith(("KEY_", "BTN_"))]
        raise ScriptError(f"line {number}: unknown key {args[0]!r}{suggest(name, known)}")
    hold_s = _seconds(args[1], number) if wanted == 2 else PRESS_S
    if hold_s <= 0:
        raise ScriptError(f"line {number}: a hold must last some time")
    return [Step(t, seq, "key_down", name), Step(t + hold_s, seq + 1, "key_up", name)]


def _midi_steps(args: list[str], t: float, seq: int, number: int) -> list[Step]:
    """``midi pc P``, ``midi cc C V`` or ``midi note N [SECONDS]``."""
    kind = args[0].lower() if args else ""
    counts = {"pc": (1,), "cc": (2,), "note": (1, 2)}.get(kind)
    if counts is None or len(args) - 1 not in counts:
        raise ScriptError(f"line {number}: expected 'midi pc PROGRAM', 'midi cc CONTROLLER "
                          "VALUE' or 'midi note NOTE [SECONDS]'")
    if kind != "note":
        values = [_midi_value(word, number) for word in args[1:]]
        return [Step(t, seq, "midi", " ".join([kind, *map(str, values)]))]
    note = _midi_value(args[1], number)
    hold_s = _seconds(args[2], number) if len(args) == 3 else PRESS_S
    if hold_s <= 0:
        raise ScriptError(f"line {number}: a hold must last some time")
    return [Step(t, seq, "midi", f"note_on {note} {NOTE_VELOCITY}"),
            Step(t + hold_s, seq + 1, "midi", f"note_off {note} 0")]


def _midi_value(word: str, number: int) -> int:
    if not (word.isascii() and word.isdigit()) or int(word) > 127:
        raise ScriptError(f"line {number}: {word!r} is not a MIDI value (0-127)")
    return int(word)


def _seconds(word: str, number: int) -> float:
    try:
        value = float(word)
    except ValueError:
        raise ScriptError(f"line {number}: {word!r} is not a time in seconds") from None
    if not value >= 0 or value == float("inf"):
        raise ScriptError(f"line {number}: {word!r} is not a time in seconds")
    return value
