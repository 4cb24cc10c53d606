"""The buttons: gpiozero ``Button`` devices that report raw edges, nothing more.

Timing (debounce, hold) is the gesture layer's job, on the box's clock. On a Pi the
callbacks run on gpiozero's backend thread, and with ``MockFactory`` pins they run in the
caller's thread: either way the handler only stamps the time and posts the edge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gpiozero import Button
from gpiozero.pins import Factory

from stagebox.clock import Clock
from stagebox.events import ButtonEdge, ButtonName


class ButtonPanel:
    """One gpiozero ``Button`` per named pin, wired between the pin and ground."""

    def __init__(self, pins: Mapping[ButtonName, int], post: Callable[[ButtonEdge], None],
                 clock: Clock, pin_factory: Factory | None = None) -> None:
        self._clock = clock
        self._post = post
        self.buttons: dict[ButtonName, Button] = {}
        try:
            for name, pin in pins.items():
                button = Button(pin, pull_up=True, bounce_time=None, pin_factory=pin_factory)
                button.when_pressed = self._handler(name, pressed=True)
                button.when_released = self._handler(name, pressed=False)
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
