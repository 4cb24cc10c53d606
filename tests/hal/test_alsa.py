"""The ALSA sink: real alsa-lib through its ``file`` and ``null`` plugins, and a fake PCM
for the failures no plugin can make (underruns, an interface pulled out)."""

import subprocess
import sys
from pathlib import Path

import alsaaudio
import numpy as np
import pytest

from stagebox.config import Config
from stagebox.hal.alsa import AlsaSink, list_devices, open_configured, probe
from stagebox.hal.audio import SAMPLE_FORMATS, DeviceLost
from stagebox.hal.formats import BlockEncoder, decode

STEP = {"S16_LE": 1.5 * 2.0**-15, "S24_3LE": 2.0**-24, "S24_LE": 2.0**-24,
        "S32_LE": 1e-7, "FLOAT_LE": 0.0}
"""How far a decoded sample may be from the input: 16-bit carries ±1 LSB of dither."""


def music(frames: int) -> np.ndarray:
    """A stereo signal whose channels differ, so a swap or a misplaced pair shows."""
    t = np.arange(frames) / 48000
    return np.stack([0.5 * np.sin(2 * np.pi * 440 * t),
                     -0.8 * np.sin(2 * np.pi * 660 * t)], axis=1).astype(np.float32)


def file_device(path: Path) -> str:
    return f'file:FILE="{path}",FORMAT=raw'


# --- the real alsa-lib, through the file plugin --------------------------------------

@pytest.mark.parametrize("fmt", SAMPLE_FORMATS)
@pytest.mark.parametrize(("channels", "pair"), [(1, 1), (2, 1), (4, 2), (6, 3), (8, 4)])
def test_the_file_plugin_records_what_was_played_in_each_format_and_layout(
        tmp_path, fmt, channels, pair):
    raw = tmp_path / "out.raw"
    sink = AlsaSink.open(file_device(raw), rate=48000, channels=channels, sample_format=fmt,
                         period_frames=256, periods=4, output_pair=pair)
    assert (sink.config.sample_format, sink.config.channels, sink.config.rate) == (
        fmt, channels, 48000)
    signal = music(3000)
    for start in range(0, 3000, 1000):
        sink.write(signal[start:start + 1000])
    sink.close()

    heard = decode(raw.read_bytes(), fmt, channels)
    assert heard.shape == (3000, channels)
    if channels == 1:
        assert np.abs(heard[:, 0] - signal.mean(axis=1)).max() <= STEP[fmt]
    else:
        music_columns = [2 * pair - 2, 2 * pair - 1]
        assert np.abs(heard[:, music_columns] - signal).max() <= STEP[fmt]
        assert not np.delete(heard, music_columns, axis=1).any()
    assert sink.frames_written == 3000
    assert sink.xruns == 0


def test_with_no_format_asked_the_deepest_the_device_takes_is_chosen(tmp_path):
    sink = AlsaSink.open(file_device(tmp_path / "out.raw"))
    assert sink.config.sample_format == "S32_LE"
    sink.close()


def test_the_negotiated_period_and_buffer_are_read_back(tmp_path):
    sink = AlsaSink.open(file_device(tmp_path / "out.raw"), period_frames=512, periods=3)
    assert (sink.config.period_frames, sink.config.buffer_frames) == (512, 1536)
    assert sink.config.latency_s == pytest.approx(1536 / 48000)
    sink.close()


def test_the_null_device_takes_writes_and_reports_a_delay_within_its_buffer():
    sink = AlsaSink.open("null", sample_format="S16_LE")
    for _ in range(8):
        sink.write(music(1024))
    assert sink.frames_written == 8 * 1024
    assert 0 <= sink.delay_frames() <= sink.config.buffer_frames
    sink.close()
    sink.close()
    assert sink.delay_frames() == 0
    with pytest.raises(DeviceLost):
        sink.write(music(16))


def test_a_device_that_is_not_there_is_reported_lost_at_open():
    with pytest.raises(DeviceLost, match="NoSuchCard"):
        AlsaSink.open("hw:CARD=NoSuchCard,DEV=0")


# The service runs under MemoryDenyWriteExecute=, whose kernel form is PR_SET_MDWE: the
# handler that keeps alsa-lib quiet must be made there too.
RETRY_AN_ABSENT_INTERFACE = """
import ctypes, sys
if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_MDWE) failed")
from stagebox.hal.alsa import AlsaSink
from stagebox.hal.audio import DeviceLost
for device in ("plughw:CARD=NoSuchCard,DEV=0", "hw:CARD=NoSuchCard,DEV=0") * 5:
    try:
        AlsaSink.open(device)
    except DeviceLost as exc:
        print(exc)
"""


def test_retrying_an_absent_interface_writes_nothing_to_the_journal():
    # The output thread tries once a second while the interface is unplugged; alsa-lib
    # printed its own lines for each try, and the service's stderr is the journal.
    tries = subprocess.run([sys.executable, "-c", RETRY_AN_ABSENT_INTERFACE],
                           capture_output=True, text=True, check=True, timeout=60)
    assert tries.stdout.count("NoSuchCard") == 10
    assert tries.stderr == ""


def test_the_device_list_always_offers_default_and_null():
    names = [device.name for device in list_devices()]
    assert names[0] == "default"
    assert "null" in names
    assert len(names) == len(set(names))


def test_probing_null_finds_every_format_rate_and_channel_count():
    caps = probe("null")
    assert caps is not None
    assert caps.formats == SAMPLE_FORMATS
    assert caps.rates == (44100, 48000, 88200, 96000)
    assert caps.channels == (1, 2, 4, 6, 8)


def test_probing_a_device_that_cannot_be_opened_gives_none():
    assert probe("hw:CARD=NoSuchCard,DEV=0") is None


# --- a fake PCM, for underruns and unplugging ----------------------------------------

class FakePcm:
    """Takes writes as pyalsaaudio's PCM does, with scripted results: an int is what
    ``write()`` returns (frames taken, or -32 for an underrun; the data counts as
    taken only for a positive int), an exception is raised."""

    def __init__(self, script=(), fmt="S16_LE", channels=2, rate=48000, period=1024,
                 periods=4, frame_bytes=4):
        self.script = list(script)
        self.frame_bytes = frame_bytes
        self.received = bytearray()
        self.drops = 0
        self.closed = 0
        self.avail_frames = period * periods
        self._info = {"format_name": fmt, "channels": channels, "rate": rate,
                      "period_size": period, "buffer_size": period * periods}

    def info(self):
        return dict(self._info)

    def write(self, data):
        data = bytes(data)
        result = self.script.pop(0) if self.script else len(data) // self.frame_bytes
        if isinstance(result, Exception):
            raise result
        if result > 0:
            self.received += data[: result * self.frame_bytes]
        return result

    def avail(self):
        return self.avail_frames

    def drop(self):
        self.drops += 1
        return 0

    def close(self):
        self.closed += 1


def encoded(block: np.ndarray) -> bytes:
    return bytes(BlockEncoder("S16_LE", 2, 4096).encode(block))


def test_an_underrun_is_counted_and_the_block_written_again():
    pcm = FakePcm(script=[-32])
    sink = AlsaSink(pcm, "fake")
    block = music(1024)
    sink.write(block)
    assert sink.xruns == 1
    assert bytes(pcm.received) == encoded(block)
    assert sink.frames_written == 1024


def test_partial_writes_are_continued_until_the_whole_block_is_taken():
    pcm = FakePcm(script=[100, 300, 0, 24, 600])
    sink = AlsaSink(pcm, "fake")
    block = music(1024)
    sink.write(block)
    assert bytes(pcm.received) == encoded(block)
    assert sink.xruns == 0


def test_a_device_that_keeps_refusing_costs_one_block_not_a_hang():
    pcm = FakePcm(script=[-32] * 1000)
    sink = AlsaSink(pcm, "fake")
    sink.write(music(1024))
    assert sink.xruns >= 1
    assert sink.frames_written == 0
    pcm.script.clear()
    sink.write(music(1024))
    assert sink.frames_written == 1024


@pytest.mark.parametrize("message", [
    "No such device [hw:CARD=USB,DEV=0]",
    "File descriptor in bad state [hw:CARD=USB,DEV=0]",
    "Input/output error [hw:CARD=USB,DEV=0]",
])
def test_an_interface_pulled_out_is_reported_as_lost(message):
    sink = AlsaSink(FakePcm(script=[alsaaudio.ALSAAudioError(message)]), "hw:CARD=USB,DEV=0")
    with pytest.raises(DeviceLost, match=message.split(" [")[0]):
        sink.write(music(1024))


def test_a_suspended_stream_is_dropped_and_played_on():
    pcm = FakePcm(script=[alsaaudio.ALSAAudioError("Streams pipe error [hw:0]")])
    sink = AlsaSink(pcm, "hw:0")
    block = music(1024)
    sink.write(block)
    assert pcm.drops == 1
    assert sink.xruns == 1
    assert bytes(pcm.received) == encoded(block)


def test_an_error_that_recovery_does_not_cure_is_reported_as_lost():
    error = alsaaudio.ALSAAudioError("Streams pipe error [hw:0]")
    sink = AlsaSink(FakePcm(script=[error, error]), "hw:0")
    with pytest.raises(DeviceLost, match="Streams pipe error"):
        sink.write(music(1024))


def test_the_delay_is_what_the_buffer_holds():
    pcm = FakePcm()
    sink = AlsaSink(pcm, "fake")
    pcm.avail_frames = 1000
    assert sink.delay_frames() == 4096 - 1000
    pcm.avail_frames = -32  # snd_pcm_avail in an underrun: nothing is queued
    assert sink.delay_frames() == 0


def test_close_releases_the_pcm_once():
    pcm = FakePcm()
    sink = AlsaSink(pcm, "fake")
    sink.close()
    sink.close()
    assert pcm.closed == 1


class FakeDevice:
    """A device with fixed abilities, opened as pyalsaaudio opens one: what it refuses
    is silently replaced by what it takes, and ``info()`` tells the truth."""

    def __init__(self, formats, channels, rates, busy=False):
        self.formats, self.channels, self.rates, self.busy = formats, channels, rates, busy
        self.opened = []

    def __call__(self, *, type, mode, device, channels, rate, format, periodsize, periods):
        if self.busy:
            raise alsaaudio.ALSAAudioError(f"Device or resource busy [{device}]")
        names = {getattr(alsaaudio, f"PCM_FORMAT_{name}"): name for name in
                 (*SAMPLE_FORMATS, "U8")}
        fmt = names[format] if names[format] in self.formats else self.formats[0]
        got_channels = channels if channels in self.channels else min(self.channels)
        got_rate = min(self.rates, key=lambda r: abs(r - rate))
        self.opened.append((fmt, got_channels, got_rate))
        return FakePcm(fmt=fmt, channels=got_channels, rate=got_rate, period=periodsize,
                       periods=periods)


def test_a_four_output_interface_that_refuses_stereo_plays_on_the_asked_pair():
    device = FakeDevice(formats=["S16_LE", "S24_3LE"], channels=[4], rates=[44100, 48000])
    sink = AlsaSink.open("hw:CARD=UMC404HD,DEV=0", channels=2, output_pair=2,
                         pcm_factory=device)
    assert (sink.config.sample_format, sink.config.channels, sink.config.rate) == (
        "S24_3LE", 4, 48000)
    assert sink.output_pair == 2


def test_a_pair_the_negotiated_device_lacks_falls_back_to_outputs_1_and_2():
    device = FakeDevice(formats=["S32_LE"], channels=[2], rates=[48000])
    sink = AlsaSink.open("hw:0", channels=4, output_pair=2, pcm_factory=device)
    assert (sink.config.channels, sink.output_pair) == (2, 1)


def test_a_rate_the_device_refuses_falls_back_to_one_it_takes():
    device = FakeDevice(formats=["S16_LE"], channels=[2], rates=[44100])
    sink = AlsaSink.open("hw:0", rate=96000, pcm_factory=device)
    assert sink.config.rate == 44100


def test_an_asked_format_the_device_refuses_gives_way_to_the_one_it_took():
    device = FakeDevice(formats=["S24_3LE"], channels=[2], rates=[48000])
    sink = AlsaSink.open("hw:0", sample_format="S16_LE", pcm_factory=device)
    assert sink.config.sample_format == "S24_3LE"


def test_a_device_with_no_usable_format_is_refused_with_a_message():
    device = FakeDevice(formats=["U8"], channels=[2], rates=[48000])
    with pytest.raises(DeviceLost, match="takes none of"):
        AlsaSink.open("hw:0", pcm_factory=device)


def test_a_busy_device_is_reported_at_once_without_trying_every_setting():
    with pytest.raises(DeviceLost, match="busy"):
        AlsaSink.open("hw:0", pcm_factory=FakeDevice(["S16_LE"], [2], [48000], busy=True))


# --- which device "default" is -------------------------------------------------------

CARDS = [(0, "Controller"), (1, "Device")]
"""A USB MIDI controller plugged in first (card 0: nothing to play on), then the interface."""


def pcms_where(playable: set[str]):
    """A PCM factory: the null plugin for the devices in ``playable``, ALSA's refusal of a
    card with no playback device for the rest."""
    def factory(**kwargs):
        if kwargs["device"] not in playable:
            raise alsaaudio.ALSAAudioError(f"No such file or directory [{kwargs['device']}]")
        return alsaaudio.PCM(**{**kwargs, "device": "null"})
    return factory


def test_default_plays_on_the_first_card_that_can_when_card_0_cannot():
    sink = open_configured(Config({"audio.device": "default"}), cards=lambda: CARDS,
                           pcm_factory=pcms_where({"plughw:CARD=Device,DEV=0"}))
    assert sink.config.device == "plughw:CARD=Device,DEV=0"
    sink.close()


def test_default_is_alsas_own_when_it_can_play():
    sink = open_configured(Config({"audio.device": "default"}), cards=lambda: CARDS,
                           pcm_factory=pcms_where({"default", "plughw:CARD=Device,DEV=0"}))
    assert sink.config.device == "default", "a working default is the user's choice"
    sink.close()


def test_a_named_device_that_cannot_play_is_lost_not_replaced():
    with pytest.raises(DeviceLost):
        open_configured(Config({"audio.device": "hw:CARD=Other,DEV=0"}), cards=lambda: CARDS,
                        pcm_factory=pcms_where({"plughw:CARD=Device,DEV=0"}))


def test_no_card_that_can_play_is_the_interface_missing():
    with pytest.raises(DeviceLost):
        open_configured(Config({"audio.device": "default"}), cards=lambda: CARDS,
                        pcm_factory=pcms_where(set()))


def test_practice_mode_opens_the_device_with_the_practice_buffer(tmp_path):
    config = Config({"audio.device": file_device(tmp_path / "out.raw"),
                     "practice.period_frames": 256, "practice.periods": 3})
    for practising, shape in ((False, (1024, 4096)), (True, (256, 768))):
        sink = open_configured(config, practising=practising)
        assert (sink.config.period_frames, sink.config.buffer_frames) == shape
        sink.close()
