"""Presses, holds and bounce, on the box's own clock."""

from stagebox.events import ButtonEdge, Gesture
from stagebox.ui.gestures import GestureDetector


def run(detector: GestureDetector, edges: list[tuple[float, bool]], until: float) -> list:
    out: list[Gesture] = []
    for t, pressed in edges:
        out += detector.poll(t)
        out += detector.edge(ButtonEdge("play", pressed, t))
    t = edges[-1][0]
    while t < until:
        t += 0.01
        out += detector.poll(t)
    return out


def test_a_short_press_is_a_down_at_once_and_a_press_on_release():
    assert run(GestureDetector(), [(1.0, True), (1.1, False)], 3.0) == [
        Gesture("play", "down"), Gesture("play", "press")]


def test_a_hold_fires_at_the_hold_time_without_waiting_for_release():
    detector = GestureDetector(hold_s=0.8)
    detector.edge(ButtonEdge("play", True, 1.0))
    assert detector.poll(1.79) == []
    assert detector.poll(1.8) == [Gesture("play", "hold")]
    assert detector.poll(2.5) == []
    assert detector.edge(ButtonEdge("play", False, 2.5)) == []


def test_a_hold_noticed_only_at_release_is_still_a_hold():
    detector = GestureDetector(hold_s=0.8)
    detector.edge(ButtonEdge("play", True, 1.0))
    assert detector.edge(ButtonEdge("play", False, 2.0)) == [Gesture("play", "hold")]


def test_contact_bounce_makes_one_press_not_several():
    edges = [(1.0, True), (1.003, False), (1.006, True), (1.2, False), (1.204, True),
             (1.207, False)]
    assert run(GestureDetector(debounce_s=0.02), edges, 2.0) == [
        Gesture("play", "down"), Gesture("play", "press")]


def test_the_next_deadline_is_when_a_hold_falls_due():
    detector = GestureDetector(hold_s=0.8)
    assert detector.next_deadline() is None
    detector.edge(ButtonEdge("next", True, 2.0))
    assert detector.next_deadline() == 2.8


def test_a_long_hold_follows_the_hold_when_the_button_stays_down():
    detector = GestureDetector(hold_s=0.8, long_hold_s=3.0)
    detector.edge(ButtonEdge("menu", True, 1.0))
    assert detector.poll(1.8) == [Gesture("menu", "hold")]
    assert detector.next_deadline() == 4.0
    assert detector.poll(3.9) == []
    assert detector.poll(4.0) == [Gesture("menu", "long_hold")]
    assert detector.edge(ButtonEdge("menu", False, 5.0)) == []


def test_a_pedal_held_while_a_panel_button_is_tapped_keeps_its_own_timing():
    detector = GestureDetector(hold_s=0.8)
    assert detector.edge(ButtonEdge("next", True, 1.0, "hid:pedal")) == [
        Gesture("next", "down", "hid:pedal")]
    # The panel's NEXT goes down and up while the pedal's is held: a tap of its own.
    assert detector.edge(ButtonEdge("next", True, 1.2)) == [Gesture("next", "down")]
    assert detector.edge(ButtonEdge("next", False, 1.3)) == [Gesture("next", "press")]
    assert detector.poll(1.79) == []
    assert detector.poll(1.8) == [Gesture("next", "hold", "hid:pedal")]
    assert detector.edge(ButtonEdge("next", False, 2.0, "hid:pedal")) == []


def test_a_release_on_another_source_does_not_end_a_hold():
    detector = GestureDetector(hold_s=0.8)
    detector.edge(ButtonEdge("play", True, 1.0, "midi:fcb"))
    # An up from the panel, whose PLAY was never down, is a lost edge: nothing happens.
    assert detector.edge(ButtonEdge("play", False, 1.1)) == []
    assert detector.poll(1.8) == [Gesture("play", "hold", "midi:fcb")]


def test_holds_on_two_sources_fall_due_each_at_its_own_time():
    detector = GestureDetector(hold_s=0.8)
    detector.edge(ButtonEdge("prev", True, 1.0))
    detector.edge(ButtonEdge("prev", True, 1.2, "hid:pedal"))
    assert detector.next_deadline() == 1.8
    assert detector.poll(1.8) == [Gesture("prev", "hold")]
    assert detector.next_deadline() == 2.0
    assert detector.poll(2.0) == [Gesture("prev", "hold", "hid:pedal")]


def test_only_the_panel_is_debounced_so_a_program_change_tap_is_a_press():
    detector = GestureDetector(debounce_s=0.02)
    assert detector.edge(ButtonEdge("next", True, 1.0, "midi:fcb")) == [
        Gesture("next", "down", "midi:fcb")]
    assert detector.edge(ButtonEdge("next", False, 1.0, "midi:fcb")) == [
        Gesture("next", "press", "midi:fcb")]
    # The panel's contacts still bounce, and are still debounced.
    detector.edge(ButtonEdge("next", True, 2.0))
    assert detector.edge(ButtonEdge("next", False, 2.005)) == []


def test_a_pedal_unplugged_mid_press_is_forgotten_without_a_press_or_a_hold():
    detector = GestureDetector(hold_s=0.8)
    detector.edge(ButtonEdge("next", True, 1.0, "hid:pedal"))
    detector.edge(ButtonEdge("play", True, 1.1))
    detector.forget("hid:pedal")
    assert detector.poll(5.0) == [Gesture("play", "hold"), Gesture("play", "long_hold")]
    assert detector.next_deadline() is None
    # The same pedal plugged back in starts afresh.
    assert detector.edge(ButtonEdge("next", True, 6.0, "hid:pedal")) == [
        Gesture("next", "down", "hid:pedal")]
