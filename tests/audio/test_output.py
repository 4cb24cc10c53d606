"""The output pump: what reaches the device, and what the box hears about it."""

from __future__ import annotations

import numpy as np
import pytest
from test_engine import RATE, ToneSource

from stagebox import events as ev
from stagebox.audio.engine import Engine, Retired
from stagebox.audio.output import OutputPump
from stagebox.hal.audio import DeviceLost, SinkConfig

PERIOD = 1024


class RecordingSink:
    """A device that logs what happens to it."""

    def __init__(self) -> None:
        self.config = SinkConfig("fake", RATE, 2, "FLOAT_LE", PERIOD, 4 * PERIOD)
        self.xruns = 0
        self.output_pair, self.cue_pair, self.cue_warning = 1, 0, ""
        self.log: list[str] = []
        self.fail: Exception | None = None

    def write(self, block: np.ndarray) -> None:
        if self.fail is not None:
            raise self.fail
        self.log.append("sound" if block.any() else "silence")

    def drop(self) -> None:
        self.log.append("drop")

    def close(self) -> None:
        self.log.append("close")


def pump_for(pump: OutputPump, blocks: int) -> None:
    for _ in range(blocks):
        pump.pump()


def test_a_start_after_silence_drops_the_queued_silence_first():
    engine, sink, posted = Engine(RATE), RecordingSink(), []
    pump = OutputPump(engine, lambda _: sink, posted.append, sink)
    engine.cue(1, ToneSource(1.0), 0.0)
    pump_for(pump, 6)
    engine.play()
    pump_for(pump, 2)
    assert sink.log == ["silence"] * 6 + ["drop", "sound", "sound"]


def test_no_drop_when_a_fade_may_still_be_queued():
    engine, sink = Engine(RATE, fade_s=0.01), RecordingSink()
    pump = OutputPump(engine, lambda _: sink, print, sink)
    engine.cue(1, ToneSource(2.0), 0.0)
    engine.play()
    pump_for(pump, 3)
    engine.stop()
    pump_for(pump, 2)
    engine.cue(2, ToneSource(2.0), 0.0)
    engine.play()
    pump_for(pump, 2)
    assert "drop" not in sink.log


def test_a_lost_device_is_reported_silenced_and_reopened_when_back():
    engine, sink, posted = Engine(RATE), RecordingSink(), []
    gone = True

    def reopen(practising: bool) -> RecordingSink:
        if gone:
            raise DeviceLost("no such device")
        sink.fail = None
        return sink

    pump = OutputPump(engine, reopen, posted.append, sink)
    engine.cue(1, ToneSource(2.0), 0.0)
    engine.play()
    pump_for(pump, 3)
    sink.fail = DeviceLost("unplugged")
    assert pump.pump() is False
    assert pump.pump() is False
    assert [type(e) for e in posted] == [ev.AudioOutputs, ev.AudioDeviceLost]
    place = engine.position_s(1)
    gone = False
    assert pump.pump() is True
    assert isinstance(posted[-1], ev.AudioDeviceBack)
    assert sink.log[-1] == "silence", "the song waits; nothing plays by itself"
    assert engine.position_s(1) == place


def test_songs_let_go_while_the_device_is_gone_are_released_at_once():
    """A performer tapping NEXT with the cable out must not pile up decoders and songs in
    RAM until the interface returns."""
    engine, posted = Engine(RATE), []

    def gone(practising: bool) -> RecordingSink:
        raise DeviceLost("no such device")

    pump = OutputPump(engine, gone, posted.append, None)
    for load_id in (1, 2, 3):
        engine.cue(load_id, ToneSource(2.0), 0.0)
        engine.discard(load_id)
        assert pump.pump() is False
    retired = {n.load_id for n in engine.take_notices() if isinstance(n, Retired)}
    assert retired == {1, 2, 3}


def test_xruns_are_posted_as_they_are_counted():
    engine, sink, posted = Engine(RATE), RecordingSink(), []
    pump = OutputPump(engine, lambda _: sink, posted.append, sink)
    pump.pump()
    sink.xruns = 2
    pump.pump()
    pump.pump()
    assert posted == [ev.AudioOutputs(1, 0, latency_s=4 * PERIOD / RATE), ev.Xrun(2)]


class BlockSink(RecordingSink):
    """A device that keeps every block it takes, at ``periods`` periods of buffer."""

    def __init__(self, periods: int = 4) -> None:
        super().__init__()
        self.config = SinkConfig("fake", RATE, 2, "FLOAT_LE", PERIOD, periods * PERIOD)
        self.blocks: list[np.ndarray] = []

    def write(self, block: np.ndarray) -> None:
        super().write(block)
        self.blocks.append(block.copy())


def test_music_goes_out_two_periods_a_pass_in_order_and_click_free():
    engine, sink = Engine(RATE), BlockSink()
    source = ToneSource(2.0)
    pump = OutputPump(engine, lambda _: sink, print, sink)
    engine.cue(1, source, 0.0)
    pump_for(pump, 6)
    engine.play()
    pump_for(pump, 20)
    sizes = [len(block) for block in sink.blocks]
    # Silence and the first block of the song a period at a time; then two at a time.
    assert sizes == [PERIOD] * 7 + [2 * PERIOD] * 19
    heard = np.concatenate(sink.blocks[6:])
    ramp_frames = int(0.005 * RATE) + 1
    np.testing.assert_array_equal(heard[ramp_frames:], source.frames[ramp_frames:len(heard)])
    assert float(np.abs(np.diff(heard[:, 0])).max()) <= 0.5 * 2 * np.pi * 440.0 / RATE * 1.01


def test_a_play_in_silence_is_rendered_at_the_next_period():
    engine, sink = Engine(RATE), BlockSink()
    pump = OutputPump(engine, lambda _: sink, print, sink)
    engine.cue(1, ToneSource(1.0), 0.0)
    pump_for(pump, 6)
    assert pump.pass_frames(sink) == PERIOD
    engine.play()
    pump_for(pump, 1)
    assert sink.log[-2:] == ["drop", "sound"]
    assert len(sink.blocks[-1]) == PERIOD


def test_a_buffer_of_two_periods_is_written_one_period_a_pass():
    engine, sink = Engine(RATE), BlockSink(periods=2)
    pump = OutputPump(engine, lambda _: sink, print, sink)
    engine.cue(1, ToneSource(1.0), 0.0)
    engine.play()
    pump_for(pump, 5)
    assert [len(block) for block in sink.blocks] == [PERIOD] * 5


@pytest.mark.parametrize(("period", "periods", "pass_periods"),
                         [(1024, 4, 2), (256, 8, 4), (512, 3, 1), (2048, 4, 2), (4096, 4, 1)])
def test_a_pass_of_music_keeps_half_the_buffer_and_fits_every_sink(period, periods,
                                                                    pass_periods):
    engine, sink = Engine(RATE), BlockSink(periods)
    sink.config = SinkConfig("fake", RATE, 2, "FLOAT_LE", period, periods * period)
    pump = OutputPump(engine, lambda _: sink, print, sink)
    engine.cue(1, ToneSource(1.0), 0.0)
    engine.play()
    pump_for(pump, 2)
    assert pump.pass_frames(sink) == pass_periods * period


class ShapedDevice:
    """Opens a :class:`BlockSink` with the practice buffer (4 periods of 512) or the show
    buffer (4 of 1024), and keeps the order of what it did."""

    def __init__(self) -> None:
        self.opened: list[bool] = []
        self.sinks: list[BlockSink] = []
        self.missing = False

    def open(self, practising: bool) -> BlockSink:
        if self.missing:
            raise DeviceLost("no such device")
        sink = BlockSink()
        period = PERIOD // 2 if practising else PERIOD
        sink.config = SinkConfig("fake", RATE, 2, "FLOAT_LE", period, 4 * period)
        self.opened.append(practising)
        self.sinks.append(sink)
        return sink


def test_practice_mode_opens_the_device_again_with_its_buffer_at_a_silence():
    engine, device, posted = Engine(RATE), ShapedDevice(), []
    show = device.open(False)
    pump = OutputPump(engine, device.open, posted.append, show)
    engine.set_practising(True)
    pump_for(pump, 6)
    assert device.opened == [False, True]
    assert show.log[-2:] == ["drop", "close"], "its queued silence is not waited for"
    assert posted[-1] == ev.AudioOutputs(1, 0, latency_s=4 * (PERIOD // 2) / RATE)
    practice = device.sinks[-1]
    engine.cue(1, ToneSource(2.0), 0.0)
    engine.play()
    pump_for(pump, 8)
    assert pump.sink is practice
    # Music a period at a time: a change waits at most one period for its block.
    assert {len(block) for block in practice.blocks} == {PERIOD // 2}
    engine.set_practising(False)
    pump_for(pump, 4)
    assert pump.sink is practice, "nothing heard is cut: the song plays on"
    engine.pause()
    pump_for(pump, 60)
    assert device.opened == [False, True, False]
    assert practice.log[-1] == "close"
    last_sound = max(i for i, block in enumerate(practice.blocks) if block.any())
    silence_after = sum(map(len, practice.blocks[last_sound + 1:]))
    assert silence_after >= practice.config.buffer_frames, "closed once all it held was silence"


def test_a_mode_changed_while_a_song_plays_waits_for_it_to_end_without_a_gap():
    engine, device = Engine(RATE), ShapedDevice()
    show = device.open(False)
    pump = OutputPump(engine, device.open, print, show)
    source = ToneSource(1.0)
    engine.cue(1, source, 0.0)
    engine.play()
    pump_for(pump, 3)
    engine.set_practising(True)
    pump_for(pump, 60)
    heard = np.concatenate(show.blocks)
    ramp_frames = int(0.005 * RATE) + 1
    played = len(source.frames)
    np.testing.assert_array_equal(heard[ramp_frames:played], source.frames[ramp_frames:])
    assert device.opened == [False, True], "opened again once the song had ended"
    assert not device.sinks[-1].blocks[0].any()


def test_an_interface_gone_when_the_buffer_changes_is_reported_and_found_again():
    engine, device, posted = Engine(RATE), ShapedDevice(), []
    pump = OutputPump(engine, device.open, posted.append, device.open(False))
    engine.set_practising(True)
    device.missing = True
    pump_for(pump, 6)
    assert isinstance(posted[-1], ev.AudioDeviceLost)
    device.missing = False
    assert pump.pump() is True
    assert device.opened == [False, True]
    assert isinstance(posted[-1], ev.AudioDeviceBack)
