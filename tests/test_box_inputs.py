"""The box's main loop with pedals and MIDI ports coming and going."""

from __future__ import annotations

import io
import json

from stagebox import events as ev
from stagebox.box import EventLog
from stagebox.clock import VirtualClock
from stagebox.config import Config
from stagebox.daemon import build_box
from stagebox.hal.display import open_dummy
from stagebox.workers import InlineWorker

PEDAL = "hid:1-1.2"


def test_a_pedal_pulled_out_mid_press_acts_on_nothing_and_the_box_says_so():
    clock = VirtualClock()
    log = io.StringIO()
    box = build_box(Config(), clock=clock, rate=48000, event_log=EventLog(clock, log),
                    display=open_dummy(), load_worker=InlineWorker(),
                    scan_worker=InlineWorker(), measure_worker=InlineWorker(),
                    wait_for_data=True, state_store=None)
    box.post(ev.InputAdded(PEDAL, "AirTurn PED"))
    box.step()
    assert box.view(clock.now()).banner.text == "AirTurn PED connected"
    box.post(ev.ButtonEdge("menu", True, clock.now(), PEDAL))
    box.step()
    box.post(ev.InputGone(PEDAL, "AirTurn PED"))
    clock.advance(5.0)  # past the hold and the long hold (shut down) of the MENU held
    box.step()
    events = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["input_added", "button", "input_gone"]
    assert events[1] == {"t": 0.0, "event": "button", "button": "menu", "gesture": "down",
                         "source": PEDAL}
    assert box.player.state != "shutdown"
    assert box.view(clock.now()).banner.text == "AirTurn PED gone"
