"""The player: the box's state machine, pure.

It takes events and returns commands; it has no threads, no I/O and no clock. The box
carries the commands out (the engine, the loader, the scanner, the screen, the state
file). States::

    no_stick -> scanning -> cued <-> playing <-> paused
                   |          \\-> ended (the setlist is done)
                   \\-> error (nothing on the stick can play)

    any state but playing -> shutdown (MENU held for the long hold; nothing leaves it)

Stage-safe rules: nothing plays until PLAY is pressed; a short tap never interrupts a
playing song (pause, stop and skip need a hold); a song in memory plays to its end even
when the stick is pulled. Only a song that ends while playing goes on by itself
(``then=next``): one that runs out while a pause fades it leaves the next song cued. PLAY
with no audio interface says so and arms nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from stagebox import events as ev
from stagebox.media.loudness import Measured, MeasuredAs, match_gain_db
from stagebox.media.model import Library, MidiMessage, Setlist, Song
from stagebox.practice import (
    FIELDS,
    Adjustments,
    Change,
    PracticeBook,
    Tap,
    Taps,
    field_texts,
)
from stagebox.practice import press as practice_press
from stagebox.state import ResumePoint
from stagebox.ui.menu import (
    Menu,
    MenuClosed,
    MenuContext,
    MenuHint,
    ResetPracticeChoice,
    SetAfterSongChoice,
    SetModeChoice,
    SetSetlistChoice,
    SetVolumeChoice,
)

log = logging.getLogger(__name__)

State = Literal["no_stick", "scanning", "cued", "playing", "paused", "ended", "error",
                "shutdown"]
Severity = Literal["info", "warning", "error"]


# --- commands: what the player asks the box to do ---------------------------------------

@dataclass(frozen=True)
class Scan:
    """Read the stick at ``root``."""

    root: Path
    label: str


@dataclass(frozen=True)
class Load:
    """Read ``song`` into memory and start its decoder at ``start_s``."""

    load_id: int
    song: Song
    start_s: float = 0.0
    same_file_as: int | None = None
    """A load of the same file still held, whose memory it shares (a practice change)."""


@dataclass(frozen=True)
class Cue:
    """Make the loaded song the engine's current one, silent at its start position."""

    load_id: int
    gain_db: float = 0.0
    """Its gain: the loudness match, if it is measured, and its ``gain=``."""


@dataclass(frozen=True)
class QueueNext:
    """Go straight on into this loaded song when the current one ends (gapless)."""

    load_id: int
    gain_db: float = 0.0
    """As for :class:`Cue`."""


@dataclass(frozen=True)
class SetGain:
    """The loaded song, not heard yet, is to play at ``gain_db``: its measurement came
    after it was cued. A song already heard keeps its level to its end."""

    load_id: int
    gain_db: float


@dataclass(frozen=True)
class Measure:
    """Measure the loudness of these song files of the stick, in this order, in the
    background; this measuring replaces any other."""

    measure_id: int
    label: str
    songs: tuple[MeasuredAs, ...]


@dataclass(frozen=True)
class StopMeasuring:
    """The stick went, or another came: its measuring is of no more use."""


@dataclass(frozen=True)
class Swap:
    """Crossfade from the current song into its new decoding ``load_id`` (ready), following
    on from where it plays or, unless ``follow``, from where the new one starts."""

    load_id: int
    replaces: int
    follow: bool
    gain_db: float = 0.0


@dataclass(frozen=True)
class RememberPractice:
    """The settings made on the box for a song of stick ``label`` have changed: keep them."""

    label: str
    book: PracticeBook


@dataclass(frozen=True)
class Play:
    """Start or resume the current song."""


@dataclass(frozen=True)
class Pause:
    """Fade the current song out and hold its position."""


@dataclass(frozen=True)
class Stop:
    """Fade the current song out and drop it (and any queued next song)."""


@dataclass(frozen=True)
class Discard:
    """A load that is no longer wanted: close it."""

    load_id: int


@dataclass(frozen=True)
class SetVolume:
    """Ramp the output to ``volume_db``."""

    volume_db: float


@dataclass(frozen=True)
class SetPractising:
    """The box has gone into practice mode (``on``) or back to show mode: the output may
    trade headroom for quicker changes."""

    on: bool


@dataclass(frozen=True)
class Notify:
    """Tell the performer: a banner on the screen and a line in the log."""

    message: str
    severity: Severity = "info"
    at_once: bool = False
    """An answer to a press: shown now, ahead of the banners waiting their turn."""


@dataclass(frozen=True)
class Record:
    """An entry for the event log (``events.jsonl`` in the simulator)."""

    event: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Remember:
    """Something worth keeping across restarts has changed."""


@dataclass(frozen=True)
class ShutDown:
    """Power the box off (the performer held MENU for the long hold)."""


@dataclass(frozen=True)
class SendMidi:
    """Send the cued song's MIDI (its ``midi=`` option) to the rest of the rig."""

    messages: tuple[MidiMessage, ...]


Command = (
    Scan | Load | Cue | QueueNext | Swap | RememberPractice | Play | Pause | Stop | Discard
    | SetVolume | SetPractising | Notify | Record | Remember | ShutDown | SendMidi | SetGain
    | Measure | StopMeasuring
)


@dataclass
class _Slot:
    """A song the player has asked the box to load."""

    load_id: int
    index: int
    ready: bool = False
    duration_s: float | None = None
    played: bool = False
    """PLAY has started it (or it was joined): its gain stays as it is."""
    match_db: float | None = None
    """The loudness match it was given (None: it plays at its own level)."""
    peak_capped: bool = False
    """That match is less than the target asks: its true peak would go over the ceiling."""


class Player:
    """The state machine. The box calls :meth:`handle` with each event, on its main loop."""

    def __init__(self, *, after_song: str = "stop", volume_db: float = 0.0,
                 info: tuple[str, ...] = (),
                 chosen_setlists: dict[str, str] | None = None,
                 resume: ResumePoint | None = None,
                 loudness_lufs: float | None = None) -> None:
        """``loudness_lufs``: the loudness songs are matched to once measured (None: played
        as mastered, and nothing measured)."""
        self.state: State = "no_stick"
        self.after_song = after_song
        self.volume_db = volume_db
        self.library: Library | None = None
        self.setlist_index = 0
        self.index = 0
        self.stick_present = False
        self.menu: Menu | None = None
        self.scan_progress = (0, 0)
        self.stick_label = ""
        self.message = ""
        """Why the box is in ``error`` or ``no_stick``, for the screen."""
        self.xruns = 0
        """Underruns the audio interface has had, for the info menu."""
        self.audio_present = True
        """False from an AudioDeviceLost until its AudioDeviceBack."""
        self.info = info
        self._outputs = ev.AudioOutputs(1, 0)
        """The interface last opened: the pairs the buses go to, for the info page, and
        its latency, for a tapped tempo."""
        self._trainer: tuple[int, float] | None = None
        """The speed a loop's ``speedup=`` has taken song ``[0]`` to, until another song is
        cued or its speed is changed on the box."""
        self._taps: tuple[int, Taps] | None = None
        """The tempo being tapped on the click field, and the song's index."""
        self._next_down: tuple[float | None, float] | None = None
        """NEXT's down edge in practice mode while a song plays: when (the box's clock) and
        the song's place then."""
        self.chosen_setlists = dict(chosen_setlists or {})
        """The setlist last chosen on each stick, by label: it is cued again next time."""
        self._current: _Slot | None = None
        self._next: _Slot | None = None
        self._play_when_ready = False
        self._pending_library: Library | None = None
        self._no_room_beside: int | None = None
        """The load whose next song did not fit in memory beside it: that one loads when
        this one ends, not before."""
        self._swallowed: set[tuple[str, ev.ButtonName]] = set()
        """(source, button) of each press that acted on its down edge: the rest of it is
        swallowed. Kept per source, so another input's press does not end it."""
        self._resume = resume
        self._load_ids = 0
        self.loudness_lufs = loudness_lufs
        self.measuring: tuple[int, int] | None = None
        """(songs measured, songs to measure) while the stick's songs are measured."""
        self._loudness: dict[MeasuredAs, Measured] = {}
        self._measure_names: dict[MeasuredAs, str] = {}
        self._measure_id = 0
        self.mode = "show"
        """``practice``: taps while a song plays change its key, speed, loop and click.
        Never remembered: a box always starts in show mode."""
        self.practice_field = 0
        """The index in :data:`~stagebox.practice.FIELDS` of the field PREV/NEXT change."""
        self.practice_book = PracticeBook()
        """The settings made on the box for this stick's songs (the box reads it)."""
        self.song_position_s = 0.0
        """Where the current song is, in song time: the box sets it before each event."""
        self._replacement: _Slot | None = None
        """The current song decoded anew with its new practice settings, on its way."""
        self._replacement_follow = True
        self._out: list[Command] = []

    # --- reading -------------------------------------------------------------------------

    @property
    def setlist(self) -> Setlist | None:
        """The setlist in use, if a stick has been read."""
        if self.library is None:
            return None
        return self.library.setlists[self.setlist_index]

    @property
    def songs(self) -> tuple[Song, ...]:
        """The songs of the setlist in use."""
        setlist = self.setlist
        return setlist.songs if setlist else ()

    @property
    def song(self) -> Song | None:
        """The cued or playing song."""
        songs = self.songs
        return songs[self.index] if self.state in _HAS_SONG and songs else None

    @property
    def duration_s(self) -> float | None:
        """Length of the current song, once its decoder has said."""
        return self._current.duration_s if self._current else None

    @property
    def current_load_id(self) -> int | None:
        """The load the engine plays as the current song."""
        return self._current.load_id if self._current else None

    # --- events --------------------------------------------------------------------------

    def handle(self, event: ev.Event) -> list[Command]:
        """Feed one event; return the commands to carry out, in order."""
        self._out = []
        if self.state == "shutdown":
            # Nothing brings a box that is powering off back to life; a song that was
            # still loading is let go.
            if isinstance(event, ev.TrackReady):
                self._emit(Discard(event.load_id))
            return self._out
        handler = getattr(self, "_on_" + type(event).__name__, None)
        if handler is not None:
            handler(event)
        return self._out

    def _on_StickInserted(self, event: ev.StickInserted) -> None:  # noqa: N802
        self.stick_present = True
        self.stick_label = event.label
        self._record("stick_inserted", label=event.label)
        self._stop_measuring()
        self.scan_progress = (0, 0)
        if self.state != "playing":
            self._release_songs()
            self._set_state("scanning")
        self._emit(Scan(event.root, event.label))

    def _on_StickRemoved(self, event: ev.StickRemoved) -> None:  # noqa: N802
        self.stick_present = False
        self._pending_library = None
        self._record("stick_removed")
        self._stop_measuring()
        if self.state == "playing":
            self._notify("Stick removed: song plays from memory", "warning")
            self._drop_next()
            return
        self._to_no_stick("Stick removed")

    def _on_ScanProgress(self, event: ev.ScanProgress) -> None:  # noqa: N802
        self.scan_progress = (event.done, event.total)

    def _on_ScanFailed(self, event: ev.ScanFailed) -> None:  # noqa: N802
        self._notify(event.message, "error")
        if self.state == "scanning":
            self._to_no_stick(event.message)

    def _on_ScanFinished(self, event: ev.ScanFinished) -> None:  # noqa: N802
        if not self.stick_present:
            return
        library = event.library
        for warning in library.warnings:
            self._notify(warning, "warning")
        self._record("scan_finished", label=library.label,
                     setlists=[s.name for s in library.setlists],
                     songs=len(library.default.songs))
        self._start_measuring(library)
        if self.state == "playing":
            self._pending_library = library
            return
        self._adopt(library, self._remembered_setlist(library))

    def _on_TrackReady(self, event: ev.TrackReady) -> None:  # noqa: N802
        slot = self._slot(event.load_id)
        if slot is None:
            self._emit(Discard(event.load_id))
            return
        slot.ready = True
        slot.duration_s = event.duration_s
        if event.warning and slot is not self._replacement:
            self._notify(f"{self.songs[slot.index].rel_path}: {event.warning}", "warning")
        if slot is self._replacement:
            assert self._current is not None
            slot.played = True
            self._emit(Swap(slot.load_id, self._current.load_id, self._replacement_follow,
                            self._gain_db(slot)))
            return
        if slot is self._next:
            self._emit(QueueNext(slot.load_id, self._gain_db(slot)))
            return
        self._emit(Cue(slot.load_id, self._gain_db(slot)))
        if self._play_when_ready:
            self._play_when_ready = False
            self._start_playing()

    def _on_TrackFailed(self, event: ev.TrackFailed) -> None:  # noqa: N802
        slot = self._slot(event.load_id)
        if slot is None:
            return
        name = self.songs[slot.index].rel_path
        if slot is self._replacement:
            self._replacement = None
            self._notify(f"Practice change not made: {event.message}", "warning")
            return
        if event.no_room and slot is self._next and self._current is not None:
            self._next = None
            self._no_room_beside = self._current.load_id
            self._notify(f"{name} loads when this song ends: {event.message}", "warning")
            return
        self._notify(f"Skipped {name}: {event.message}", "warning")
        if slot is self._next:
            self._next = None
            self._load_next_after(slot.index)
            return
        self._current = None
        self._cue_from(slot.index + 1, autoplay=self._play_when_ready)

    def _on_TrackStarted(self, event: ev.TrackStarted) -> None:  # noqa: N802
        if self._current and event.load_id == self._current.load_id:
            song = self.songs[self.index]
            self._record("track_started", index=self.index, title=song.title,
                         path=song.rel_path)

    def _on_TrackEnded(self, event: ev.TrackEnded) -> None:  # noqa: N802
        current = self._current
        if current is None or event.load_id != current.load_id:
            return
        self._record("track_ended", index=self.index, title=self.songs[self.index].title)
        self._drop_replacement()
        if event.error:
            self._notify(f"{self.songs[self.index].rel_path}: {event.error}", "warning")
        self._emit(Discard(current.load_id))
        self._current = None
        if self._pending_library is not None:
            library, self._pending_library = self._pending_library, None
            self._drop_next()
            self._adopt(library, self._remembered_setlist(library))
            return
        if not self.stick_present:
            self._drop_next()
            self._to_no_stick("Insert USB stick")
            return
        playing = self.state == "playing"
        if event.joined and self._next is not None:
            # The engine went straight on. If a pause reached it just after the join, it
            # paused the next song: the player follows, paused there.
            self._current, self._next = self._next, None
            self._current.played = True
            self.index = self._current.index
            self._send_midi()
            self._set_state("playing" if playing else "paused")
            if playing:
                self._load_next_after(self.index)
            return
        # Only a song that ran out while playing goes on by itself; one that ran out
        # while a pause faded it leaves the next song cued, waiting for PLAY.
        goes_on = playing and self._then(current.index) == "next"
        self._cue_from(current.index + 1, autoplay=goes_on, use_preload=True)

    def _on_TrackReplaced(self, event: ev.TrackReplaced) -> None:  # noqa: N802
        replacement, current = self._replacement, self._current
        if replacement is None or current is None or (
                event.new_load_id, event.old_load_id) != (replacement.load_id, current.load_id):
            return
        # The engine has let go of the old decoding; the box closes it on its notice.
        self._current, self._replacement = replacement, None
        self._record("practice_applied", index=self.index, **self._practice_fields())

    def _on_LoopWentRound(self, event: ev.LoopWentRound) -> None:  # noqa: N802
        """A speed trainer's step: the next pass of the loop a little faster."""
        current = self._current
        if self.state != "playing" or current is None or current.load_id != event.load_id \
                or self._replacement is not None:
            return
        song = self._playable(self.index)
        if not _has_trainer(song) or song.speed >= 1.0:
            return
        self._trainer = (self.index, min(1.0, round(song.speed + song.speedup, 3)))
        self._record("trainer", index=self.index, speed=self._trainer[1], passes=event.passes)
        self._redecode(Change(self.song_position_s, follow=True))

    def _on_AudioDeviceLost(self, event: ev.AudioDeviceLost) -> None:  # noqa: N802
        self.audio_present = False
        self._notify(event.message, "error")
        if self.state == "playing":
            self._pause()

    def _on_AudioDeviceBack(self, event: ev.AudioDeviceBack) -> None:  # noqa: N802
        self.audio_present = True
        self._notify("Audio interface back", "info")

    def _on_AudioOutputs(self, event: ev.AudioOutputs) -> None:  # noqa: N802
        if event.warning and event.warning != self._outputs.warning:
            self._notify(event.warning, "warning")
        self._outputs = event
        self._record("audio_outputs", main_pair=event.main_pair, cue_pair=event.cue_pair,
                     buffer_ms=round(event.latency_s * 1000.0, 1))

    def _on_Xrun(self, event: ev.Xrun) -> None:  # noqa: N802
        self.xruns = event.total
        self._record("xrun", total=event.total)

    def _on_LoudnessMeasured(self, event: ev.LoudnessMeasured) -> None:  # noqa: N802
        if event.measure_id != self._measure_id or self.measuring is None:
            return  # a stick that has gone, or a measuring replaced since
        done, total = self.measuring
        self.measuring = (done + 1, total)
        self._loudness[event.song] = measured = event.measured
        name = self._measure_names.get(event.song, event.song.path.name)
        loudness = measured.loudness
        if loudness is None:
            self._record("loudness", path=name, failure=measured.failure)
            self._notify(f"{name}: not loudness-matched: {measured.failure}", "warning")
            return
        if not event.cached:
            # Once per file, not at every insertion: measure_finished counts the rest.
            self._record("loudness", path=name, lufs=_rounded(loudness.integrated_lufs),
                         dbtp=_rounded(loudness.true_peak_dbtp))
        for slot in (self._current, self._next):
            if slot is not None and slot.ready and not slot.played \
                    and _measured_as(self.songs[slot.index]) == event.song:
                self._emit(SetGain(slot.load_id, self._gain_db(slot)))

    def _on_MeasureFinished(self, event: ev.MeasureFinished) -> None:  # noqa: N802
        if event.measure_id != self._measure_id or self.measuring is None:
            return
        self.measuring = None
        self._record("measure_finished", measured=event.measured, cached=event.cached,
                     failed=event.failed)
        if event.problem:
            self._notify(f"Songs not loudness-matched: {event.problem}", "warning")

    def _on_Gesture(self, event: ev.Gesture) -> None:  # noqa: N802
        self._record("button", button=event.button, gesture=event.kind, source=event.source)
        key = (event.source, event.button)
        if event.kind == "down":
            self._swallowed.discard(key)
        elif key in self._swallowed:
            if event.kind == "press":
                self._swallowed.discard(key)
            return  # the rest of a press that has already acted on its down edge
        if self.menu is not None and event.kind in ("down", "press"):
            if event.kind == "press":
                self._menu_press(event.button)
            return
        if event.button == "menu":
            if event.kind == "press":
                self._open_menu()
            elif event.kind == "long_hold":
                self._shut_down()
            return
        if self.mode == "practice" and self.state == "playing" and event.button == "next" \
                and event.kind == "down":
            self._next_down = event.t, self.song_position_s  # a tap of the tempo is timed so
        if (self.mode == "practice" and self.state == "playing" and event.kind == "press"
                and event.button in ("play", "prev", "next")):
            self._practice_press(event.button)
            return
        action = _TRANSPORT.get((self.state, event.button, event.kind))
        if action is not None:
            getattr(self, action)()
            if event.kind == "down":
                self._swallowed.add(key)
        elif event.kind == "press" and self.state == "playing":
            verb = {"play": "pause", "next": "skip", "prev": "restart"}[event.button]
            self._notify(f"Hold {event.button.upper()} to {verb}", at_once=True)

    def _on_CueSong(self, event: ev.CueSong) -> None:  # noqa: N802
        """A direct cue (a MIDI program change): never plays, never interrupts a song."""
        number = event.number
        self._record("cue_song", song=number, source=event.source)
        songs = self.songs
        if self.state not in _HAS_SONG or not songs:
            self._notify(f"No setlist to cue song {number} in", at_once=True)
        elif not 1 <= number <= len(songs):
            self._notify(f"No song {number}: the setlist has {len(songs)}", at_once=True)
        elif self.state == "playing":
            self._notify(f"Playing: song {number} not cued", at_once=True)
        elif not (self.state == "cued" and self.index == number - 1):
            self._cue_from(number - 1, autoplay=False)

    # --- transport -----------------------------------------------------------------------

    def _play(self) -> None:
        if not self.audio_present:
            # Armed now, the song would start by itself when the cable goes back in.
            self._notify("No audio interface", "error", at_once=True)
            return
        if self._current and self._current.ready:
            self._start_playing()
        else:
            self._play_when_ready = True
            self._set_state("playing")

    def _start_playing(self) -> None:
        if self._current is not None:
            self._current.played = True
        self._emit(Play())
        self._set_state("playing")
        self._load_next_after(self.index)

    def _pause(self) -> None:
        self._play_when_ready = False
        self._emit(Pause())
        self._set_state("paused")

    def _restart(self) -> None:
        """Fade out, back to the start of this song, cued."""
        self._emit(Stop())
        self._drop_next()
        self._cue_from(self.index, autoplay=False)

    def _skip(self) -> None:
        """Fade out and cue the next song."""
        self._emit(Stop())
        self._drop_next()
        if self.index + 1 >= len(self.songs):
            self._release_current()
            self._set_state("ended")
        else:
            self._cue_from(self.index + 1, autoplay=False)

    def _next_song(self) -> None:
        if self.index + 1 < len(self.songs):
            self._cue_from(self.index + 1, autoplay=False)
        else:
            self._notify("Last song of the setlist", at_once=True)

    def _prev_song(self) -> None:
        if self.state == "paused":
            self._cue_from(self.index, autoplay=False)
        elif self.state == "ended":
            self._cue_from(len(self.songs) - 1, autoplay=False)
        elif self.index > 0:
            self._cue_from(self.index - 1, autoplay=False)
        else:
            self._notify("First song of the setlist", at_once=True)

    def _shut_down(self) -> None:
        if self.state == "playing":
            self._notify("Stop the song to shut down", at_once=True)
            return
        self.menu = None
        self._emit(Remember())
        self._release_songs()
        self._set_state("shutdown")
        self._emit(ShutDown())

    # --- menu ----------------------------------------------------------------------------

    def _open_menu(self) -> None:
        library = self.library
        self.menu = Menu(MenuContext(
            volume_db=self.volume_db,
            after_song=self.after_song,
            setlist_names=tuple(s.name for s in library.setlists) if library else (),
            setlist_index=self.setlist_index,
            info_lines=(*self.info, _outputs_line(self._outputs),
                        f"Stick: {self.stick_label or '-'}", f"Xruns: {self.xruns}",
                        *self._loudness_info()),
            setlist_locked=self.state == "playing",
            mode=self.mode,
        ))

    def _menu_press(self, button: ev.ButtonName) -> None:
        assert self.menu is not None
        result = self.menu.press(button)
        if isinstance(result, MenuClosed):
            self.menu = None
        elif isinstance(result, MenuHint):
            self._notify(result.text, at_once=True)
        elif isinstance(result, SetVolumeChoice):
            self.volume_db = result.volume_db
            self._emit(SetVolume(result.volume_db))
            self._record("volume", volume_db=result.volume_db)
            self._emit(Remember())
        elif isinstance(result, SetModeChoice):
            self.mode = result.mode
            self.practice_field = 0
            self._record("mode", mode=result.mode)
            self._emit(SetPractising(result.mode == "practice"))
            self._apply_practice()
        elif isinstance(result, ResetPracticeChoice):
            self._reset_practice()
        elif isinstance(result, SetAfterSongChoice):
            self.after_song = result.after_song
            self._emit(Remember())
        elif isinstance(result, SetSetlistChoice) and self.library and self.state != "playing":
            self._adopt(self.library, result.setlist_index)
            self.chosen_setlists[self.stick_label] = self.library.setlists[
                self.setlist_index].name
            self._emit(Remember())

    # --- practice ------------------------------------------------------------------------

    @property
    def practice_texts(self) -> tuple[tuple[str, str], ...]:
        """The song screen's practice line, as (field, words) in order: every field in
        practice mode, only what is not neutral in show mode."""
        song = self.song
        if song is None:
            return ()
        texts = field_texts(song, self.practice_book.get(song.rel_path),
                            practising=self.mode == "practice",
                            speed=self._playable(self.index).speed)
        return tuple((field, texts[field]) for field in FIELDS if field in texts)

    def _playable(self, index: int) -> Song:
        """Song ``index`` as it is to play: with the settings made on the box, in practice
        mode; as the setlist has it, in show mode."""
        song = self.songs[index]
        if self.mode == "practice":
            song = self.practice_book.get(song.rel_path).applied_to(song)
        if self._trainer is not None and self._trainer[0] == index:
            song = replace(song, speed=self._trainer[1])
        return song

    def _practice_press(self, button: ev.ButtonName) -> None:
        """A tap while a song plays, in practice mode: PLAY picks a field, PREV/NEXT change it."""
        field = FIELDS[self.practice_field]
        if button == "play":
            self.practice_field = (self.practice_field + 1) % len(FIELDS)
            return
        song = self.songs[self.index]
        taps = self._taps[1] if self._taps is not None and self._taps[0] == self.index \
            else None
        outcome = practice_press(self.practice_book.get(song.rel_path), song, field,
                                 button == "next", self.song_position_s, taps,
                                 self._tap() if button == "next" else None)
        self._taps = (self.index, outcome.taps) if outcome.taps is not None else None
        if outcome.hint:
            self._notify(outcome.hint, at_once=True)
        if outcome.adjustments == self.practice_book.get(song.rel_path):
            return
        self._trainer = None
        self.practice_book.put(song.rel_path, outcome.adjustments)
        self._record("practice", field=field, index=self.index, **self._practice_fields())
        self._emit(RememberPractice(self.stick_label, self.practice_book))
        if outcome.change is not None:
            self._redecode(outcome.change)

    def _tap(self) -> Tap | None:
        """NEXT's last down edge as a tap of the tempo: on the beat the performer heard,
        the device still holding what the engine had played since."""
        down, self._next_down = self._next_down, None
        if down is None:
            return None
        clock_s, position_s = down
        if clock_s is None:
            return None
        latency_s = self._outputs.latency_s * self._playable(self.index).speed
        return Tap(clock_s, max(0.0, position_s - latency_s))

    def _practice_fields(self) -> dict[str, Any]:
        song = self._playable(self.index)
        loop = song.loop
        return {"key": song.key_semitones, "speed": song.speed, "click": song.click,
                "bpm": song.bpm, "loop": [loop.start_s, loop.end_s] if loop else None}

    def _redecode(self, change: Change) -> None:
        """Decode the current song anew with its settings now, from ``change.start_s``; the
        engine crossfades into it once it is ready."""
        if self._current is None:
            return
        self._drop_replacement()
        self._replacement = _Slot(self._new_load_id(), self.index)
        self._replacement_follow = change.follow
        self._emit(Load(self._replacement.load_id, self._playable(self.index),
                        change.start_s, same_file_as=self._current.load_id))

    def _apply_practice(self) -> None:
        """The settings that apply to the current song changed (the mode, or a reset):
        it is decoded anew from where it is, and any preloaded next song too."""
        if self.state == "playing" and self._current is not None:
            self._drop_next()
            self._redecode(Change(self.song_position_s, follow=True))
            self._load_next_after(self.index)
        elif self.state in ("cued", "paused"):
            self._cue_from(self.index, autoplay=False,
                           start_s=self.song_position_s if self.state == "paused" else 0.0)

    def _reset_practice(self) -> None:
        song = self.song
        if song is None:
            self._notify("No song to reset", at_once=True)
            return
        self.practice_book.put(song.rel_path, Adjustments())
        self._emit(RememberPractice(self.stick_label, self.practice_book))
        self._notify(f"{song.title}: setlist settings", at_once=True)
        self._apply_practice()

    # --- helpers -------------------------------------------------------------------------

    def _adopt(self, library: Library, setlist_index: int) -> None:
        self._release_songs()
        self.library = library
        self.setlist_index = setlist_index if setlist_index < len(library.setlists) else 0
        setlist = library.setlists[self.setlist_index]
        for warning in setlist.warnings:
            self._notify(warning, "warning")
        if not setlist.songs:
            self.message = "No songs on the stick"
            self._set_state("error")
            return
        resume = self._resume
        index = self._resume_index(setlist)
        if resume is not None and index is not None:
            self._cue_from(index, autoplay=False, start_s=resume.position_s,
                           trainer_speed=resume.trainer_speed)
            self._record("resumed", index=index, position=resume.position_s,
                         speed=self._playable(index).speed)
            return
        self._cue_from(0, autoplay=False)

    def resume_point(self, position_s: float) -> ResumePoint | None:
        """Where to come back to after a power cut, given the engine's position."""
        setlist = self.setlist
        if self.state not in ("cued", "playing", "paused") or setlist is None:
            return None
        song = setlist.songs[self.index]
        trainer = self._trainer
        return ResumePoint(self.stick_label, setlist.name, self.index, song.rel_path,
                           round(position_s, 2) if self.state != "cued" else 0.0,
                           trainer[1] if trainer is not None and trainer[0] == self.index
                           else None)

    def _resume_index(self, setlist: Setlist) -> int | None:
        """The song to come back to on this setlist, once, after a restart."""
        resume, self._resume = self._resume, None
        if resume is None or (resume.stick, resume.setlist) != (self.stick_label, setlist.name):
            return None
        songs = setlist.songs
        if resume.index >= len(songs) or songs[resume.index].rel_path != resume.path:
            return None
        return resume.index

    def _remembered_setlist(self, library: Library) -> int:
        if self._resume is not None and self._resume.stick == library.label:
            name: str | None = self._resume.setlist
        else:
            name = self.chosen_setlists.get(library.label)
        names = [setlist.name for setlist in library.setlists]
        return names.index(name) if name in names else 0

    def _cue_from(self, index: int, *, autoplay: bool, start_s: float = 0.0,
                  use_preload: bool = False, trainer_speed: float | None = None) -> None:
        """Make song ``index`` the current one, from ``start_s`` in; it plays once ready if
        ``autoplay``, else waits, cued (or paused, when it starts part-way).

        The song preloaded to go on into belonged to the song that is no longer current:
        it is dropped, unless ``use_preload`` (the engine has said it did not join it, so
        it is still at its start) and it is song ``index``. ``trainer_speed``: how fast the
        song's speed trainer had got it before a restart, taken if the song still has one
        that starts slower.
        """
        self._release_current()
        self._trainer = None
        if trainer_speed is not None and index < len(self.songs):
            song = self._playable(index)
            if _has_trainer(song) and song.speed < trainer_speed <= 1.0:
                self._trainer = (index, round(float(trainer_speed), 3))
        preload, self._next = self._next, None
        if preload is not None and not (use_preload and preload.index == index):
            self._emit(Discard(preload.load_id))
            preload = None
        if index >= len(self.songs):
            self._set_state("ended")
            return
        self.index = index
        self._send_midi()
        if preload is not None:
            self._current = preload
            if preload.ready:
                self._emit(Cue(preload.load_id, self._gain_db(preload)))
                if autoplay:
                    self._start_playing()
                    return
        else:
            self._current = _Slot(self._new_load_id(), index)
            self._emit(Load(self._current.load_id, self._playable(index), start_s))
        self._play_when_ready = autoplay
        self._set_state("playing" if autoplay else "paused" if start_s > 0 else "cued")

    def _load_next_after(self, index: int) -> None:
        """Preload the song after ``index`` when this one goes straight on into it."""
        if self._next is not None or self._then(index) != "next":
            return
        if self._current is not None and self._current.load_id == self._no_room_beside:
            return
        if index + 1 >= len(self.songs) or not self.stick_present:
            return
        self._next = _Slot(self._new_load_id(), index + 1)
        self._emit(Load(self._next.load_id, self._playable(index + 1)))

    # --- loudness ------------------------------------------------------------------------

    def _start_measuring(self, library: Library) -> None:
        """Measure the stick's songs, the setlist about to be cued first."""
        if self.loudness_lufs is None:
            return
        setlists = (library.setlists[self._remembered_setlist(library)], *library.setlists)
        songs = {_measured_as(song): song.rel_path for setlist in setlists
                 for song in setlist.songs}
        self._stop_measuring()
        if not songs:
            return
        self._measure_id += 1
        self._measure_names = songs
        self.measuring = (0, len(songs))
        self._emit(Measure(self._measure_id, library.label, tuple(songs)))

    def _stop_measuring(self) -> None:
        """Forget the stick's measurements, and stop measuring it if that is under way."""
        if self.measuring is not None:
            self._emit(StopMeasuring())
        self.measuring = None
        self._loudness = {}
        self._measure_names = {}

    def _gain_db(self, slot: _Slot) -> float:
        """The gain the song of ``slot`` plays at: its ``gain=`` on top of the match to the
        target, once measured; the match is noted in the slot, for the info page."""
        song = self.songs[slot.index]
        measured = self._loudness.get(_measured_as(song))
        loudness = measured.loudness if measured is not None else None
        slot.match_db, slot.peak_capped = None, False
        if self.loudness_lufs is not None and loudness is not None:
            slot.match_db = match_gain_db(loudness, self.loudness_lufs)
            if slot.match_db is not None and loudness.integrated_lufs is not None:
                # match_gain_db gives the cap itself when it is lower than the match.
                slot.peak_capped = slot.match_db < self.loudness_lufs - loudness.integrated_lufs
        return song.gain_db + (slot.match_db or 0.0)

    def _loudness_info(self) -> tuple[str, ...]:
        """The info page's loudness lines: the target, and how the current song plays."""
        if self.loudness_lufs is None:
            return ("Loudness: off",)
        target = f"Loudness: {self.loudness_lufs:g} LUFS"
        slot, song = self._current, self.song
        if song is None or slot is None or not slot.ready:
            return (target,)
        if slot.match_db is not None:
            word = "peak-capped" if slot.peak_capped else "matched"
            return (target, f"Song: {word} {slot.match_db:+.1f} dB")
        if _measured_as(song) in self._loudness:
            # It failed, is silent, or was measured after it had started.
            return (target, "Song: not matched")
        return (target, "Song: measuring" if self.measuring else "Song: not measured")

    def _send_midi(self) -> None:
        """The rig follows the setlist: the song just made current sends its MIDI."""
        messages = self.songs[self.index].midi
        if messages:
            self._emit(SendMidi(messages))

    def _then(self, index: int) -> str:
        return self.songs[index].then or self.after_song

    def _slot(self, load_id: int) -> _Slot | None:
        for slot in (self._current, self._next, self._replacement):
            if slot is not None and slot.load_id == load_id:
                return slot
        return None

    def _release_current(self) -> None:
        self._drop_replacement()
        if self._current is not None:
            self._emit(Discard(self._current.load_id))
            self._current = None
        self._play_when_ready = False

    def _drop_replacement(self) -> None:
        if self._replacement is not None:
            self._emit(Discard(self._replacement.load_id))
            self._replacement = None

    def _drop_next(self) -> None:
        if self._next is not None:
            self._emit(Discard(self._next.load_id))
            self._next = None

    def _release_songs(self) -> None:
        if self.state in ("playing", "paused"):
            self._emit(Stop())
        self._release_current()
        self._drop_next()

    def _to_no_stick(self, message: str) -> None:
        self._release_songs()
        self.library = None
        self.menu = None
        self.message = message
        self._set_state("no_stick")

    def _new_load_id(self) -> int:
        self._load_ids += 1
        return self._load_ids

    def _set_state(self, state: State) -> None:
        """Enter ``state``, recording it; re-entering a song state records the new song."""
        old, self.state = self.state, state
        if old == state and state not in _HAS_SONG:
            return
        if old != state:
            log.info("player %s -> %s", old, state)
        fields: dict[str, Any] = {"state": state}
        if state in _HAS_SONG and self.songs:
            fields.update(index=self.index, title=self.songs[self.index].title)
        self._record("state", **fields)

    def _notify(self, message: str, severity: Severity = "info", *,
                at_once: bool = False) -> None:
        self._emit(Notify(message, severity, at_once))

    def _record(self, event: str, **fields: Any) -> None:
        self._emit(Record(event, fields))

    def _emit(self, command: Command) -> None:
        self._out.append(command)


def _measured_as(song: Song) -> MeasuredAs:
    """What ``song``'s loudness is measured as: its file, and for a split track the side
    the audience hears."""
    return MeasuredAs(song.path, song.split)


def _outputs_line(outputs: ev.AudioOutputs) -> str:
    """The info page's line for the buses: ``Out: main 1-2, cue 3-4``."""
    if outputs.device_channels == 1:
        return "Out: mono"

    def pair(number: int) -> str:
        return f"{2 * number - 1}-{2 * number}"
    cue = pair(outputs.cue_pair) if outputs.cue_pair else "off"
    return f"Out: main {pair(outputs.main_pair)}, cue {cue}"


def _rounded(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


_HAS_SONG = ("cued", "playing", "paused", "ended")

# (state, button, gesture) -> Player method. Anything missing does nothing (a tap while a
# song plays shows a hint instead).
_TRANSPORT: dict[tuple[str, str, str], str] = {
    # PLAY starts on its down edge: nothing else a cued or paused PLAY could mean, so the
    # song need not wait for the release.
    ("cued", "play", "down"): "_play",
    ("cued", "next", "press"): "_next_song",
    ("cued", "prev", "press"): "_prev_song",
    ("paused", "play", "down"): "_play",
    ("paused", "next", "press"): "_next_song",
    ("paused", "prev", "press"): "_prev_song",
    ("playing", "play", "hold"): "_pause",
    ("playing", "next", "hold"): "_skip",
    ("playing", "prev", "hold"): "_restart",
    ("ended", "prev", "press"): "_prev_song",
}


def _has_trainer(song: Song) -> bool:
    """True if ``song`` has a speed trainer: a loop whose passes speed up (``speedup=``)."""
    return bool(song.speedup) and song.loop is not None
