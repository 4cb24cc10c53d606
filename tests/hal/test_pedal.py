"""A USB pedal read on its own thread, through a double of evdev's device on a pipe."""

from __future__ import annotations

import errno
import queue
import subprocess
import sys

import pytest
from evdev import ecodes
from input_doubles import FakeEventDevice

from stagebox.events import ButtonEdge, InputGone
from stagebox.hal.pedal import Pedal, can_type
from stagebox.inputs.keymap import KeyTranslator

WAIT_S = 30.0
"""Only a guard against a hang: every wait ends when its event arrives."""
KEYMAP = {ecodes.KEY_PAGEDOWN: "next", ecodes.KEY_SPACE: "play"}


@pytest.fixture
def posted() -> queue.SimpleQueue:
    return queue.SimpleQueue()


def pedal_of(posted: queue.SimpleQueue, *devices: FakeEventDevice) -> Pedal:
    clock = iter(range(1000))
    pedal = Pedal(KeyTranslator(KEYMAP, "hid:1-1.2", posted.put, lambda: float(next(clock))),
                  "AirTurn PED", posted.put)
    for device in devices:
        pedal.add(device)
    return pedal


def test_a_pedals_devices_are_one_source_and_grabbed(posted):
    keyboard = FakeEventDevice("/dev/input/event3", [ecodes.KEY_PAGEDOWN, ecodes.KEY_SPACE])
    consumer = FakeEventDevice("/dev/input/event4", [ecodes.KEY_VOLUMEUP, ecodes.KEY_SPACE])
    pedal = pedal_of(posted, keyboard, consumer)
    assert keyboard.grabbed and consumer.grabbed, "its keys reach no console"
    keyboard.type(ecodes.KEY_PAGEDOWN, 1, 2, 2, 0)  # held with the keyboard's auto-repeat
    assert posted.get(timeout=WAIT_S) == ButtonEdge("next", True, 0.0, "hid:1-1.2")
    assert posted.get(timeout=WAIT_S) == ButtonEdge("next", False, 1.0, "hid:1-1.2")
    consumer.type(ecodes.KEY_VOLUMEUP, 1, 0)  # not in the keymap
    consumer.type(ecodes.KEY_SPACE, 1)
    assert posted.get(timeout=WAIT_S) == ButtonEdge("play", True, 2.0, "hid:1-1.2")
    assert pedal.paths == {"/dev/input/event3", "/dev/input/event4"}
    pedal.close()
    assert not keyboard.grabbed and keyboard.closed and consumer.closed
    assert posted.empty(), "closing the pedal is not its going away"


def test_a_pedal_unplugged_says_it_has_gone_once_all_its_devices_have(posted):
    keyboard = FakeEventDevice("/dev/input/event3", [ecodes.KEY_PAGEDOWN])
    consumer = FakeEventDevice("/dev/input/event4", [ecodes.KEY_SPACE])
    pedal = pedal_of(posted, keyboard, consumer)
    keyboard.unplug()
    consumer.type(ecodes.KEY_SPACE, 1)  # the other device still reads
    assert posted.get(timeout=WAIT_S) == ButtonEdge("play", True, 0.0, "hid:1-1.2")
    assert not pedal.gone
    consumer.unplug()
    assert posted.get(timeout=WAIT_S) == InputGone("hid:1-1.2", "AirTurn PED")
    assert pedal.gone and keyboard.closed and consumer.closed and pedal.paths == set()
    pedal.close()
    assert posted.empty()


def test_a_device_added_later_is_read_too(posted):
    first = FakeEventDevice("/dev/input/event3", [ecodes.KEY_PAGEDOWN])
    pedal = pedal_of(posted, first)
    later = FakeEventDevice("/dev/input/event5", [ecodes.KEY_SPACE])
    pedal.add(later)  # the reader thread is waiting on the first device alone
    later.type(ecodes.KEY_SPACE, 1)
    assert posted.get(timeout=WAIT_S).button == "play"
    pedal.close()


def test_a_device_another_program_has_grabbed_is_refused(posted):
    pedal = pedal_of(posted)
    busy = FakeEventDevice("/dev/input/event3", [ecodes.KEY_SPACE], grab_error=errno.EBUSY)
    with pytest.raises(OSError, match="busy"):
        pedal.add(busy)
    assert pedal.paths == set() and not busy.closed, "the caller still owns it"
    busy.close()
    pedal.close()
    pedal.close()  # twice is harmless


def test_a_device_is_a_pedal_when_it_can_type_a_key_of_the_keymap():
    keys = {ecodes.KEY_PAGEDOWN, ecodes.KEY_SPACE}
    assert can_type(FakeEventDevice("k", [ecodes.KEY_A, ecodes.KEY_SPACE]), keys)
    assert not can_type(FakeEventDevice("m", [ecodes.BTN_LEFT, ecodes.BTN_RIGHT]), keys)


def test_the_box_reads_pedals_without_loading_asyncio():
    # A fresh interpreter, as the box is: this one has evdev's asyncio reader already.
    said = subprocess.run(
        [sys.executable, "-c", "import sys\n"
         "from stagebox.hal.pedal import evdev\n"
         "device = evdev().InputDevice\n"
         "print(device.__mro__[1].__module__, 'asyncio' in sys.modules)"],
        capture_output=True, text=True, check=True).stdout.split()
    assert said == ["evdev.eventio", "False"]
