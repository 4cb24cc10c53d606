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
