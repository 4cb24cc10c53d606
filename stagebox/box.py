"""The box: one main loop that feeds every event to the player and carries out its commands.

Devices, the scanner, the loader and the output thread post events with :meth:`Box.post`
(any thread). :meth:`Box.step` (the main loop only) handles everything queued, then
redraws the screen if it changed. Real life calls :meth:`Box.run`; the simulator calls
:meth:`Box.step` between blocks of audio.
"""

from __future__ import annotations

import collections
import logging
import queue
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from luma.core.render import canvas
from PIL import Image

from stagebox import events as ev
from stagebox import player as cmd
from stagebox.audio.click import BeatGrid, beat_grid
from stagebox.audio.engine import Engine, Retired
from stagebox.audio.loader import Loader
from stagebox.clock import Clock
from stagebox.inputs.midi import MidiSender, midi_record
from stagebox.jsonl import json_line
from stagebox.media.loudness import Measured, MeasuredAs
from stagebox.media.model import Song
from stagebox.player import Player
from stagebox.practice import FIELDS, PracticeBook
from stagebox.state import (
    ResumePoint,
    SavedState,
    SmallFileError,
    StateStore,
    read_small_file,
    write_atomically,
)
from stagebox.ui import screens
from stagebox.ui.gestures import GestureDetector
from stagebox.ui.view import (
    Banner,
    CountIn,
    InsertStickView,
    MessageView,
    PlayerView,
    ScanningView,
    View,
)
from stagebox.workers import Worker

if TYPE_CHECKING:
    from stagebox.media.measure_process import Measurement

log = logging.getLogger(__name__)

FRAME_INTERVAL_S = 0.1
"""At most ten screen updates a second."""
BANNER_S = 3.0
PLACE_SAVE_INTERVAL_S = 1.0
MAX_PENDING_BANNERS = 3
MAX_PRACTICE_BYTES = 256 * 1024


class EventLog:
    """The box's record of what happened: JSON lines with the time, and the log."""

    def __init__(self, clock: Clock, stream: TextIO | None = None) -> None:
        self._clock = clock
        self._stream = stream

    def record(self, event: str, **fields: Any) -> None:
        """Write one event (main loop)."""
        entry = {"t": round(self._clock.now(), 4), "event": event, **fields}
        level = {"warning": logging.WARNING, "error": logging.ERROR}.get(event, logging.INFO)
        log.log(level, "%s %s", event, fields)
        if self._stream is not None:
            self._stream.write(json_line(entry))


@dataclass
class _Banner:
    banner: Banner
    until_s: float | None = None
    at_once: bool = False


class Box:
    """Wiring of player, engine, loader, scanner, gestures, screen and state."""

    def __init__(self, *, clock: Clock, player: Player, engine: Engine, loader: Loader,
                 scan_worker: Worker, measure_worker: Worker, display: Any,
                 event_log: EventLog, measure_idle: bool = True,
                 state_store: StateStore | None = None, saved: SavedState | None = None,
                 on_frame: Callable[[Image.Image, View], None] | None = None,
                 hold_s: float = 0.8, debounce_s: float = 0.02,
                 shut_down: Callable[[], None] | None = None,
                 midi_out: MidiSender | None = None, midi_channel: int = 1,
                 click_to_main: bool = True) -> None:
        self.clock = clock
        self.player = player
        self.engine = engine
        self.loader = loader
        self.display = display
        self.event_log = event_log
        self._scan_worker = scan_worker
        self._measure_worker = measure_worker
        self._measure_idle = measure_idle
        self._measurement: Measurement | None = None
        self._state_store = state_store
        self._on_frame = on_frame
        self._shut_down = shut_down
        self._midi_out = midi_out
        self._midi_channel = midi_channel
        self._click_to_main = click_to_main
        """Without a cue pair, show mode's clicks go to the main pair (else nowhere)."""
        self._gestures = GestureDetector(hold_s=hold_s, debounce_s=debounce_s)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._streams: dict[int, Any] = {}
        self._songs: dict[int, Song] = {}
        self._starts_s: dict[int, float] = {}
        self._in_engine: set[int] = set()
        self._banners: collections.deque[_Banner] = collections.deque()
        self._collapsed = 0
        self._saved = saved
        """What the state file holds now (as loaded at start, then as last written)."""
        self._save_failed = False
        self._resume: ResumePoint | None = saved.resume if saved else None
        self._next_place_save_s = 0.0
        self._last_frame: bytes | None = None
        self._next_frame_s = 0.0
        self._title_key: tuple[int, str] | None = None
        self._title_since_s = 0.0
        self._title_scrolls = False
        self._last_view: View | None = None

    # --- any thread ----------------------------------------------------------------------

    def post(self, event: object) -> None:
        """Queue an event for the main loop. Safe from any thread; never blocks."""
        self._queue.put(event)

    # --- main loop -----------------------------------------------------------------------

    def set_midi_out(self, midi_out: MidiSender) -> None:
        """Where songs' MIDI goes from now on: the daemon's MIDI ports, once it has looked
        for them after start-up (main loop)."""
        self._midi_out = midi_out

    def notify(self, message: str, severity: cmd.Severity = "warning") -> None:
        """Show a message as a banner and log it (e.g. a config problem at start-up)."""
        self._run(cmd.Notify(message, severity))

    def step(self) -> None:
        """Handle everything that has happened, then redraw if due (main loop)."""
        for notice in self.engine.take_notices():
            if isinstance(notice, Retired):
                self._in_engine.discard(notice.load_id)
                self._close_stream(notice.load_id)
            else:
                self._handle(notice)
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                break
            self._handle(event)
        for gesture in self._gestures.poll(self.clock.now()):
            self._handle(gesture)
        self._remember_place(self.clock.now())
        self._redraw()

    def wait(self, timeout_s: float) -> None:
        """Sleep until an event arrives or ``timeout_s`` passes (real main loop only)."""
        deadline = self._gestures.next_deadline()
        if deadline is not None:
            timeout_s = min(timeout_s, max(0.0, deadline - self.clock.now()))
        try:
            event = self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return
        self._handle(event)

    def close(self) -> None:
        """Stop measuring and close every stream still open (at shutdown)."""
        self._stop_measuring()
        for load_id in list(self._streams):
            self._close_stream(load_id)

    def _handle(self, event: object) -> None:
        if isinstance(event, ev.ButtonEdge):
            for gesture in self._gestures.edge(event):
                self._handle(gesture)
            return
        if isinstance(event, ev.InputAdded | ev.InputGone):
            self._input_changed(event)
            return
        if isinstance(event, ev.TrackReady):
            self._streams[event.load_id] = event.stream
        elif isinstance(event, ev.ScanFinished):
            self.player.practice_book = self._read_practice(event.library.label)
        self.player.song_position_s = self.position_s()
        if isinstance(event, ev.Gesture) and event.t is not None:
            # Where the song was at the edge itself, which came a moment ago.
            self.player.song_position_s = max(
                0.0, self.player.song_position_s
                - max(0.0, self.clock.now() - event.t) * self._current_speed())
        for command in self.player.handle(event):  # type: ignore[arg-type]
            self._run(command)

    def _run(self, command: cmd.Command) -> None:
        match command:
            case cmd.Scan(root=root, label=label):
                self._scan_worker.submit(lambda: self._scan(root, label))
            case cmd.Load(load_id=load_id, song=song, start_s=start_s, same_file_as=shared):
                self._songs[load_id] = song
                self._starts_s[load_id] = start_s
                self.loader.load(load_id, song, start_s, same_file_as=shared)
            case cmd.Cue(load_id=load_id, gain_db=gain_db):
                self._in_engine.add(load_id)
                stream = self._streams[load_id]
                song = self._songs[load_id]
                self.engine.cue(load_id, stream, gain_db,
                                start_frames=stream.header.start_frames,
                                beats=self._beat_grid(song),
                                section=stream.header.loop_frames,
                                speed=stream.request.speed)
            case cmd.Swap(load_id=load_id, replaces=replaces, follow=follow, gain_db=gain_db):
                self._in_engine.add(load_id)
                stream = self._streams[load_id]
                self.engine.swap(load_id, stream, gain_db, replaces=replaces, follow=follow,
                                 start_frames=stream.header.start_frames,
                                 beats=self._beat_grid(self._songs[load_id]),
                                 section=stream.header.loop_frames, speed=stream.request.speed)
            case cmd.RememberPractice(label=label, book=book):
                self._write_practice(label, book)
            case cmd.QueueNext(load_id=load_id, gain_db=gain_db):
                self._in_engine.add(load_id)
                stream = self._streams[load_id]
                self.engine.queue_next(load_id, stream, gain_db,
                                       section=stream.header.loop_frames,
                                       speed=stream.request.speed)
            case cmd.Play():
                self.engine.play()
            case cmd.Pause():
                self.engine.pause()
            case cmd.Stop():
                self.engine.stop()
            case cmd.Discard(load_id=load_id):
                # Its memory leaves the budget now, not when a fade has ended: the song
                # after it may be loading already.
                self.loader.release(load_id)
                if load_id in self._in_engine:
                    self.engine.discard(load_id)
                else:
                    self._close_stream(load_id)
            case cmd.SetPractising(on=on):
                self.engine.set_practising(on)
            case cmd.SetVolume(volume_db=volume_db):
                self.engine.set_volume(volume_db)
            case cmd.SetGain(load_id=load_id, gain_db=gain_db):
                if load_id in self._in_engine:
                    self.engine.set_gain(load_id, gain_db)
            case cmd.Measure(measure_id=measure_id, label=label, songs=songs):
                self._measure(measure_id, label, songs)
            case cmd.StopMeasuring():
                self._stop_measuring()
            case cmd.Notify(message=message, severity=severity, at_once=at_once):
                self._show_banner(Banner(message, severity), at_once=at_once)
                event = severity if severity != "info" else "notice"
                self.event_log.record(event, message=message)
            case cmd.Record(event=event, fields=fields):
                if event == "state" and "index" in fields:
                    position = self.position_s()
                    fields = {**fields, "position": round(position, 3)}
                self.event_log.record(event, **fields)
            case cmd.Remember():
                self._remember()
            case cmd.SendMidi(messages=messages):
                ports = self._midi_out.send(messages, self._midi_channel) if self._midi_out else 0
                for sent in messages:
                    self.event_log.record("midi_out", **midi_record(sent, self._midi_channel),
                                          ports=ports)
            case cmd.ShutDown():
                self.event_log.record("shutdown")
                if self._shut_down is not None:
                    self._shut_down()

    def _input_changed(self, event: ev.InputAdded | ev.InputGone) -> None:
        """A pedal or MIDI port came or went: say so; a gone one's buttons are let go."""
        if isinstance(event, ev.InputAdded):
            self.event_log.record("input_added", source=event.source,
                                  description=event.description)
            self._show_banner(Banner(f"{event.description} connected", "info"))
            return
        self._gestures.forget(event.source)
        self.event_log.record("input_gone", source=event.source, description=event.description,
                              reason=event.reason)
        severity: cmd.Severity = "warning" if event.reason else "info"
        detail = f": {event.reason}" if event.reason else ""
        self._show_banner(Banner(f"{event.description} gone{detail}", severity))

    def _scan(self, root: Path, label: str) -> None:
        """Runs on the scan worker; the scan itself runs in a child process."""
        # Imported at the first stick, not before the box says it is ready.
        from stagebox.media.scan import StickGone
        from stagebox.media.scan_process import ScanError, scan_in_child

        def progress(done: int, total: int) -> None:
            self.post(ev.ScanProgress(done, total))
        cache_path = self._state_store.cache_path("titles", label) if self._state_store else None
        try:
            library = scan_in_child(root, label, cache_path, progress)
        except StickGone as exc:
            self.post(ev.ScanFailed(f"Stick unreadable: {exc}"))
            return
        except ScanError as exc:
            self.post(ev.ScanFailed(f"Stick could not be read: {exc}"))
            return
        self.post(ev.ScanFinished(library))

    def _measure(self, measure_id: int, label: str, songs: tuple[MeasuredAs, ...]) -> None:
        """Start measuring the stick's songs on the measuring worker (in a child process,
        each result posted as it comes: a line of a few dozen bytes, so the main loop never
        parses much at once)."""
        # Imported at the first stick, not before the box says it is ready.
        from stagebox.media.measure_process import Measurement

        self._stop_measuring()
        cache_path = (self._state_store.cache_path("loudness", label) if self._state_store
                      else None)

        def on_result(index: int, measured: Measured, cached: bool) -> None:
            self.post(ev.LoudnessMeasured(measure_id, songs[index], measured, cached))

        measurement = Measurement(songs, self.engine.rate, cache_path, on_result,
                                  idle=self._measure_idle)
        self._measurement = measurement

        def run() -> None:
            summary = measurement.run()
            self.post(ev.MeasureFinished(measure_id, summary.measured, summary.cached,
                                         summary.failed, summary.problem))

        self._measure_worker.submit(run)

    def _stop_measuring(self) -> None:
        if self._measurement is not None:
            self._measurement.cancel()
            self._measurement = None

    def _beat_grid(self, song: Song) -> BeatGrid | None:
        """The clicks of ``song``: practice always hears them, show mode on the main pair
        only if the config says so when there is no cue pair."""
        return beat_grid(song, main_fallback=self._click_to_main
                         or self.player.mode == "practice")

    def _current_speed(self) -> float:
        """How fast the current song's time passes, if it is in the engine (else 0)."""
        load_id = self.player.current_load_id
        if load_id not in self._in_engine or self.player.state != "playing":
            return 0.0
        return float(self._streams[load_id].request.speed)

    def position_s(self) -> float:
        """Seconds into the current song: the engine's place, or where it will start."""
        load_id = self.player.current_load_id
        if load_id in self._in_engine:
            return self.engine.position_s(load_id)
        return self._starts_s.get(load_id, 0.0) if load_id is not None else 0.0

    def _duration_s(self) -> float | None:
        """The current song's length: its stream's, which a song that ends early puts
        right while it plays, else the length the player was told."""
        load_id = self.player.current_load_id
        stream = self._streams.get(load_id) if load_id is not None else None
        return stream.duration_s if stream is not None else self.player.duration_s

    def _close_stream(self, load_id: int) -> None:
        self.loader.release(load_id)
        self._songs.pop(load_id, None)
        self._starts_s.pop(load_id, None)
        stream = self._streams.pop(load_id, None)
        if stream is not None:
            stream.close()

    def _read_practice(self, label: str) -> PracticeBook:
        """The settings made on the box for this stick's songs, as last kept (main loop:
        a small file on the state partition, read once per insertion)."""
        if self._state_store is None:
            return PracticeBook()
        try:
            payload = read_small_file(self._state_store.cache_path("practice", label),
                                      MAX_PRACTICE_BYTES)
        except FileNotFoundError:
            return PracticeBook()
        except (OSError, SmallFileError) as exc:
            self._run(cmd.Notify(f"Practice settings not read: {exc}", "warning"))
            return PracticeBook()
        return PracticeBook.from_json(payload.decode("utf-8", "replace"))

    def _write_practice(self, label: str, book: PracticeBook) -> None:
        if self._state_store is None:
            return
        try:
            write_atomically(self._state_store.cache_path("practice", label),
                             book.to_json().encode("ascii"))
        except OSError as exc:
            self._run(cmd.Notify(f"Cannot save practice settings: {exc.strerror}", "warning"))

    def _remember(self) -> None:
        """Save the settings and where the show is (main loop)."""
        if self._state_store is None:
            return
        player = self.player
        resume = player.resume_point(self.position_s())
        if resume is not None or player.state in ("ended", "error"):
            self._resume = resume
        state = SavedState(volume_db=player.volume_db, after_song=player.after_song,
                           setlists=dict(player.chosen_setlists), resume=self._resume)
        if state == self._saved:
            return
        try:
            self._state_store.save(state)
        except OSError as exc:
            if not self._save_failed:
                self._run(cmd.Notify(f"Cannot save settings: {exc.strerror}", "warning"))
            self._save_failed = True
            return
        self._saved, self._save_failed = state, False

    def _remember_place(self, now: float) -> None:
        """Keep the saved place current: at once when the show changes, at least every
        second while a song plays, so a power cut loses under a second."""
        player = self.player
        if player.state == "playing" and now < self._next_place_save_s:
            return
        self._next_place_save_s = now + PLACE_SAVE_INTERVAL_S
        self._remember()

    # --- screen --------------------------------------------------------------------------

    def _show_banner(self, banner: Banner, *, at_once: bool = False) -> None:
        """Queue a banner; past a few, the last one counts the rest (they are in the log).

        ``at_once``: an answer to a press, shown now, in place of an earlier answer; a
        banner it interrupts shows again after it, for its whole time.
        """
        if at_once:
            if self._banners and self._banners[0].at_once:
                self._banners.popleft()
            elif self._banners:
                self._banners[0].until_s = None
            self._banners.appendleft(_Banner(banner, at_once=True))
            return
        if len(self._banners) < MAX_PENDING_BANNERS:
            self._banners.append(_Banner(banner))
            self._collapsed = 1
            return
        self._collapsed += 1
        last = self._banners[-1]
        self._banners[-1] = _Banner(Banner(f"{self._collapsed} more messages in the log",
                                           "warning"), last.until_s)

    def _current_banner(self, now: float) -> Banner | None:
        while self._banners:
            head = self._banners[0]
            if head.until_s is None:
                head.until_s = now + BANNER_S
            if now < head.until_s:
                return head.banner
            self._banners.popleft()
        return None

    def _redraw(self) -> None:
        now = self.clock.now()
        if now < self._next_frame_s:
            return
        self._next_frame_s = now + FRAME_INTERVAL_S
        view = self.view(now)
        if view == self._last_view:
            return
        self._last_view = view
        image = screens.render_image(view)
        pixels = image.tobytes()
        if pixels == self._last_frame:
            return
        self._last_frame = pixels
        with canvas(self.display) as draw:
            draw.bitmap((0, 0), image, fill="white")
        if self._on_frame is not None:
            self._on_frame(image, view)

    def view(self, now: float) -> View:
        """What the screen should show at ``now``."""
        player = self.player
        banner = self._current_banner(now)
        if player.menu is not None:
            return _with_banner(player.menu.view(), banner)
        if player.state == "no_stick":
            return InsertStickView(detail=player.message, banner=banner)
        if player.state == "scanning":
            done, total = player.scan_progress
            return ScanningView(player.stick_label, done, total, banner=banner)
        if player.state == "error":
            return MessageView("Nothing to play", (player.message,), "error", banner=banner)
        if player.state == "shutdown":
            return MessageView("Shutting down", ("Switch off when the", "green LED stays off."),
                               "info")
        songs = player.songs
        song = songs[player.index]
        key = (player.index, song.title)
        if key != self._title_key:
            self._title_key, self._title_since_s = key, now
            self._title_scrolls = not screens.title_fits(song.title)
        following = player.index + 1
        elapsed = self.position_s()
        return PlayerView(
            state=player.state,
            index=player.index,
            count=len(songs),
            title=song.title,
            elapsed_s=float(int(elapsed)),
            duration_s=self._duration_s(),
            next_title=songs[following].title if following < len(songs) else None,
            title_age_s=round(now - self._title_since_s, 1) if self._title_scrolls else 0.0,
            count_in=self._count_in(),
            measuring=player.measuring,
            practice=player.practice_texts,
            practice_selected=(FIELDS[player.practice_field] if player.mode == "practice"
                               else None),
            banner=banner,
        )

    def _count_in(self) -> CountIn | None:
        load_id = self.player.current_load_id
        counting = self.engine.count_in(load_id) if load_id in self._in_engine else None
        if counting is None:
            return None
        beat, beats_per_bar, beats = counting
        return CountIn((beat - 1) % beats_per_bar + 1, beats_per_bar, beats - beat)


def _with_banner(view: Any, banner: Banner | None) -> View:
    return replace(view, banner=banner)
