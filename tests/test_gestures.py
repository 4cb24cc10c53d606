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
