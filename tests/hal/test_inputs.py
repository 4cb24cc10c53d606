"""The set of inputs: pedals and MIDI ports found, opened, followed as they come and go,
and closed in reverse order; through doubles of udev's answers, evdev's devices and
python-rtmidi's sequencer clients."""

from __future__ import annotations

import errno
import logging
import os
import threading
from pathlib import Path

import pytest
from evdev import ecodes
from input_doubles import FakeEventDevice, FakeSequencer

from stagebox.config import Config, parse_config
from stagebox.events import ButtonEdge, CueSong, InputAdded, InputGone
from stagebox.hal.inputs import MIDI_RESCANS, InputSet
from stagebox.hal.pedal import PedalNode
from stagebox.media.model import MidiMessage

PAGE_TURNER = "1-1.2"
FCB = "FCB1010:FCB1010 MIDI 1 24:0"


class Machine:
    """/dev, udev's input devices and the sequencer, as a test changes them."""

    def __init__(self, tmp_path: Path) -> None:
        self.dev = tmp_path / "dev"
        (self.dev / "input").mkdir(parents=True)
        (self.dev / "snd").mkdir()
        self.nodes: list[PedalNode] = []
        self.devices: dict[str, FakeEventDevice] = {}
        self.open_errors: dict[str, int] = {}
        self.settling = False
        self.lookups = 0
        self.sequencer = FakeSequencer()

    def plug(self, group: str, description: str, **keys: list[int]) -> None:
        for name, codes in keys.items():
            node = f"/dev/input/{name}"
            self.nodes.append(PedalNode(group, description, node, tagged=True))
            self.devices[node] = FakeEventDevice(node, codes)
            (self.dev / "input" / name).touch()

    def unplug(self, group: str) -> None:
        for node in [n for n in self.nodes if n.group == group]:
            self.nodes.remove(node)
            self.devices[node.node].unplug()
            (self.dev / "input" / Path(node.node).name).unlink()

    def plug_midi(self, name: str, *, output: bool = True) -> None:
        self.sequencer.inputs.append(name)
        if output:
            self.sequencer.outputs.append(name)
        (self.dev / "snd" / f"midiC{len(self.sequencer.inputs)}D0").touch()

    def unplug_midi(self, name: str) -> None:
        self.sequencer.inputs.remove(name)
        if name in self.sequencer.outputs:
            self.sequencer.outputs.remove(name)
        for node in (self.dev / "snd").iterdir():
            node.unlink()

    def find_nodes(self) -> tuple[list[PedalNode], bool]:
        self.lookups += 1
        return list(self.nodes), self.settling

    def open_device(self, node: str) -> FakeEventDevice:
        if node in self.open_errors:
            code = self.open_errors[node]
            raise PermissionError(code, os.strerror(code))
        return self.devices[node]


class Closes:
    """An input opened elsewhere (the panel), that says when it is closed."""

    def __init__(self, order: list[str], name: str) -> None:
        self._order, self._name = order, name

    def close(self) -> None:
        self._order.append(self._name)


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


def input_set(machine: Machine, posted: list, config: Config | None = None) -> InputSet:
    return InputSet(config or Config(), posted.append, lambda: 5.0, dev=machine.dev,
                    find_nodes=machine.find_nodes, open_device=machine.open_device,
                    midi_backend=machine.sequencer)


class Posted(list):
    """What the inputs posted; the pedal's reader thread posts too, so a test can wait."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = threading.Condition()

    def append(self, event: object) -> None:
        with self._changed:
            super().append(event)
            self._changed.notify_all()


def until(posted: Posted, kind: type) -> object:
    """The first posted event of ``kind``, waiting for it if need be."""
    with posted._changed:
        # The timeout only guards against a hang: the wait ends when the event comes.
        assert posted._changed.wait_for(lambda: any(isinstance(e, kind) for e in posted),
                                        timeout=30), f"no {kind.__name__} in {posted}"
    return next(event for event in posted if isinstance(event, kind))


def test_a_pedal_plugged_in_before_the_start_is_opened_whole(machine):
    machine.plug(PAGE_TURNER, "AirTurn PED", event3=[ecodes.KEY_PAGEDOWN, ecodes.KEY_PAGEUP],
                 event4=[ecodes.KEY_VOLUMEUP])
    machine.plug("1-1.3", "Logitech Mouse", event5=[ecodes.BTN_LEFT])
    posted: list = []
    inputs = input_set(machine, posted)
    inputs.poll()
    assert posted == [InputAdded(f"hid:{PAGE_TURNER}", "AirTurn PED")]
    assert machine.devices["/dev/input/event3"].grabbed
    assert machine.devices["/dev/input/event4"].grabbed, "every device of the pedal"
    mouse = machine.devices["/dev/input/event5"]
    assert not mouse.grabbed and mouse.closed, "a mouse types no key of the keymap"
    inputs.poll()
    assert machine.lookups == 1, "udev is asked only when /dev changes"
    inputs.close()
    assert machine.devices["/dev/input/event3"].closed


def test_a_pedal_pulled_out_and_plugged_back_in(machine):
    posted = Posted()
    inputs = input_set(machine, posted)
    inputs.poll()
    machine.plug(PAGE_TURNER, "AirTurn PED", event3=[ecodes.KEY_PAGEDOWN])
    inputs.poll()
    source = f"hid:{PAGE_TURNER}"
    machine.devices["/dev/input/event3"].type(ecodes.KEY_PAGEDOWN, 1)
    assert until(posted, ButtonEdge) == ButtonEdge("next", True, 5.0, source)
    machine.unplug(PAGE_TURNER)
    assert until(posted, InputGone) == InputGone(source, "AirTurn PED")
    inputs.poll()
    assert [type(e) for e in posted] == [InputAdded, ButtonEdge, InputGone], "gone once"
    machine.plug(PAGE_TURNER, "AirTurn PED", event6=[ecodes.KEY_PAGEDOWN])
    inputs.poll()
    assert posted[-1] == InputAdded(source, "AirTurn PED")
    inputs.close()


def test_a_pedal_whose_devices_udev_is_still_setting_up_is_looked_for_again(machine):
    posted: list = []
    inputs = input_set(machine, posted)
    machine.settling = True
    (machine.dev / "input" / "event3").touch()
    inputs.poll()
    assert posted == []
    machine.settling = False
    machine.plug(PAGE_TURNER, "AirTurn PED", event3=[ecodes.KEY_SPACE])
    inputs.poll()  # /dev/input did not change, but udev was not done
    assert posted == [InputAdded(f"hid:{PAGE_TURNER}", "AirTurn PED")]
    inputs.close()


def test_a_device_the_box_may_not_open_is_named_and_tried_again_when_dev_changes(
        machine, caplog):
    machine.plug(PAGE_TURNER, "AirTurn PED", event3=[ecodes.KEY_SPACE])
    machine.nodes[0] = PedalNode(PAGE_TURNER, "AirTurn PED", "/dev/input/event3", tagged=False)
    machine.open_errors["/dev/input/event3"] = errno.EACCES
    posted: list = []
    inputs = input_set(machine, posted)
    with caplog.at_level(logging.WARNING):
        inputs.poll()
    assert posted == []
    assert "cannot open /dev/input/event3: Permission denied (udev's 99-stagebox.rules" in \
        caplog.text
    del machine.open_errors["/dev/input/event3"]
    (machine.dev / "input" / "by-id").mkdir()
    inputs.poll()
    assert posted == [InputAdded(f"hid:{PAGE_TURNER}", "AirTurn PED")]
    inputs.close()


def test_pedals_off_in_the_config_opens_none(machine):
    machine.plug(PAGE_TURNER, "AirTurn PED", event3=[ecodes.KEY_SPACE])
    posted: list = []
    config, _ = parse_config("[pedals]\nenabled = false\n")
    inputs = input_set(machine, posted, config)
    inputs.poll()
    assert posted == [] and machine.lookups == 0
    inputs.close()


def test_a_midi_port_is_opened_read_and_let_go_when_unplugged(machine):
    machine.plug_midi("Midi Through:Midi Through Port-0 14:0")
    machine.plug_midi(FCB)
    posted: list = []
    inputs = input_set(machine, posted)
    inputs.poll()
    source = f"midi:{FCB}"
    assert posted == [InputAdded(source, "FCB1010 MIDI 1")], "the loop-back port is no device"
    machine.sequencer.send(FCB, [0xC0, 3])
    machine.sequencer.send(FCB, [0xB0, 81, 127])
    assert posted[1:] == [CueSong(4, source), ButtonEdge("play", True, 5.0, source)]
    reader = [c for c in machine.sequencer.live() if c.port == FCB and hasattr(c, "callback")]
    assert reader[0].ignored == (True, True, True), "clock and active sensing are dropped"
    machine.unplug_midi(FCB)
    inputs.poll()
    assert posted[-1] == InputGone(source, "FCB1010 MIDI 1")
    machine.sequencer.send(FCB, [0xC0, 3])
    assert len(posted) == 4
    inputs.close()
    assert machine.sequencer.live() == [], "every sequencer client is let go"


def test_a_midi_port_that_appears_a_little_after_its_device_node_is_found(machine):
    posted: list = []
    inputs = input_set(machine, posted)
    inputs.poll()
    (machine.dev / "snd" / "midiC1D0").touch()
    inputs.poll()  # the node is there; the sequencer port is not yet
    machine.sequencer.inputs.append(FCB)
    for _ in range(MIDI_RESCANS - 1):
        inputs.poll()
    assert posted == [InputAdded(f"midi:{FCB}", "FCB1010 MIDI 1")]
    inputs.close()


def test_songs_midi_goes_to_every_output_port_and_a_failing_one_is_not_counted(machine):
    machine.plug_midi(FCB)
    machine.plug_midi("UM-ONE:UM-ONE MIDI 1 28:0")
    machine.plug_midi("Keys:Keys MIDI 1 32:0", output=False)
    posted: list = []
    inputs = input_set(machine, posted)
    inputs.poll()
    messages = [MidiMessage("pc", 4), MidiMessage("cc", 7, 100)]
    assert inputs.midi_out.send(messages, 2) == 2
    assert machine.sequencer.received == {
        FCB: [[0xC1, 4], [0xB1, 7, 100]], "UM-ONE:UM-ONE MIDI 1 28:0": [[0xC1, 4], [0xB1, 7, 100]]}
    machine.sequencer.failing_outputs.add(FCB)
    assert inputs.midi_out.send(messages, 2) == 1
    inputs.close()


def test_no_sequencer_means_no_midi_and_the_pedals_still_work(machine, caplog):
    machine.sequencer.present = False
    machine.plug(PAGE_TURNER, "AirTurn PED", event3=[ecodes.KEY_SPACE])
    (machine.dev / "snd" / "controlC0").touch()
    posted: list = []
    inputs = input_set(machine, posted)
    with caplog.at_level(logging.INFO):
        inputs.poll()
        inputs.poll()
    assert posted == [InputAdded(f"hid:{PAGE_TURNER}", "AirTurn PED")]
    assert caplog.text.count("no MIDI: no ALSA sequencer") == 1, "said once, not every poll"
    assert inputs.midi_out.send([MidiMessage("pc", 1)], 1) == 0
    inputs.close()


def test_inputs_are_closed_the_last_opened_first(machine):
    order: list[str] = []
    posted: list = []
    inputs = input_set(machine, posted)
    inputs.add(Closes(order, "panel"))
    machine.plug_midi(FCB)
    inputs.poll()
    inputs.add(Closes(order, "later"))
    inputs.close()
    assert order == ["later", "panel"]
    assert machine.sequencer.live() == []


def test_a_typo_in_the_keymap_is_a_warning_and_the_rest_of_it_works(machine):
    config, _ = parse_config('[pedals]\nkeys = "KEY_PAGDOWN=next KEY_B=play"\n')
    machine.plug(PAGE_TURNER, "AirTurn PED", event3=[ecodes.KEY_B])
    posted: list = []
    inputs = input_set(machine, posted, config)
    assert inputs.warnings == ["pedals.keys: no key KEY_PAGDOWN (did you mean 'KEY_PAGEDOWN'?)"]
    inputs.poll()
    assert posted == [InputAdded(f"hid:{PAGE_TURNER}", "AirTurn PED")]
    inputs.close()
