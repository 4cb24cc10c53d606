"""Every transition at every moment near a song's end: nothing starts unless PLAY asked.

The player and the real engine, wired as the box wires them, on songs of constant
levels (one 0.1, two 0.2, three 0.3), so the output says which song sounds. A
transition lands before the fade could finish, during it, at the join (the engine has
gone on into the next song but the player has not heard yet) or just after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from stagebox import events as ev
from stagebox import player as cmd
from stagebox.audio.engine import Engine, Retired
from stagebox.media.model import Library, Setlist, Song
from stagebox.player import Player

RATE = 8000
BLOCK = 80
FADE_S = 0.5
SONG_S = 2.0
LEVELS = {"one": 0.1, "two": 0.2, "three": 0.3}


class LevelSource:
    """A song of constant level, served as a decoded song is."""

    channels = 2

    def __init__(self, level: float, frames: int) -> None:
        self.level = level
        self.left = frames

    def read(self, out: np.ndarray) -> int:
        n = min(len(out), self.left)
        out[:n] = self.level
        self.left -= n
        return n

    @property
    def finished(self) -> bool:
        return self.left == 0

    @property
    def error(self) -> str | None:
        return None


def song(name: str, then: str | None = None) -> Song:
    return Song(Path("/stick") / f"{name}.wav", f"{name}.wav", name, 0.0, then)  # type: ignore[arg-type]


@dataclass
class Show:
    """The player and the engine, wired like the box; loads answer at once."""

    player: Player = field(default_factory=Player)
    engine: Engine = field(default_factory=lambda: Engine(RATE, max_frames=BLOCK,
                                                          fade_s=FADE_S))
    sources: dict[int, LevelSource] = field(default_factory=dict)
    in_engine: set[int] = field(default_factory=set)
    commands: list = field(default_factory=list)
    audio: list[np.ndarray] = field(default_factory=list)
    hold_loads: bool = False
    """Loads wait for :meth:`answer_loads` (a slow stick) instead of answering at once."""
    held_loads: list[int] = field(default_factory=list)

    def send(self, event: object) -> None:
        for command in self.player.handle(event):  # type: ignore[arg-type]
            self.commands.append(command)
            self.run(command)

    def run(self, command: object) -> None:
        engine = self.engine
        match command:
            case cmd.Load(load_id=load_id, song=loaded, start_s=start_s):
                frames = round((SONG_S - start_s) * RATE)
                self.sources[load_id] = LevelSource(LEVELS[loaded.title], frames)
                if self.hold_loads:
                    self.held_loads.append(load_id)
                else:
                    self.send(ev.TrackReady(load_id, SONG_S, None))
            case cmd.Cue(load_id=load_id):
                self.in_engine.add(load_id)
                engine.cue(load_id, self.sources[load_id], 0.0)
            case cmd.QueueNext(load_id=load_id):
                self.in_engine.add(load_id)
                engine.queue_next(load_id, self.sources[load_id], 0.0)
            case cmd.Play():
                engine.play()
            case cmd.Pause():
                engine.pause()
            case cmd.Stop():
                engine.stop()
            case cmd.Discard(load_id=load_id) if load_id in self.in_engine:
                engine.discard(load_id)

    def answer_loads(self) -> None:
        self.hold_loads = False
        while self.held_loads:
            self.send(ev.TrackReady(self.held_loads.pop(0), SONG_S, None))

    def render(self) -> list[object]:
        """One block out; the engine's news, not yet given to the player."""
        self.audio.append(self.engine.render(BLOCK).copy())
        return [n for n in self.engine.take_notices() if not isinstance(n, Retired)]

    def deliver(self, notices: list[object]) -> None:
        for notice in notices:
            self.send(notice)

    def play_for(self, seconds: float) -> None:
        for _ in range(round(seconds * RATE / BLOCK)):
            self.deliver(self.render())

    def press(self, button: str, kind: str = "press") -> None:
        kinds = {"press": ["down", "press"], "hold": ["down", "hold"],
                 "long_hold": ["down", "hold", "long_hold"]}[kind]
        for k in kinds:
            self.send(ev.Gesture(button, k))  # type: ignore[arg-type]

    def since(self, start_block: int) -> np.ndarray:
        return np.concatenate(self.audio[start_block:])[:, 0]


def start_show(setlist: tuple[Song, ...], late_preload: bool = False) -> Show:
    show = Show()
    show.send(ev.StickInserted(Path("/stick"), "GIG"))
    show.send(ev.ScanFinished(Library(Path("/stick"), (Setlist("setlist.txt", setlist),),
                                      label="GIG")))
    show.hold_loads = late_preload
    show.press("play")
    return show


TRANSITIONS = {
    # name: (what the performer (or the box) does, does it hold the music?)
    "pause": lambda s: s.press("play", "hold"),
    "restart": lambda s: s.press("prev", "hold"),
    "skip": lambda s: s.press("next", "hold"),
    "pause_then_next_tap": lambda s: (s.press("play", "hold"), s.press("next")),
    "pause_then_prev_tap": lambda s: (s.press("play", "hold"), s.press("prev")),
    "device_lost": lambda s: (s.engine.halt(), s.send(ev.AudioDeviceLost("gone")),
                              s.send(ev.AudioDeviceBack())),
    "device_lost_then_play": lambda s: (s.engine.halt(), s.send(ev.AudioDeviceLost("gone")),
                                        s.press("play"), s.send(ev.AudioDeviceBack())),
    "pause_then_shutdown": lambda s: (s.press("play", "hold"), s.press("menu", "long_hold"),
                                      s.send(ev.StickRemoved()),
                                      s.send(ev.StickInserted(Path("/stick"), "GIG"))),
}

MOMENTS = {
    # name: (seconds before song one's end the transition lands, does the engine's news of
    # the join reach the player only after the transition?)
    "before_the_fade": (1.0, False),
    "during_the_fade": (0.3, False),
    "at_the_join": (0.0, True),
    "just_after": (-0.1, False),
}

# Which song PLAY brings afterwards (None: nothing plays), by transition and moment.
AFTERWARDS: dict[str, dict[str, str | None]] = {
    "pause": {"before_the_fade": "one", "during_the_fade": "two", "at_the_join": "two",
              "just_after": "two"},
    "restart": {"before_the_fade": "one", "during_the_fade": "one", "at_the_join": "one",
                "just_after": "two"},
    "skip": {"before_the_fade": "two", "during_the_fade": "two", "at_the_join": "two",
             "just_after": "three"},
    # At the join the player acts on the song it knows (one): the performer heard only it.
    "pause_then_next_tap": {"before_the_fade": "two", "during_the_fade": "two",
                            "at_the_join": "two", "just_after": "three"},
    "pause_then_prev_tap": {"before_the_fade": "one", "during_the_fade": "one",
                            "at_the_join": "one", "just_after": "two"},
    "device_lost": {"before_the_fade": "one", "during_the_fade": "one", "at_the_join": "two",
                    "just_after": "two"},
    "device_lost_then_play": {"before_the_fade": "one", "during_the_fade": "one",
                              "at_the_join": "two", "just_after": "two"},
    "pause_then_shutdown": dict.fromkeys(MOMENTS),
}


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("transition", TRANSITIONS)
def test_a_transition_near_a_then_next_join_holds_until_play(transition: str, moment: str):
    show = start_show((song("one", then="next"), song("two", then="next"), song("three")))
    before_end_s, news_after = MOMENTS[moment]
    if news_after:
        # The block with the join is out; the player hears of it only after acting.
        show.play_for(SONG_S - BLOCK / RATE)
        notices = show.render()
        assert any(isinstance(n, ev.TrackEnded) and n.joined for n in notices)
        TRANSITIONS[transition](show)
        show.deliver(notices)
    else:
        show.play_for(SONG_S - before_end_s)
        TRANSITIONS[transition](show)
    acted = len(show.audio)
    show.play_for(SONG_S + 1.0)
    held = show.since(acted)
    fade_frames = round(FADE_S * RATE)
    assert not held[fade_frames + BLOCK:].any(), "silent once the fade is done, until PLAY"
    if news_after:
        assert not held.any(), "the song the engine went on into never sounds"
    assert show.player.state != "playing"
    before_play = len(show.audio)
    show.press("play")
    show.play_for(0.1)
    after_play = show.since(before_play)
    expected = AFTERWARDS[transition][moment]
    if expected is None:
        assert not after_play.any() and show.player.state == "shutdown"
    else:
        assert after_play[-1] == pytest.approx(LEVELS[expected])
        assert show.player.state == "playing"
        assert show.player.song is not None and show.player.song.title == expected


@pytest.mark.parametrize("moment", MOMENTS)
def test_the_menu_opened_near_the_join_changes_nothing(moment: str):
    show = start_show((song("one", then="next"), song("two")))
    before_end_s, _ = MOMENTS[moment]
    show.play_for(SONG_S - before_end_s)
    show.press("menu")
    show.play_for(before_end_s + 0.5)
    assert show.since(0)[-1] == pytest.approx(LEVELS["two"])
    assert show.player.state == "playing" and show.player.song.title == "two"  # type: ignore[union-attr]


def test_a_song_cued_by_hand_while_paused_goes_on_into_its_own_next_song():
    """The song preloaded for the paused one is dropped, not joined after the next."""
    show = start_show((song("one", then="next"), song("two", then="next"), song("three")))
    show.play_for(0.5)
    show.press("play", "hold")
    show.play_for(1.0)
    show.press("next")
    show.press("play")
    show.play_for(SONG_S + 0.2)
    assert show.since(0)[-1] == pytest.approx(LEVELS["three"])
    assert show.player.song is not None and show.player.song.title == "three"


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_stick_pulled_near_the_join_lets_the_sounding_song_end_and_starts_nothing(
        moment: str):
    show = start_show((song("one", then="next"), song("two", then="next"), song("three")))
    before_end_s, news_after = MOMENTS[moment]
    if news_after:
        show.play_for(SONG_S - BLOCK / RATE)
        notices = show.render()
        show.send(ev.StickRemoved())
        show.deliver(notices)
    else:
        show.play_for(SONG_S - before_end_s)
        show.send(ev.StickRemoved())
    started_after = []
    for _ in range(round((SONG_S + 1.0) * RATE / BLOCK)):
        notices = show.render()
        started_after += [n for n in notices if isinstance(n, ev.TrackStarted)]
        show.deliver(notices)
    assert started_after == [], "no song starts once the stick is gone"
    assert not show.since(len(show.audio) - round(0.5 * RATE / BLOCK)).any()
    assert show.player.state == "no_stick"
    show.press("play")
    show.play_for(0.2)
    assert not show.since(len(show.audio) - round(0.2 * RATE / BLOCK)).any()


@pytest.mark.parametrize("moment", [m for m, (_, news_after) in MOMENTS.items()
                                    if not news_after])
@pytest.mark.parametrize("transition", TRANSITIONS)
def test_a_transition_when_the_next_song_was_not_ready_in_time_holds_too(transition: str,
                                                                         moment: str):
    """The preload answers only after the transition: the engine had nothing to join."""
    show = start_show((song("one", then="next"), song("two", then="next"), song("three")),
                      late_preload=True)
    before_end_s, _ = MOMENTS[moment]
    show.play_for(SONG_S - before_end_s)
    TRANSITIONS[transition](show)
    acted = len(show.audio)
    show.answer_loads()
    show.play_for(SONG_S + 1.0)
    assert not show.since(acted)[round(FADE_S * RATE) + BLOCK:].any()
    assert show.player.state != "playing"
    before_play = len(show.audio)
    show.press("play")
    show.play_for(0.1)
    assert show.since(before_play)[-1] > 0 or transition == "pause_then_shutdown"
