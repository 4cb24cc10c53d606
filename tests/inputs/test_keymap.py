"""The pedal keymap: names to buttons, key events to edges."""

from __future__ import annotations

import pytest
from evdev import ecodes

from stagebox.config import parse_config
from stagebox.events import ButtonEdge
from stagebox.inputs.keymap import DEFAULT_KEYS, KeyTranslator, key_codes, parse_keymap


def test_the_default_keymap_is_what_page_turners_type():
    assert parse_keymap(DEFAULT_KEYS) == {
        "KEY_PAGEDOWN": "next", "KEY_RIGHT": "next", "KEY_PAGEUP": "prev",
        "KEY_LEFT": "prev", "KEY_SPACE": "play", "KEY_ENTER": "play"}


def test_names_and_buttons_are_read_in_any_case():
    assert parse_keymap("key_b=Play  BTN_0=menu") == {"KEY_B": "play", "BTN_0": "menu"}


@pytest.mark.parametrize(("text", "why"), [
    ("KEY_B", "write KEY_NAME=BUTTON"), ("PAGEDOWN=next", "write KEY_NAME=BUTTON"),
    ("KEY_B=stop", "'stop' is not a button"), ("KEY_B=nxet", "did you mean 'next'?"),
])
def test_a_bad_keymap_says_what_to_write(text, why):
    with pytest.raises(ValueError, match=why):
        parse_keymap(text)


def test_a_bad_keymap_in_the_config_keeps_the_default_and_says_why():
    config, warnings = parse_config('[pedals]\nkeys = "KEY_B=stop"\n')
    assert config["pedals.keys"] == DEFAULT_KEYS
    assert len(warnings) == 1 and "pedals.keys: 'KEY_B=stop'" in warnings[0]


def test_names_are_looked_up_in_evdevs_table_and_a_typo_is_named():
    codes, problems = key_codes(parse_keymap("KEY_PAGEDOWN=next KEY_PAGDOWN=prev BTN_0=menu"),
                                ecodes.ecodes)
    assert codes == {ecodes.KEY_PAGEDOWN: "next", ecodes.BTN_0: "menu"}
    assert problems == ["pedals.keys: no key KEY_PAGDOWN (did you mean 'KEY_PAGEDOWN'?)"]


def test_key_events_become_edges_of_their_pedal_and_repeats_are_ignored():
    posted: list[ButtonEdge] = []
    now = iter([1.0, 1.5])
    keys = KeyTranslator({ecodes.KEY_PAGEDOWN: "next"}, "hid:pedal", posted.append,
                         lambda: next(now))
    keys.key(ecodes.KEY_PAGEDOWN, 1)
    keys.key(ecodes.KEY_PAGEDOWN, 2)  # the keyboard's auto-repeat: the box times holds
    keys.key(ecodes.KEY_A, 1)  # not in the keymap
    keys.key(ecodes.KEY_PAGEDOWN, 0)
    assert posted == [ButtonEdge("next", True, 1.0, "hid:pedal"),
                      ButtonEdge("next", False, 1.5, "hid:pedal")]
