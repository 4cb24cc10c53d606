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
  bounce and is ignored.
"""

from __future__ import annotations

from stagebox.events import ButtonEdge, ButtonName, Gesture, GestureKind


class GestureDetector:
    """Feed it edges and the time; it returns gestures. Runs on the box's main loop only."""

    def __init__(self, hold_s: float = 0.8, debounce_s: float = 0.02,
                 long_hold_s: float = 3.0) -> None:
        self.hold_s = hold_s
        self.long_hold_s = long_hold_s
        self.debounce_s = debounce_s
        self._down_since: dict[ButtonName, float] = {}
        self._reported: dict[ButtonName, GestureKind] = {}
        self._last_edge: dict[ButtonName, float] = {}

    def edge(self, edge: ButtonEdge) -> list[Gesture]:
        """Take one edge; return the gestures it completes."""
        last = self._last_edge.get(edge.button)
        if last is not None and edge.t - last < self.debounce_s:
            return []
        is_down = edge.button in self._down_since
        if edge.pressed == is_down:
            return []  # a repeated level: a lost edge, nothing new happened
        self._last_edge[edge.button] = edge.t
        if edge.pressed:
            self._down_since[edge.button] = edge.t
            return [Gesture(edge.button, "down")]
        gestures = self.poll(edge.t)
        down_since = self._down_since.pop(edge.button)
        if self._reported.pop(edge.button, None) is None and edge.t - down_since < self.hold_s:
            gestures.append(Gesture(edge.button, "press"))
        return gestures

    def poll(self, now: float) -> list[Gesture]:
        """Report holds that have come due by ``now``; call it every loop."""
        gestures = []
        for button, since in self._down_since.items():
            reported = self._reported.get(button)
            if reported is None and now - since >= self.hold_s:
                gestures.append(Gesture(button, "hold"))
                reported = self._reported[button] = "hold"
            if reported == "hold" and now - since >= self.long_hold_s:
                gestures.append(Gesture(button, "long_hold"))
                self._reported[button] = "long_hold"
        return gestures

    def next_deadline(self) -> float | None:
        """When the next hold falls due, so a waiting loop can wake for it."""
        pending = []
        for button, since in self._down_since.items():
            reported = self._reported.get(button)
            if reported is None:
                pending.append(since + self.hold_s)
            elif reported == "hold":
                pending.append(since + self.long_hold_s)
        return min(pending, default=None)
