"""The simulator's script: good lines become steps, bad ones are refused with a reason."""

import pytest

from stagebox.sim.script import ScriptError, Step, parse_script


def test_a_script_becomes_time_ordered_steps():
    steps = parse_script("# show\n0 insert\n1 hold play 2  # pause\n1.5 press next\n3 end\n")
    assert [(s.t, s.action, s.arg) for s in steps] == [
        (0.0, "insert", ""), (1.0, "down", "play"), (1.5, "down", "next"),
        (1.55, "up", "next"), (3.0, "up", "play"), (3.0, "end", "")]
    assert all(isinstance(s, Step) for s in steps)


@pytest.mark.parametrize(("text", "why"), [
    ("0 insert\n", "must finish with an 'end'"),
    ("0 jump\n1 end\n", "line 1: unknown action 'jump'"),
    ("0 press stomp\n1 end\n", "line 1: unknown button 'stomp'"),
    ("5 insert\n2 end\n", "line 2: 2 s is before"),
    ("x insert\n2 end\n", "line 1: 'x' is not a time"),
    ("0 hold play\n2 end\n", "line 1: expected 'hold BUTTON SECONDS'"),
    ("0 end\n1 insert\n", "line 2: nothing may follow 'end'"),
    ("-1 insert\n2 end\n", "line 1: '-1' is not a time"),
])
def test_bad_scripts_are_refused_with_the_line_and_why(text, why):
    with pytest.raises(ScriptError, match=why):
        parse_script(text)


def test_pedal_keys_and_midi_messages_become_steps():
    steps = parse_script("0 hid KEY_PAGEDOWN\n1 hid-hold key_space 1.5\n2 midi pc 3\n"
                         "3 midi cc 81 127\n4 midi note 60\n5 midi note 62 2\n8 end\n")
    assert [(s.t, s.action, s.arg) for s in steps] == [
        (0.0, "key_down", "KEY_PAGEDOWN"), (0.05, "key_up", "KEY_PAGEDOWN"),
        (1.0, "key_down", "KEY_SPACE"), (2.0, "midi", "pc 3"), (2.5, "key_up", "KEY_SPACE"),
        (3.0, "midi", "cc 81 127"), (4.0, "midi", "note_on 60 100"),
        (4.05, "midi", "note_off 60 0"), (5.0, "midi", "note_on 62 100"),
        (7.0, "midi", "note_off 62 0"), (8.0, "end", "")]


@pytest.mark.parametrize(("text", "why"), [
    ("0 hid KEY_PAGDOWN\n1 end\n", "unknown key 'KEY_PAGDOWN' \\(did you mean 'KEY_PAGEDOWN'"),
    ("0 hid PAGEDOWN\n1 end\n", "unknown key 'PAGEDOWN'"),
    ("0 hid\n1 end\n", "expected 'hid KEYNAME'"),
    ("0 hid-hold KEY_SPACE\n1 end\n", "expected 'hid-hold KEYNAME SECONDS'"),
    ("0 hid-hold KEY_SPACE 0\n1 end\n", "a hold must last some time"),
    ("0 midi pc 128\n1 end\n", "'128' is not a MIDI value"),
    ("0 midi cc 80\n1 end\n", "expected 'midi pc PROGRAM'"),
    ("0 midi sysex 1\n1 end\n", "expected 'midi pc PROGRAM'"),
    ("0 midi\n1 end\n", "expected 'midi pc PROGRAM'"),
    ("0 midi note 60 0\n1 end\n", "a hold must last some time"),
])
def test_bad_pedal_and_midi_lines_are_refused_with_why(text, why):
    with pytest.raises(ScriptError, match=why):
        parse_script(text)
