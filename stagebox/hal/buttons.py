"""The buttons: gpiozero input devices that report raw edges, nothing more.

Timing (debounce, hold) is the gesture layer's job, on the box's clock, so these are plain
``DigitalInputDevice``s: a ``Button`` would also run gpiozero's hold thread, which polls
ten times a second for a hold the box never asks it for. On a Pi the
callbacks run on gpiozero's backend thread, and with ``MockFactory`` pins they run in the
caller's thread: either way the handler only stamps the time and posts the edge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gpiozero import DigitalInputDevice
from gpiozero.pins import Factory

from stagebox.clock import Clock
from stagebox.events import ButtonEdge, ButtonName


class ButtonPanel:
    """One input per named pin, each wired between its pin and ground (pulled up)."""

    def __init__(self, pins: Mapping[ButtonName, int], post: Callable[[ButtonEdge], None],
                 clock: Clock, pin_factory: Factory | None = None) -> None:
        self._clock = clock
        self._post = post
        self.buttons: dict[ButtonName, DigitalInputDevice] = {}
        try:
            for name, pin in pins.items():
                button = DigitalInputDevice(pin, pull_up=True, bounce_time=None,
                                            pin_factory=pin_factory)
                button.when_activated = self._handler(name, pressed=True)
                button.when_deactivated = self._handler(name, pressed=False)
                self.buttons[name] = button
        except Exception:
            self.close()
            raise

    def _handler(self, name: ButtonName, pressed: bool) -> Callable[[], None]:
        def on_edge() -> None:
            self._post(ButtonEdge(name, pressed, self._clock.now()))
        return on_edge

    def close(self) -> None:
        """Release the pins."""
        for button in self.buttons.values():
            button.close()
        self.buttons.clear()
