"""Why the box reads MIDI through ALSA's sequencer and not raw bytes through mido.

MIDI on a cable may leave out a repeated status byte (running status), and real-time
bytes (clock, active sensing) may come in the middle of a message. The sequencer's
kernel driver undoes both (test_kernel_devices.py sends such bytes through snd-virmidi).
mido's byte parser loses both: if a later mido handles them, these tests say so, and
reading raw MIDI with it could be weighed again.
"""

from __future__ import annotations

import mido


def test_mido_drops_the_messages_sent_with_running_status():
    parser = mido.Parser()
    # Three note-ons on channel 1: the status byte 0x90 is sent once.
    parser.feed(bytes([0x90, 60, 100, 62, 100, 64, 100]))
    assert [message.note for message in parser] == [60], "the second and third are lost"


def test_mido_drops_a_message_a_clock_tick_interrupts():
    parser = mido.Parser()
    # A footswitch's control change, a clock tick between its data bytes (legal MIDI).
    parser.feed(bytes([0xB0, 80, 0xF8, 127]))
    assert [message.type for message in parser] == ["clock"], "the control change is lost"
