"""Turning raw button edges into presses and holds, on the box's own clock.

gpiozero gives us edges; the timing (debounce, hold) lives here, on the clock passed to
the box, because gpiozero's own timers run on the wall clock and the simulator's does not.

- A *down* is reported at once on every (debounced) press edge, for the actions that
  cannot mean anything else and so need not wait.
- A *press* is reported when the button is released before ``hold_s``.
- A *hold* is reported the moment the button has been down for ``hold_s``, without
  waiting for the release, so a performer feels the action happen; the release that
  follows reports nothing.
- A *long hold* is reported when the same button is still down at ``long_hold_s``: a
  deliberate act (shutting the box down) that no stumble on a footswitch can trigger.
- An edge closer than ``debounce_s`` to the button's previous accepted edge is contact
  bounce and is ignored, on the sources with bare contacts (the GPIO panel): a USB pedal
  or a MIDI controller debounces in its own firmware, and a MIDI program change mapped to
  a button comes as a down and an up at the same moment.

Every button is timed per source: NEXT held on a pedal and NEXT tapped on the panel are
two buttons, so neither ends, bounces or swallows the other.
"""

from __future__ import annotations

from collections.abc import Collection

from stagebox.events import PANEL_SOURCE, ButtonEdge, ButtonName, Gesture, GestureKind

_Key = tuple[str, ButtonName]
"""(source, button)."""


class GestureDetector:
    """Feed it edges and the time; it returns gestures. Runs on the box's main loop only."""

    def __init__(self, hold_s: float = 0.8, debounce_s: float = 0.02,
                 long_hold_s: float = 3.0,
                 contact_sources: Collection[str] = (PANEL_SOURCE,)) -> None:
        self.hold_s = hold_s
        self.long_hold_s = long_hold_s
        self.debounce_s = debounce_s
        self._contact_sources = frozenset(contact_sources)
        self._down_since: dict[_Key, float] = {}
        self._reported: dict[_Key, GestureKind] = {}
        self._last_edge: dict[_Key, float] = {}

    def edge(self, edge: ButtonEdge) -> list[Gesture]:
        """Take one edge; return the gestures it completes."""
        key = (edge.source, edge.button)
        last = self._last_edge.get(key)
        if (last is not None and edge.source in self._contact_sources
                and edge.t - last < self.debounce_s):
            return []
        is_down = key in self._down_since
        if edge.pressed == is_down:
            return []  # a repeated level: a lost edge, nothing new happened
        self._last_edge[key] = edge.t
        if edge.pressed:
            self._down_since[key] = edge.t
            return [Gesture(edge.button, "down", edge.source, edge.t)]
        gestures = self.poll(edge.t)
        down_since = self._down_since.pop(key)
        if self._reported.pop(key, None) is None and edge.t - down_since < self.hold_s:
            gestures.append(Gesture(edge.button, "press", edge.source, edge.t))
        return gestures

    def poll(self, now: float) -> list[Gesture]:
        """Report holds that have come due by ``now``; call it every loop."""
        gestures = []
        for key, since in self._down_since.items():
            source, button = key
            reported = self._reported.get(key)
            if reported is None and now - since >= self.hold_s:
                gestures.append(Gesture(button, "hold", source))
                reported = self._reported[key] = "hold"
            if reported == "hold" and now - since >= self.long_hold_s:
                gestures.append(Gesture(button, "long_hold", source))
                self._reported[key] = "long_hold"
        return gestures

    def forget(self, source: str) -> None:
        """Let go of every button still down on ``source`` without reporting anything:
        the pedal was unplugged mid-press, so its release will never come."""
        for table in (self._down_since, self._reported, self._last_edge):
            for key in [key for key in table if key[0] == source]:
                del table[key]

    def next_deadline(self) -> float | None:
        """When the next hold falls due, so a waiting loop can wake for it."""
        pending = []
        for key, since in self._down_since.items():
            reported = self._reported.get(key)
            if reported is None:
                pending.append(since + self.hold_s)
            elif reported == "hold":
                pending.append(since + self.long_hold_s)
        return min(pending, default=None)
