"""The simulator's script: one action a line, ``SECONDS ACTION [ARGS]``.

::

    # '#' starts a comment
    0.0  insert            # the --media folder (or: insert other/folder)
    2.0  press play        # down, and up 50 ms later
    30   hold play 1.0     # down, and up 1.0 s later
    31   remove
    33   unplug            # the audio interface goes (replug: it comes back)
    34   xrun              # the interface runs dry once
    40   end

Times are seconds from the start and never go backwards; the script must finish with
``end``, or with ``powercut``: the box stops at once, writing nothing more, as when the
power bank dies. A bad line is refused with its number and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stagebox.events import BUTTONS

PRESS_S = 0.05


class ScriptError(ValueError):
    """A script line that cannot be run."""


@dataclass(frozen=True, order=True)
class Step:
    """One low-level thing that happens at ``t``: a button level, a stick, the end."""

    t: float
    seq: int
    action: str
    """``down``, ``up``, ``insert``, ``remove``, ``unplug``, ``replug``, ``xrun``, ``end``
    or ``powercut``."""
    arg: str = ""


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
        else:
            known = "insert, remove, press, hold, unplug, replug, xrun, end, powercut"
            raise ScriptError(f"line {number}: unknown action {action!r} (one of {known})")
    if not ended:
        raise ScriptError("the script must finish with an 'end' or 'powercut' line")
    return sorted(steps)


def _seconds(word: str, number: int) -> float:
    try:
        value = float(word)
    except ValueError:
        raise ScriptError(f"line {number}: {word!r} is not a time in seconds") from None
    if not value >= 0 or value == float("inf"):
        raise ScriptError(f"line {number}: {word!r} is not a time in seconds")
    return value
