"""The player's rules, event by event: what a performer would see happen."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagebox import events as ev
from stagebox import player as cmd
from stagebox.media.model import Library, Setlist, Song
from stagebox.player import Player


def song(name: str, then: str | None = None, gain_db: float = 0.0) -> Song:
    return Song(Path("/stick") / f"{name}.wav", f"{name}.wav", name, gain_db, then)  # type: ignore[arg-type]


def library(*songs: Song, extra: tuple[Setlist, ...] = (), label: str = "GIG") -> Library:
    return Library(Path("/stick"), (Setlist("setlist.txt", songs), *extra), label=label)


def of(commands: list, kind: type) -> list:
    return [c for c in commands if isinstance(c, kind)]


class Rig:
    """A player plus the loads it asked for, answered by hand."""

    def __init__(self, lib: Library, **kwargs) -> None:
        self.player = Player(**kwargs)
        self.commands: list = []
        self.send(ev.StickInserted(Path("/stick"), lib.label))
        self.send(ev.ScanFinished(lib))

    def send(self, event) -> list:
        out = self.player.handle(event)
        self.commands += out
        return out

    def loads(self) -> list[cmd.Load]:
        return of(self.commands, cmd.Load)

    def ready(self, load: cmd.Load | None = None, duration_s: float = 10.0) -> list:
        load = load or self.loads()[-1]
        return self.send(ev.TrackReady(load.load_id, duration_s, object()))

    def press(self, button: str, kind: str = "press") -> list:
        """A whole press as the gesture layer reports it: down first, then the rest."""
        kinds = {"press": ["down", "press"], "hold": ["down", "hold"],
                 "long_hold": ["down", "hold", "long_hold"]}[kind]
        return [c for k in kinds for c in self.send(ev.Gesture(button, k))]  # type: ignore[arg-type]

    def end(self, joined: bool = False, error: str | None = None) -> list:
        return self.send(ev.TrackEnded(self.player.current_load_id, joined, error))  # type: ignore[arg-type]

    def states(self) -> list[str]:
        return [c.fields["state"] for c in of(self.commands, cmd.Record)
                if c.event == "state"]


def test_a_scanned_stick_cues_its_first_song_and_nothing_plays_until_play():
    rig = Rig(library(song("one"), song("two")))
    assert rig.player.state == "cued"
    assert rig.loads()[0].song.title == "one"
    out = rig.ready()
    assert of(out, cmd.Cue) and not of(out, cmd.Play)
    assert of(rig.press("play"), cmd.Play)
    assert rig.player.state == "playing"


def test_play_pressed_before_the_song_is_ready_starts_it_when_it_is():
    rig = Rig(library(song("one")))
    assert not of(rig.press("play"), cmd.Play)
    out = rig.ready()
    assert [type(c) for c in out if isinstance(c, cmd.Cue | cmd.Play)] == [cmd.Cue, cmd.Play]


@pytest.mark.parametrize("button", ["play", "next", "prev"])
def test_a_tap_while_playing_never_interrupts_the_song(button):
    rig = Rig(library(song("one"), song("two")))
    rig.ready()
    rig.press("play")
    out = rig.press(button)
    assert not of(out, cmd.Pause | cmd.Stop | cmd.Load)
    assert rig.player.state == "playing"
    assert any("Hold" in n.message for n in of(out, cmd.Notify))


def test_hold_play_pauses_press_resumes_and_prev_goes_back_to_the_start():
    rig = Rig(library(song("one")))
    rig.ready()
    rig.press("play")
    assert of(rig.press("play", "hold"), cmd.Pause)
    assert rig.player.state == "paused"
    out = rig.press("play", "hold")
    assert of(out, cmd.Play), "PLAY acts on its down edge: holding it only resumes"
    assert not of(out, cmd.Pause)
    rig.press("play", "hold")
    out = rig.press("prev")
    assert of(out, cmd.Load)[0].song.title == "one"
    assert rig.player.state == "cued"


def test_play_starts_on_the_down_edge_and_the_release_does_nothing_more():
    rig = Rig(library(song("one")))
    rig.ready()
    assert of(rig.send(ev.Gesture("play", "down")), cmd.Play)
    out = rig.send(ev.Gesture("play", "press"))
    assert not of(out, cmd.Notify), "no 'hold to pause' hint for the release"
    assert rig.player.state == "playing"


def test_hold_next_while_playing_fades_out_and_cues_the_next_song():
    rig = Rig(library(song("one"), song("two")))
    rig.ready()
    rig.press("play")
    out = rig.press("next", "hold")
    assert of(out, cmd.Stop)
    assert of(out, cmd.Load)[0].song.title == "two"
    assert rig.player.state == "cued" and rig.player.index == 1


def test_next_and_prev_move_the_cue_between_songs():
    rig = Rig(library(song("one"), song("two"), song("three")))
    rig.press("next")
    rig.press("next")
    assert rig.player.index == 2
    assert of(rig.press("next"), cmd.Notify)[0].message == "Last song of the setlist"
    rig.press("prev")
    assert rig.player.index == 1
    assert [load.song.title for load in rig.loads()] == ["one", "two", "three", "two"]
    assert len(of(rig.commands, cmd.Discard)) == 3


def test_after_a_song_the_default_is_stop_with_the_next_song_cued():
    rig = Rig(library(song("one"), song("two")))
    rig.ready()
    rig.press("play")
    out = rig.end()
    assert not of(out, cmd.Play)
    assert rig.player.state == "cued" and rig.player.index == 1
    assert [r.event for r in of(out, cmd.Record)][:1] == ["track_ended"]


def test_then_next_preloads_and_joins_the_next_song_gaplessly():
    rig = Rig(library(song("one", then="next"), song("two"), song("three")))
    rig.ready()
    out = rig.press("play")
    preload = of(out, cmd.Load)
    assert preload and preload[0].song.title == "two"
    assert of(rig.ready(preload[0]), cmd.QueueNext)
    rig.end(joined=True)
    assert rig.player.state == "playing" and rig.player.index == 1
    assert rig.player.current_load_id == preload[0].load_id
    # "two" has no then=, so the default (stop) applies: nothing is preloaded for "three".
    assert rig.loads()[-1].song.title == "two"


def test_then_next_starts_the_next_song_even_if_it_was_not_ready_in_time():
    rig = Rig(library(song("one", then="next"), song("two")))
    rig.ready()
    rig.press("play")
    rig.end(joined=False)
    assert rig.player.state == "playing" and rig.player.index == 1
    assert of(rig.ready(), cmd.Play)


def test_the_configured_default_next_goes_straight_on_and_then_stop_overrides_it():
    rig = Rig(library(song("one"), song("two", then="stop"), song("three")), after_song="next")
    rig.ready()
    rig.press("play")
    rig.ready(rig.loads()[-1])
    rig.end(joined=True)
    assert not [load for load in rig.loads() if load.song.title == "three"]
    rig.end()
    assert rig.player.state == "cued" and rig.player.index == 2


def test_the_end_of_the_setlist_is_a_state_of_its_own():
    rig = Rig(library(song("one")))
    rig.ready()
    rig.press("play")
    rig.end()
    assert rig.player.state == "ended"
    rig.press("prev")
    assert rig.player.state == "cued" and rig.player.index == 0


def test_a_song_that_fails_to_load_is_skipped_with_a_message():
    rig = Rig(library(song("bad"), song("good")))
    out = rig.send(ev.TrackFailed(rig.loads()[0].load_id, "not an audio file"))
    assert "bad.wav" in of(out, cmd.Notify)[0].message
    assert of(out, cmd.Notify)[0].severity == "warning"
    assert rig.player.index == 1 and rig.player.state == "cued"


def test_a_failed_song_on_the_way_keeps_the_show_going():
    rig = Rig(library(song("one"), song("bad"), song("three")))
    rig.ready()
    rig.press("play")
    rig.end()
    rig.press("play")
    rig.send(ev.TrackFailed(rig.loads()[-1].load_id, "corrupt"))
    assert rig.player.index == 2 and rig.player.state == "playing"
    assert of(rig.ready(), cmd.Play)


def test_every_song_failing_ends_the_setlist_instead_of_looping():
    rig = Rig(library(song("a"), song("b")))
    rig.send(ev.TrackFailed(rig.loads()[-1].load_id, "corrupt"))
    rig.send(ev.TrackFailed(rig.loads()[-1].load_id, "corrupt"))
    assert rig.player.state == "ended"


def test_a_stick_pulled_mid_song_lets_the_song_finish_then_asks_for_a_stick():
    rig = Rig(library(song("one"), song("two")))
    rig.ready()
    rig.press("play")
    out = rig.send(ev.StickRemoved())
    assert not of(out, cmd.Stop | cmd.Pause)
    assert rig.player.state == "playing"
    rig.end()
    assert rig.player.state == "no_stick"


def test_a_stick_pulled_while_cued_asks_for_a_stick_at_once():
    rig = Rig(library(song("one")))
    rig.ready()
    rig.send(ev.StickRemoved())
    assert rig.player.state == "no_stick"
    assert of(rig.commands, cmd.Discard)


def test_a_stick_inserted_while_a_song_plays_waits_for_the_song_to_end():
    rig = Rig(library(song("one"), song("two")))
    rig.ready()
    rig.press("play")
    rig.send(ev.StickRemoved())
    rig.send(ev.StickInserted(Path("/other"), "OTHER"))
    rig.send(ev.ScanFinished(library(song("new"), label="OTHER")))
    assert rig.player.state == "playing"
    rig.end()
    assert rig.player.state == "cued"
    assert rig.loads()[-1].song.title == "new"


def test_an_empty_stick_is_an_error_screen_not_a_crash():
    rig = Rig(library())
    assert rig.player.state == "error"
    assert rig.player.message == "No songs on the stick"
    assert not of(rig.press("play"), cmd.Play)


def test_setlist_warnings_reach_the_performer():
    lib = Library(Path("/s"), (Setlist("setlist.txt", (song("a"),), ("line 2: junk",)),),
                  ("unreadable folder",))
    rig = Rig(lib)
    messages = [n.message for n in of(rig.commands, cmd.Notify)]
    assert "unreadable folder" in messages and "line 2: junk" in messages


def test_the_menu_changes_volume_live_and_asks_to_remember_it():
    rig = Rig(library(song("one")))
    rig.press("menu")
    rig.press("play")  # edit Volume
    out = rig.press("prev") + rig.press("prev")
    assert [c.volume_db for c in of(out, cmd.SetVolume)] == [-1.0, -2.0]
    assert of(out, cmd.Remember)
    rig.press("play")
    rig.press("menu")
    assert rig.player.menu is None and rig.player.volume_db == -2.0


def test_holds_reach_the_transport_even_with_the_menu_open():
    rig = Rig(library(song("one")))
    rig.ready()
    rig.press("play")
    rig.press("menu")
    assert of(rig.press("play", "hold"), cmd.Pause)


def test_choosing_another_setlist_cues_its_first_song_and_is_remembered():
    other = Setlist("setlists/acoustic.txt", (song("quiet"),))
    rig = Rig(library(song("loud"), extra=(other,)))
    rig.press("menu")
    rig.press("next")  # Setlist
    rig.press("play")
    rig.press("next")
    out = rig.press("play")
    assert of(out, cmd.Load)[0].song.title == "quiet"
    assert rig.player.chosen_setlists == {"GIG": "setlists/acoustic.txt"}
    again = Rig(library(song("loud"), extra=(other,)), chosen_setlists=rig.player.chosen_setlists)
    assert again.loads()[0].song.title == "quiet"


def test_the_audio_interface_going_away_pauses_the_song():
    rig = Rig(library(song("one")))
    rig.ready()
    rig.press("play")
    out = rig.send(ev.AudioDeviceLost("unplugged"))
    assert of(out, cmd.Pause) and rig.player.state == "paused"


def test_state_records_carry_the_song():
    rig = Rig(library(song("one")))
    record = [c for c in of(rig.commands, cmd.Record) if c.event == "state"][-1]
    assert record.fields == {"state": "cued", "index": 0, "title": "one"}
    assert rig.states() == ["scanning", "cued"]


def open_info(rig: Rig) -> tuple[str, ...]:
    rig.press("menu")
    for _ in range(2):
        rig.press("prev")  # round to Info, next to last
    rig.press("play")
    view = rig.player.menu.view()
    assert view.title == "Info"
    return view.items


def test_the_info_menu_shows_the_outputs_the_stick_and_the_xrun_count():
    rig = Rig(library(song("one")), info=("stagebox 1.0",))
    rig.send(ev.AudioOutputs(1, 2, device_channels=4))
    rig.send(ev.Xrun(3))
    assert open_info(rig)[:4] == ("stagebox 1.0", "Out: main 1-2, cue 3-4", "Stick: GIG",
                                  "Xruns: 3")


def test_a_cue_pair_the_interface_lacks_is_said_once_and_the_info_page_says_off():
    rig = Rig(library(song("one")))
    why = "audio.cue_pair = 2 needs 4 outputs but the device plays 2"
    notices = [of(rig.send(ev.AudioOutputs(1, 0, why)), cmd.Notify) for _ in range(2)]
    assert [n.message for n in notices[0]] == [why]
    assert notices[0][0].severity == "warning"
    assert notices[1] == [], "the same interface opened again says nothing new"
    assert "Out: main 1-2, cue off" in open_info(rig)


def test_a_long_hold_of_menu_shuts_down_unless_a_song_plays():
    rig = Rig(library(song("one")))
    rig.ready()
    rig.press("play")
    out = rig.press("menu", "long_hold")
    assert not of(out, cmd.ShutDown)
    assert "Stop the song" in of(out, cmd.Notify)[0].message
    rig.press("play", "hold")
    out = rig.press("menu", "long_hold")
    kinds = [type(c) for c in out]
    assert kinds.index(cmd.Remember) < kinds.index(cmd.ShutDown)
    assert rig.player.state == "shutdown"
    assert not of(rig.press("play"), cmd.Play)


def test_nothing_leaves_the_shutdown_state():
    rig = Rig(library(song("one"), song("two")))
    rig.ready()
    rig.press("menu", "long_hold")
    assert rig.player.state == "shutdown"
    load = rig.loads()[-1]
    out = []
    for event in (ev.StickRemoved(), ev.StickInserted(Path("/stick"), "GIG"),
                  ev.ScanProgress(1, 2), ev.ScanFinished(library(song("one"))),
                  ev.ScanFailed("gone"), ev.TrackFailed(load.load_id, "bad"),
                  ev.TrackEnded(load.load_id, True), ev.AudioDeviceLost("gone"),
                  ev.AudioDeviceBack(), ev.TrackReady(99, 3.0, object())):
        out += rig.send(event)
    out += rig.press("play") + rig.press("next") + rig.press("menu")
    assert rig.player.state == "shutdown"
    assert not of(out, cmd.Scan | cmd.Load | cmd.Cue | cmd.Play | cmd.Notify)
    assert of(out, cmd.Discard) == [cmd.Discard(99)], "a late load is let go"


def test_play_with_no_audio_interface_says_so_and_arms_nothing():
    rig = Rig(library(song("one")))
    rig.ready()
    rig.send(ev.AudioDeviceLost("No audio interface: unplugged"))
    out = rig.press("play")
    assert not of(out, cmd.Play)
    assert [(n.message, n.severity, n.at_once) for n in of(out, cmd.Notify)] == [
        ("No audio interface", "error", True)]
    assert rig.player.state == "cued"
    assert not of(rig.send(ev.AudioDeviceBack()), cmd.Play), "waits for PLAY"
    assert rig.player.state == "cued"
    assert of(rig.press("play"), cmd.Play)


def test_a_start_waiting_for_its_song_is_called_off_when_the_interface_goes():
    rig = Rig(library(song("one")))
    rig.press("play")
    assert rig.player.state == "playing"
    rig.send(ev.AudioDeviceLost("gone"))
    out = rig.ready() + rig.send(ev.AudioDeviceBack())
    assert of(out, cmd.Cue) and not of(out, cmd.Play)
    assert rig.player.state == "paused"


@pytest.mark.parametrize("joined", [True, False])
def test_a_song_that_ends_after_a_pause_never_goes_on_by_itself(joined):
    """Held PLAY at a then=next join: whichever the engine did, the player holds."""
    rig = Rig(library(song("one", then="next"), song("two"), song("three")))
    rig.ready()
    rig.press("play")
    rig.ready(rig.loads()[-1])
    rig.press("play", "hold")
    out = rig.end(joined=joined)
    assert not of(out, cmd.Play | cmd.Load), "the preloaded song is the one cued"
    assert rig.player.state == ("paused" if joined else "cued")
    assert rig.player.song.title == "two"
    assert not joined or not of(out, cmd.Cue), "joined: the engine holds it already"
    assert of(rig.press("play"), cmd.Play)


def test_a_next_song_with_no_room_beside_this_one_loads_when_it_ends_not_skipped():
    rig = Rig(library(song("one", then="next"), song("two"), song("three")))
    rig.ready()
    rig.press("play")
    preload = rig.loads()[-1]
    out = rig.send(ev.TrackFailed(preload.load_id, "not enough memory for both", no_room=True))
    assert [n.message for n in of(out, cmd.Notify)] == [
        "two.wav loads when this song ends: not enough memory for both"]
    assert not of(out, cmd.Load)
    rig.press("play", "hold")
    assert not of(rig.press("play"), cmd.Load), "no second try beside the same song"
    out = rig.end(joined=False)
    kinds = [type(c) for c in out if isinstance(c, cmd.Discard | cmd.Load)]
    assert kinds == [cmd.Discard, cmd.Load], "this song let go before the next is read"
    assert of(out, cmd.Load)[0].song.title == "two" and rig.player.state == "playing"
    assert of(rig.ready(), cmd.Play)
