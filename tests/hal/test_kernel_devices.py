"""The real paths, through the kernel's own virtual devices where it offers them: a pedal
made with uinput, MIDI ports on the ALSA sequencer, and raw MIDI with running status
through snd-virmidi. A kernel without them (no modules: a container's, this project's CI
machine's) skips these, and only these; the same code is tested through the libraries'
test doubles in test_pedal.py and test_inputs.py."""

from __future__ import annotations

import errno
import os
import queue
import re
from pathlib import Path

import pytest

from stagebox.events import ButtonEdge, CueSong, InputGone
from stagebox.hal.midi import MidiInPort, MidiOutPorts, RtMidiBackend
from stagebox.hal.pedal import Pedal, open_event_device
from stagebox.inputs.keymap import KeyTranslator
from stagebox.inputs.midi import MidiTranslator, parse_midi_map
from stagebox.media.model import MidiMessage

WAIT_S = 30.0
"""Only a guard against a hang: every wait ends when its event arrives."""
UINPUT = Path("/dev/uinput")
SEQUENCER = Path("/dev/snd/seq")

needs_uinput = pytest.mark.skipif(
    not os.access(UINPUT, os.R_OK | os.W_OK),
    reason="kernel: no /dev/uinput (the uinput module), so no virtual pedal")
needs_sequencer = pytest.mark.skipif(
    not os.access(SEQUENCER, os.R_OK | os.W_OK),
    reason="kernel: no /dev/snd/seq (the snd-seq module), so no virtual MIDI port")
pytestmark = pytest.mark.kernel_device


def virmidi_rawmidi() -> Path | None:
    """The raw MIDI device of an snd-virmidi card (``modprobe snd-virmidi``), if any."""
    try:
        cards = Path("/proc/asound/cards").read_text()
    except OSError:
        return None
    match = re.search(r"^\s*(\d+)\s+\[\S+\s*\]: VirMIDI", cards, re.MULTILINE)
    node = Path(f"/dev/snd/midiC{match[1]}D0") if match else None
    return node if node is not None and node.exists() else None


@needs_uinput
def test_a_virtual_pedal_is_grabbed_and_read_and_its_unplugging_noticed():
    from evdev import InputDevice, UInput, ecodes

    posted: queue.SimpleQueue = queue.SimpleQueue()
    pedal_maker = UInput({ecodes.EV_KEY: [ecodes.KEY_PAGEDOWN, ecodes.KEY_SPACE]},
                         name="stagebox test pedal")
    try:
        path = pedal_maker.device.path
        pedal = Pedal(KeyTranslator({ecodes.KEY_PAGEDOWN: "next"}, "hid:test", posted.put,
                                    lambda: 1.0), "stagebox test pedal", posted.put)
        pedal.add(open_event_device(path))
        other = InputDevice(path)
        with pytest.raises(OSError) as refused:
            other.grab()
        assert refused.value.errno == errno.EBUSY, "grabbed: its keys go nowhere else"
        other.close()
        pedal_maker.write(ecodes.EV_KEY, ecodes.KEY_PAGEDOWN, 1)
        pedal_maker.syn()
        assert posted.get(timeout=WAIT_S) == ButtonEdge("next", True, 1.0, "hid:test")
    finally:
        pedal_maker.close()  # the kernel removes the device: the pedal is unplugged
    assert posted.get(timeout=WAIT_S) == InputGone("hid:test", "stagebox test pedal")
    pedal.close()


@needs_sequencer
def test_a_virtual_midi_controller_is_read_through_the_sequencer():
    import rtmidi

    posted: queue.SimpleQueue = queue.SimpleQueue()
    controller = rtmidi.MidiOut(rtmidi.API_LINUX_ALSA, name="stagebox test controller")
    controller.open_virtual_port("pedalboard")
    try:
        name = next(port for port in rtmidi.MidiIn(rtmidi.API_LINUX_ALSA).get_ports()
                    if "pedalboard" in port)
        translator = MidiTranslator(parse_midi_map("pc=cue cc:81=play"), "midi:test",
                                    posted.put, lambda: 1.0)
        port = MidiInPort(name, translator, RtMidiBackend())
        controller.send_message([0xC0, 3])
        controller.send_message([0xF8])  # a clock tick: ignored
        controller.send_message([0xB0, 81, 127])
        assert posted.get(timeout=WAIT_S) == CueSong(4, "midi:test")
        assert posted.get(timeout=WAIT_S) == ButtonEdge("play", True, 1.0, "midi:test")
        port.close()
    finally:
        controller.close_port()
        controller.delete()


@needs_sequencer
def test_songs_midi_reaches_a_virtual_synth_through_the_sequencer():
    import rtmidi

    received: queue.SimpleQueue = queue.SimpleQueue()
    synth = rtmidi.MidiIn(rtmidi.API_LINUX_ALSA, name="stagebox test synth")
    synth.set_callback(lambda event, data: received.put(event[0]))
    synth.open_virtual_port("patches")
    outputs = MidiOutPorts()
    try:
        name = next(port for port in rtmidi.MidiOut(rtmidi.API_LINUX_ALSA).get_ports()
                    if "patches" in port)
        outputs.sync([name], RtMidiBackend())
        assert outputs.send([MidiMessage("pc", 9), MidiMessage("cc", 7, 100)], 2) == 1
        assert received.get(timeout=WAIT_S) == [0xC1, 9]
        assert received.get(timeout=WAIT_S) == [0xB1, 7, 100]
    finally:
        outputs.close()
        synth.close_port()
        synth.delete()


@needs_sequencer
@pytest.mark.skipif(virmidi_rawmidi() is None,
                    reason="kernel: no snd-virmidi card, so no raw MIDI to send bytes into")
def test_running_status_on_the_wire_arrives_as_whole_messages():
    import rtmidi

    raw = virmidi_rawmidi()
    assert raw is not None
    card = raw.name.removeprefix("midiC").split("D")[0]
    name = next(port for port in rtmidi.MidiIn(rtmidi.API_LINUX_ALSA).get_ports()
                if port.startswith(f"Virtual Raw MIDI {card}-0"))
    posted: queue.SimpleQueue = queue.SimpleQueue()
    translator = MidiTranslator(parse_midi_map("note:60=play note:62=next cc:81=menu"),
                                "midi:virmidi", posted.put, lambda: 1.0)
    port = MidiInPort(name, translator, RtMidiBackend())
    try:
        fd = os.open(raw, os.O_WRONLY)
        try:
            # A note on, a second by running status, a clock tick inside a controller.
            os.write(fd, bytes([0x90, 60, 100, 62, 100, 0xB0, 81, 0xF8, 127]))
        finally:
            os.close(fd)
        assert posted.get(timeout=WAIT_S) == ButtonEdge("play", True, 1.0, "midi:virmidi")
        assert posted.get(timeout=WAIT_S) == ButtonEdge("next", True, 1.0, "midi:virmidi")
        assert posted.get(timeout=WAIT_S) == ButtonEdge("menu", True, 1.0, "midi:virmidi")
    finally:
        port.close()
