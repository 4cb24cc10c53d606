"""The configuration: every key defined once here, with its default and its doc.

The shipped example (``stagebox/config.example.toml``) is generated from this schema by
``stagebox config-example`` and a test keeps the two equal. A bad or missing config never
gives a dead box: each problem becomes a warning and that key keeps its default.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stagebox.events import BUTTONS, ButtonName
from stagebox.inputs.keymap import DEFAULT_KEYS, parse_keymap
from stagebox.inputs.midi import DEFAULT_MAP, MidiMap, parse_midi_map

DEFAULT_PATH = Path("/etc/stagebox/config.toml")


@dataclass(frozen=True)
class Setting:
    """One key of the config file."""

    section: str
    name: str
    default: Any
    doc: str
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    parse: Callable[[str], object] | None = None
    """For a text that has a form of its own (a keymap): raises ValueError if malformed."""
    off: bool = False
    """The word ``"off"`` is a value too (the feature is not used)."""

    @property
    def key(self) -> str:
        """The dotted name, e.g. ``audio.device``."""
        return f"{self.section}.{self.name}"

    def check(self, value: Any) -> Any:
        """Return ``value`` as this setting's type, or raise ValueError saying why not."""
        kind = type(self.default)
        if self.off and value == "off":
            return value
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not kind:
            alternative = " or 'off'" if self.off else ""
            raise ValueError(f"{self.key} must be a {_KIND_NAMES[kind]}{alternative}, "
                             f"not {value!r}")
        if kind is float and not math.isfinite(value):
            # TOML has nan and inf; a range check lets nan through (every comparison fails).
            raise ValueError(f"{self.key} must be a finite number, not {value!r}")
        if self.choices and value not in self.choices:
            options = ", ".join(repr(c) for c in self.choices)
            raise ValueError(f"{self.key} must be one of {options}, not {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{self.key} must be at least {self.minimum}, not {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{self.key} must be at most {self.maximum}, not {value!r}")
        if self.parse is not None:
            try:
                self.parse(value)
            except ValueError as exc:
                raise ValueError(f"{self.key}: {exc}") from None
        return value


_KIND_NAMES = {str: "string", int: "whole number", float: "number", bool: "true/false"}

SECTION_DOCS = {
    "audio": "The USB audio interface.",
    "player": "How songs are played.",
    "practice": "Practising: key= and speed= (the setlist options).",
    "buttons": "Buttons or footswitches, each between a GPIO pin (BCM numbering) and ground.",
    "pedals": "USB pedals and page turners (they type keys), plugged in at any time.",
    "midi": "MIDI foot controllers in, and MIDI out to the rest of the rig (USB MIDI).",
    "display": "The 128x64 OLED.",
    "media": "Where the USB stick appears.",
    "state": "What the box remembers across restarts.",
}

SCHEMA: tuple[Setting, ...] = (
    Setting("audio", "device", "default",
            "ALSA playback device: 'default', 'hw:CARD=Device,DEV=0', 'plughw:1,0', ..."),
    Setting("audio", "rate", 48000, "Sample rate in Hz; every song is resampled to it.",
            choices=(44100, 48000, 88200, 96000)),
    Setting("audio", "sample_format", "auto",
            "Sample format: 'auto' picks the best the device takes.",
            choices=("auto", "S16_LE", "S24_3LE", "S24_LE", "S32_LE", "FLOAT_LE")),
    Setting("audio", "channels", 2, "Channels the device is opened with (1, 2, 4, 6 or 8).",
            choices=(1, 2, 4, 6, 8)),
    Setting("audio", "output_pair", 1,
            "On a 4-8 channel interface, the pair the music goes to: 1 = outputs 1-2.",
            minimum=1, maximum=4),
    Setting("audio", "cue_pair", 0,
            "On a 4-8 channel interface, the pair for the band's ears only: the click, the "
            "count-in and a split track's click side (2 = outputs 3-4); 0 = none.",
            minimum=0, maximum=4),
    Setting("audio", "period_frames", 1024, "Frames per ALSA period.", minimum=64,
            maximum=16384),
    Setting("audio", "periods", 4, "Periods in the ALSA buffer.", minimum=2, maximum=32),
    Setting("player", "after_song", "stop",
            "After a song with no then= option: 'stop' (cue the next one) or 'next'.",
            choices=("stop", "next")),
    Setting("player", "volume_db", 0.0,
            "Starting volume in dB until one is remembered.", minimum=-60.0, maximum=6.0),
    Setting("player", "fade_s", 0.5, "Fade-out when a playing song is stopped or paused.",
            minimum=0.0, maximum=5.0),
    Setting("player", "loudness_lufs", -18.0,
            "Loudness every song is matched to, in LUFS (ITU-R BS.1770), its peaks kept "
            "under -1 dBTP; a song's gain= adds to it; 'off' plays songs as mastered.",
            minimum=-40.0, maximum=-5.0, off=True),
    Setting("player", "click_without_cue_pair", "main",
            "With no cue pair to send it to, the click and count-in of show mode go to the "
            "main pair ('main') or nowhere ('off'); practice mode always hears them.",
            choices=("main", "off")),
    Setting("player", "max_file_mb", 512,
            "Largest song file read into memory, in MB of 1,000,000 bytes (the songs "
            "held at once also stay within half the free memory).",
            minimum=1, maximum=4096),
    Setting("practice", "engine", "faster",
            "How key= and speed= are rendered (Rubber Band): 'faster' (a Pi 4 keeps up "
            "with two songs at once) or 'finer' (exact pitch, about 2.5 times the CPU).",
            choices=("faster", "finer")),
    Setting("practice", "period_frames", 512,
            "Frames per ALSA period in practice mode: a shorter buffer, so that a key or "
            "speed change is heard sooner (show mode keeps audio.period_frames).",
            minimum=64, maximum=16384),
    Setting("practice", "periods", 4, "Periods in the ALSA buffer in practice mode.",
            minimum=2, maximum=32),
    Setting("buttons", "prev_pin", 5, "PREV button."),
    Setting("buttons", "play_pin", 6, "PLAY button."),
    Setting("buttons", "next_pin", 13, "NEXT button."),
    Setting("buttons", "menu_pin", 19, "MENU button."),
    Setting("buttons", "hold_s", 0.8,
            "How long a press must last to count as a hold (stop, skip while playing).",
            minimum=0.3, maximum=5.0),
    Setting("buttons", "debounce_s", 0.02, "Contact bounce shorter than this is ignored.",
            minimum=0.0, maximum=0.2),
    Setting("pedals", "enabled", True,
            "Take USB pedals: every keyboard-like USB device, grabbed so its keys go "
            "nowhere else."),
    Setting("pedals", "keys", DEFAULT_KEYS,
            "Key names (Linux's, as `evtest` prints them) to buttons: KEY_NAME=BUTTON "
            "separated by spaces; BUTTON is prev, play, next or menu.",
            parse=parse_keymap),
    Setting("midi", "enabled", True, "Take MIDI ports: every USB MIDI device's, in and out."),
    Setting("midi", "map", DEFAULT_MAP,
            "What MIDI in does: cc:N=BUTTON (a footswitch), note:N=BUTTON, pc:N=BUTTON (a "
            "tap), pc=cue (program N cues song N+1, never plays it), cc:N=cue.",
            parse=parse_midi_map),
    Setting("midi", "in_channel", 0, "The channel MIDI in listens on, 1-16; 0 = all.",
            minimum=0, maximum=16),
    Setting("midi", "cc_threshold", 64,
            "A mapped controller at or above this value presses its button, below releases it.",
            minimum=1, maximum=127),
    Setting("midi", "out_channel", 1,
            "The channel a song's midi= messages are sent on, 1-16.", minimum=1, maximum=16),
    Setting("display", "driver", "ssd1306", "OLED controller: 'ssd1306', 'sh1106' or 'none'.",
            choices=("ssd1306", "sh1106", "none")),
    Setting("display", "i2c_port", 1, "I2C bus number.", minimum=0, maximum=10),
    Setting("display", "i2c_address", 60, "I2C address (60 = 0x3C, 61 = 0x3D).",
            choices=(60, 61)),
    Setting("display", "rotate", 0, "Rotation in quarter turns (2 = upside down).",
            choices=(0, 1, 2, 3)),
    Setting("display", "contrast", 255, "Brightness, 0-255.", minimum=0, maximum=255),
    Setting("media", "root", "/media/stagebox", "Folder the mount helper mounts sticks under."),
    Setting("state", "dir", "/var/lib/stagebox", "Writable folder for the remembered state."),
)

_BY_KEY = {s.key: s for s in SCHEMA}


class Config:
    """Settings by dotted key, every one valid; read ``config["audio.device"]``."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self._values = {s.key: s.default for s in SCHEMA}
        for key, value in (values or {}).items():
            self._values[key] = _BY_KEY[key].check(value)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def replace(self, **changes: Any) -> Config:
        """A copy with some keys changed; keys use ``__`` for the dot (``audio__rate=44100``)."""
        values = dict(self._values)
        values.update({k.replace("__", "."): v for k, v in changes.items()})
        return Config(values)

    @property
    def button_pins(self) -> dict[ButtonName, int]:
        """BCM pin of each button, by button name."""
        return {name: self[f"buttons.{name}_pin"] for name in BUTTONS}

    def buffer_shape(self, practice: bool) -> tuple[int, int]:
        """(frames per period, periods) the device is opened with, in practice mode or
        in show mode."""
        section = "practice" if practice else "audio"
        return self[f"{section}.period_frames"], self[f"{section}.periods"]

    @property
    def pedal_keys(self) -> dict[str, ButtonName]:
        """``pedals.keys`` as {key name: button}."""
        return parse_keymap(self["pedals.keys"])

    @property
    def midi_map(self) -> MidiMap:
        """``midi.map``, parsed."""
        return parse_midi_map(self["midi.map"])


def load_config(path: Path) -> tuple[Config, list[str]]:
    """Read ``path``; return the config and a warning for each problem found.

    Never raises for anything in the file: a missing, unreadable or broken file gives the
    defaults, and a bad key or value keeps that key's default.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(), [f"No config at {path}: using defaults"]
    except (OSError, UnicodeDecodeError) as exc:
        return Config(), [f"Config unreadable ({exc.__class__.__name__}): using defaults"]
    return parse_config(text, source=path.name)


def parse_config(text: str, source: str = "config.toml") -> tuple[Config, list[str]]:
    """Parse TOML text into a config; see :func:`load_config`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Config(), [f"{source}: {exc}: using defaults"]
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for section, table in data.items():
        if not isinstance(table, dict):
            warnings.append(f"{source}: '{section}' is not a [section]: ignored"
                            + _suggest(section, SECTION_DOCS))
            continue
        if section not in SECTION_DOCS:
            warnings.append(f"{source}: unknown section [{section}]: ignored"
                            + _suggest(section, SECTION_DOCS))
            continue
        for name, value in table.items():
            key = f"{section}.{name}"
            setting = _BY_KEY.get(key)
            if setting is None:
                names = [s.name for s in SCHEMA if s.section == section]
                warnings.append(f"{source}: unknown key {key}: ignored" + _suggest(name, names))
                continue
            try:
                values[key] = setting.check(value)
            except ValueError as exc:
                warnings.append(f"{source}: {exc}: using {setting.default!r}")
    return Config(values), warnings


def _suggest(word: str, candidates: Any) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def example_toml() -> str:
    """The documented example config, every key at its default."""
    lines = ["# stagebox configuration. Every key is optional; shown here at its default.",
             "# A key with a bad value keeps its default and the box says so on the display."]
    for section, doc in SECTION_DOCS.items():
        lines += ["", f"# {doc}", f"[{section}]"]
        for setting in (s for s in SCHEMA if s.section == section):
            lines.append(f"# {setting.doc}")
            lines.append(f"{setting.name} = {_toml_value(setting.default)}")
    return "\n".join(lines) + "\n"


_TOML_FORMATTERS: dict[type, Callable[[Any], str]] = {
    bool: lambda v: "true" if v else "false",
    str: lambda v: '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"',
    int: str,
    float: repr,
}


def _toml_value(value: Any) -> str:
    return _TOML_FORMATTERS[type(value)](value)
