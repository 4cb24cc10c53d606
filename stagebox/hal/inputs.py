"""The box's inputs beside the GPIO panel, followed as they are plugged in and pulled out.

The daemon's sandbox has no network, so udev's netlink events never reach it (as for the
sticks, see :mod:`stagebox.hal.media_watch`): the main loop polls instead. Each poll
lists ``/dev/input`` and ``/dev/snd``, a few names; only when they change does it ask
udev (pyudev) which event devices belong to which USB device, and the ALSA sequencer
which MIDI ports there are. A pedal is every event device of one USB device, once any of
them can type a key of the keymap; a MIDI port is every sequencer port of a device.

The inputs are kept in the order they were opened, the panel first, and closed in
reverse, before anything else when the box stops.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stagebox.config import Config
from stagebox.events import InputAdded, InputGone
from stagebox.hal.midi import (
    MidiBackend,
    MidiError,
    MidiInPort,
    MidiOutPorts,
    RtMidiBackend,
    RtMidiIn,
    RtMidiOut,
    device_ports,
)
from stagebox.hal.pedal import (
    EventDevice,
    Pedal,
    PedalNode,
    can_type,
    evdev,
    find_pedal_nodes,
    open_event_device,
)
from stagebox.inputs.keymap import KeyTranslator, key_codes
from stagebox.inputs.midi import MidiTranslator

log = logging.getLogger(__name__)

MIDI_RESCANS = 6
"""Polls that look for MIDI ports after ``/dev/snd`` changed: a device's sequencer port
can appear a little after its device nodes (the kernel loads its driver then)."""


class Input(Protocol):
    """Anything the set closes: the panel, a pedal, a MIDI port."""

    def close(self) -> None: ...


class InputSet:
    """The open inputs, and the hot-plug poll that keeps them current (main loop)."""

    def __init__(self, config: Config, post: Callable[[object], None],
                 now: Callable[[], float], *, dev: Path = Path("/dev"),
                 find_nodes: Callable[[], tuple[list[PedalNode], bool]] = find_pedal_nodes,
                 open_device: Callable[[str], EventDevice] = open_event_device,
                 midi_backend: MidiBackend | None = None) -> None:
        # Imported here, after READY=1, with the rest of the inputs.
        ecodes = evdev().ecodes

        self._config = config
        self._post = post
        self._now = now
        self._dev = dev
        self._find_nodes = find_nodes
        self._open_device = open_device
        self._backend = midi_backend or RtMidiBackend()
        self._codes, self.warnings = key_codes(config.pedal_keys, ecodes.ecodes)
        self._midi_map = config.midi_map
        self._opened: list[Input] = []
        self._pedals: dict[str, Pedal] = {}
        self._not_pedals: dict[str, frozenset[str]] = {}
        """Groups looked at that type no key of the keymap, with the nodes they had."""
        self._failed: set[str] = set()
        """Nodes and ports that could not be opened: tried again when the devices change."""
        self._midi_ins: dict[str, MidiInPort] = {}
        self._scanners: tuple[RtMidiIn, RtMidiOut] | None = None
        self.midi_out = MidiOutPorts()
        self._listing: tuple[tuple[str, ...], ...] | None = None
        self._settling = False
        self._midi_rescans = 0

    def add(self, item: Input) -> None:
        """Keep an input opened elsewhere (the panel), to be closed with the rest."""
        self._opened.append(item)

    def poll(self) -> None:
        """Open what has been plugged in, close what has gone (main loop)."""
        listing = (self._list("input"), self._list("snd"))
        changed = listing != self._listing
        if changed:
            self._listing = listing
            self._failed.clear()
            self._midi_rescans = MIDI_RESCANS
        if self._config["pedals.enabled"] and (changed or self._settling):
            self._poll_pedals()
        if self._config["midi.enabled"] and self._midi_rescans > 0:
            self._midi_rescans -= 1
            self._poll_midi()

    def close(self) -> None:
        """Close every input, the last opened first (main loop)."""
        for item in reversed(self._opened):
            item.close()
        self._opened.clear()
        self._pedals.clear()
        self._midi_ins.clear()
        self.midi_out.close()
        if self._scanners is not None:
            for scanner in self._scanners:
                scanner.delete()
            self._scanners = None

    def _list(self, folder: str) -> tuple[str, ...]:
        try:
            return tuple(sorted(os.listdir(self._dev / folder)))
        except OSError:
            return ()

    # --- pedals --------------------------------------------------------------------------

    def _poll_pedals(self) -> None:
        nodes, self._settling = self._find_nodes()
        groups: dict[str, list[PedalNode]] = {}
        for node in nodes:
            groups.setdefault(node.group, []).append(node)
        for group, pedal in list(self._pedals.items()):
            if pedal.gone or group not in groups:
                self._drop_pedal(group)
        for group, members in groups.items():
            self._take_group(group, members)

    def _take_group(self, group: str, members: list[PedalNode]) -> None:
        pedal = self._pedals.get(group)
        known = pedal.paths if pedal else set()
        paths = frozenset(node.node for node in members)
        if pedal is None and self._not_pedals.get(group) == paths:
            return
        devices = [device for node in members if node.node not in known
                   and node.node not in self._failed
                   and (device := self._open(node)) is not None]
        if pedal is None:
            if not devices:
                return
            if not any(can_type(device, self._codes) for device in devices):
                self._not_pedals[group] = paths
                for device in devices:
                    device.close()
                return
            pedal = Pedal(KeyTranslator(self._codes, f"hid:{group}", self._post, self._now),
                          members[0].description, self._post)
        for device in devices:
            try:
                pedal.add(device)
            except OSError as exc:
                log.warning("%s: cannot grab %s: %s", pedal.description, device.path, exc)
                self._failed.add(device.path)
                device.close()
        if group in self._pedals:
            return
        if not pedal.paths:
            pedal.close()
            return
        self._not_pedals.pop(group, None)
        self._pedals[group] = pedal
        self._opened.append(pedal)
        self._post(InputAdded(pedal.source, pedal.description))

    def _open(self, node: PedalNode) -> EventDevice | None:
        try:
            return self._open_device(node.node)
        except OSError as exc:
            self._failed.add(node.node)
            hint = "" if node.tagged else " (udev's 99-stagebox.rules is not installed?)"
            log.warning("%s: cannot open %s: %s%s", node.description, node.node,
                        exc.strerror or exc, hint)
            return None

    def _drop_pedal(self, group: str) -> None:
        pedal = self._pedals.pop(group)
        self._opened.remove(pedal)
        reported = pedal.gone
        pedal.close()
        if not reported:
            self._post(InputGone(pedal.source, pedal.description))

    # --- MIDI ----------------------------------------------------------------------------

    def _poll_midi(self) -> None:
        try:
            if self._scanners is None:
                self._scanners = (self._backend.midi_in(), self._backend.midi_out())
        except MidiError as exc:
            log.info("no MIDI: %s", exc)
            self._midi_rescans = 0
            return
        scan_in, scan_out = self._scanners
        inputs = device_ports(scan_in.get_ports())
        for name in [name for name in self._midi_ins if name not in inputs]:
            port = self._midi_ins.pop(name)
            self._opened.remove(port)
            port.close()
            self._post(InputGone(port.source, port.description))
        for name in inputs:
            if name not in self._midi_ins and name not in self._failed:
                self._open_midi_in(name)
        self.midi_out.sync(device_ports(scan_out.get_ports()), self._backend)

    def _open_midi_in(self, name: str) -> None:
        config = self._config
        translator = MidiTranslator(self._midi_map, f"midi:{name}", self._post, self._now,
                                    in_channel=config["midi.in_channel"],
                                    cc_threshold=config["midi.cc_threshold"])
        try:
            port = MidiInPort(name, translator, self._backend)
        except MidiError as exc:
            log.warning("MIDI in: %s", exc)
            self._failed.add(name)
            return
        self._midi_ins[name] = port
        self._opened.append(port)
        self._post(InputAdded(port.source, port.description))


@dataclass(frozen=True)
class SeenPedal:
    """A USB or Bluetooth input device, as ``stagebox devices`` lists it."""

    description: str
    nodes: tuple[str, ...]
    untagged: tuple[str, ...]
    """Nodes udev's stagebox rule did not match: the service may not open them."""


@dataclass(frozen=True)
class InputsSeen:
    """The pedals and MIDI ports this machine has now."""

    pedals: tuple[SeenPedal, ...]
    midi_in: tuple[str, ...]
    midi_out: tuple[str, ...]
    midi_problem: str = ""
    """Why MIDI cannot be looked at (no sequencer), else empty."""


def look_for_inputs(find_nodes: Callable[[], tuple[list[PedalNode], bool]] = find_pedal_nodes,
                    backend: MidiBackend | None = None) -> InputsSeen:
    """What is plugged in, for ``stagebox devices`` and ``stagebox doctor`` (main thread)."""
    groups: dict[str, list[PedalNode]] = {}
    for node in find_nodes()[0]:
        groups.setdefault(node.group, []).append(node)
    pedals = tuple(SeenPedal(members[0].description, tuple(n.node for n in members),
                             tuple(n.node for n in members if not n.tagged))
                   for members in groups.values())
    backend = backend or RtMidiBackend()
    try:
        scan_in, scan_out = backend.midi_in(), backend.midi_out()
    except MidiError as exc:
        return InputsSeen(pedals, (), (), str(exc))
    try:
        return InputsSeen(pedals, tuple(device_ports(scan_in.get_ports())),
                          tuple(device_ports(scan_out.get_ports())))
    finally:
        scan_in.delete()
        scan_out.delete()
