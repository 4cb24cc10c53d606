"""Inputs beside the GPIO panel: USB pedals and MIDI ports, their maps and their list."""
