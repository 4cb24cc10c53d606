"""gpiozero's own edge handling, on MockFactory pins, reaches the box as timed edges."""

from gpiozero.pins.mock import MockFactory

from stagebox.clock import VirtualClock
from stagebox.events import ButtonEdge
from stagebox.hal.buttons import ButtonPanel


def test_pressing_a_pin_to_ground_posts_down_and_up_edges_with_the_box_time():
    factory, clock, posted = MockFactory(), VirtualClock(), []
    panel = ButtonPanel({"play": 6, "next": 13}, posted.append, clock, pin_factory=factory)
    clock.advance(1.5)
    factory.pin(6).drive_low()
    clock.advance(0.1)
    factory.pin(6).drive_high()
    assert posted == [ButtonEdge("play", True, 1.5), ButtonEdge("play", False, 1.6)]
    panel.close()


def test_closing_the_panel_frees_the_pins_for_the_next_one():
    factory = MockFactory()
    ButtonPanel({"menu": 19}, print, VirtualClock(), pin_factory=factory).close()
    ButtonPanel({"menu": 19}, print, VirtualClock(), pin_factory=factory).close()
