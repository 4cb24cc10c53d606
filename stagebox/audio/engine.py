"""The engine: a pull function that mixes the songs into fixed blocks.

:meth:`Engine.render` is called by the output thread in real life and by the simulator in
step with its virtual clock. Everything it needs arrives ahead of time: the decoded frames
from each song's :class:`~stagebox.audio.track.TrackStream`, and commands from the main
loop through a deque (``append`` and ``popleft`` are atomic in CPython, so neither side
ever waits on a lock held by the other). News goes back the same way; the main loop
collects it with :meth:`Engine.take_notices`.

Click-free by construction: every start, resume and gain change ramps, every pause, stop
and skip fades, and a song that goes straight on into the next one joins in the same
block, sample by sample.

Buses: an engine made with ``buses=2`` renders the main bus (columns 0-1) and a cue bus
(columns 2-3) for the band's ears only. A song's stream is two columns wide (the main
bus) or four (a split track's click side, a multichannel file's channels 3-4); the count-in
and click go to the cue bus while the device has a pair for it (:attr:`Engine.cue_live`),
else to the main bus if the song's :class:`~stagebox.audio.click.BeatGrid` allows. A song's
gain and the master volume are the audience's levels: they apply to the main bus only.
Fades apply to both, so a pause or stop silences the click with the song.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from stagebox import events as ev
from stagebox.audio.click import BeatGrid, ClickTrack
from stagebox.audio.looper import song_frame

START_RAMP_S = 0.005
"""Ramp-in at a start or resume: long enough to hide a step, short enough to keep a hit."""
VOLUME_RAMP_S = 0.05
SWAP_CROSSFADE_S = 0.03
"""From a song to itself decoded anew (a key or speed change): long enough to hide the
seam, short enough that the change is heard at once."""
PRIME_FRAMES = 2048
"""Frames of the new stream in hand before a swap: its decoder is under way, so the
crossfade does not run into a gap."""


class FrameSource(Protocol):
    """What the engine reads a song from (a TrackStream, or a test double)."""

    def read(self, out: np.ndarray) -> int:
        """Copy up to ``len(out)`` float32 frames of :attr:`channels` into ``out``; return
        how many."""
        ...

    @property
    def channels(self) -> int:
        """The stream's width: 2 (the main bus), or 4 (main and cue) in an engine with a
        cue bus."""
        ...

    @property
    def finished(self) -> bool:
        """True when the song has no more frames, ever."""
        ...

    @property
    def error(self) -> str | None:
        """Why the song ended early, if it did."""
        ...


@dataclass
class _Voice:
    """One song in the engine."""

    load_id: int
    source: FrameSource
    gain: float
    start_frames: int = 0
    clicks: ClickTrack | None = None
    section: tuple[int, int] | None = None
    """The song frames its decoder loops, if it does."""
    speed: float = 1.0
    """Song frames per frame played (its decoder stretches it so)."""
    frames_played: int = 0
    """The song's frames played so far."""
    passes: int = 0
    """Times it went back to its section's start (LoopWentRound says each)."""
    clock_frames: int = 0
    """Output frames since the play: the count-in's and the song's (the clicks' time)."""
    playing: bool = False
    started: bool = False
    """The song's first frame is out (TrackStarted was sent)."""
    sounded: bool = False
    """Anything of it is out: a count-in's first click, or the song."""
    fade_step: float = 0.0
    """Per-frame change of ``fade``: negative while fading out, positive while ramping in."""
    fade: float = 0.0
    retire_when_silent: bool = False


# The main loop's commands to the output thread, one frozen object each.


@dataclass(frozen=True)
class _Cue:
    voice: _Voice


@dataclass(frozen=True)
class _QueueNext:
    voice: _Voice


@dataclass(frozen=True)
class _Swap:
    voice: _Voice
    replaces: int
    follow: bool


@dataclass(frozen=True)
class _Play:
    """Start or resume the current song."""


@dataclass(frozen=True)
class _Pause:
    """Fade the current song out and hold its place."""


@dataclass(frozen=True)
class _Stop:
    """Fade the current song out and drop it and the queued one."""


@dataclass(frozen=True)
class _Discard:
    load_id: int


@dataclass(frozen=True)
class _SetVolume:
    gain: float


@dataclass(frozen=True)
class _SetGain:
    load_id: int
    gain: float


@dataclass(frozen=True)
class _SetPractising:
    on: bool


_Command = (_Cue | _QueueNext | _Swap | _Play | _Pause | _Stop | _Discard | _SetVolume
            | _SetGain | _SetPractising)
_PLAY, _PAUSE, _STOP = _Play(), _Pause(), _Stop()


class Engine:
    """Mixes the current song (and one fading out) into blocks of float32: the main bus,
    stereo, and with ``buses=2`` the cue bus beside it.

    ``max_frames`` bounds the block size; buffers of that size are allocated once.
    """

    def __init__(self, rate: int, max_frames: int = 16384, fade_s: float = 0.5,
                 volume_db: float = 0.0, buses: int = 1) -> None:
        if buses not in (1, 2):
            raise ValueError(f"an engine has 1 or 2 buses, not {buses}")
        self.rate = rate
        self.fade_s = fade_s
        self.max_frames = max_frames
        self.channels = 2 * buses
        """The width of a rendered block: 2 (main bus) or 4 (main and cue buses)."""
        self.cue_live = False
        """The device has a pair for the cue bus (set by the output thread when it opens
        one): the clicks go there."""
        self._out = np.zeros((max_frames, self.channels), np.float32)
        self._scratch = np.zeros((max_frames, self.channels), np.float32)
        self._narrow = np.zeros((max_frames, 2), np.float32)
        """A stereo stream's frames on their way to the main bus of a wider block."""
        self._ramp = np.zeros(max_frames, np.float32)
        self._steps = np.arange(1, max_frames + 1, dtype=np.float32)
        self._commands: collections.deque[_Command] = collections.deque()
        self._notices: collections.deque[object] = collections.deque()
        self._current: _Voice | None = None
        self._next: _Voice | None = None
        self._outgoing: list[_Voice] = []
        self._incoming: _Swap | None = None
        """A swap waiting for its new stream to reach the current song's place."""
        self._volume = _db_to_gain(volume_db)
        self._volume_target = self._volume
        self._volume_step = 0.0
        self.late_frames = 0
        """Frames rendered as silence because a decoder had fallen behind."""
        self.silent_run_frames = 0
        """Frames of pure silence (no song sounding) rendered in a row, up to now."""
        self.practising = False
        """The box is in practice mode (as of the last block): the output favours quick
        changes over headroom (:class:`~stagebox.audio.output.OutputPump`)."""

    # --- main loop side ------------------------------------------------------------------

    def cue(self, load_id: int, source: FrameSource, gain_db: float,
            start_frames: int = 0, beats: BeatGrid | None = None,
            section: tuple[int, int] | None = None, speed: float = 1.0) -> None:
        """Make ``source`` the current song, silent until :meth:`play`.

        With ``beats``, its count-in (if it is played from its start) and click (if asked
        for) sound with it. A song queued with :meth:`queue_next` that did not join (the
        current one ran out while paused) is cued by its ``load_id``: it moves from the
        queue. ``section``: the song frames its stream loops (positions go round it);
        ``speed``: how many song frames each frame of the stream is (positions, and the
        click, stay in song time).
        """
        clicks = (ClickTrack(beats, self.rate, start_frames, speed, section)
                  if beats is not None else None)
        self._commands.append(_Cue(_Voice(load_id, source, _db_to_gain(gain_db),
                                          start_frames, clicks, section, speed)))

    def queue_next(self, load_id: int, source: FrameSource, gain_db: float,
                   section: tuple[int, int] | None = None, speed: float = 1.0) -> None:
        """Go straight on into ``source`` when the current song ends while it plays
        (``section`` and ``speed`` as for :meth:`cue`; a song joined so has no count-in).

        A song that ends while a pause is fading it, or paused, does not go on: the queued
        one stays silent, and :class:`~stagebox.events.TrackEnded` says ``joined=False``.
        """
        self._commands.append(_QueueNext(_Voice(load_id, source, _db_to_gain(gain_db),
                                                section=section, speed=speed)))

    def swap(self, load_id: int, source: FrameSource, gain_db: float, *, replaces: int,
             follow: bool, start_frames: int = 0, beats: BeatGrid | None = None,
             section: tuple[int, int] | None = None, speed: float = 1.0) -> None:
        """Put ``source``, the current song ``replaces`` decoded anew (another key, speed or
        loop; ``start_frames``, ``beats``, ``section`` and ``speed`` as for :meth:`cue`), in
        its place, crossfading over :data:`SWAP_CROSSFADE_S` while it plays.

        ``follow``: the new stream starts where the song was when it was asked for, and
        the song has played on since; it is read ahead (its frames dropped) until it
        reaches the song's place, and the crossfade comes there, so the music goes on
        without a jump. Otherwise (a jump back to a loop's start) the crossfade is at once.
        A paused or cued song is replaced silently. When the swap is done the engine says
        :class:`~stagebox.events.TrackReplaced`; if ``replaces`` is no longer the current
        song (it ended, or was stopped) the new one is retired unheard. ``source`` knows its
        width already (a stream is handed over once its header has come).
        """
        clicks = (ClickTrack(beats, self.rate, start_frames, speed, section)
                  if beats is not None else None)
        voice = _Voice(load_id, _Primed(source, min(self.max_frames, PRIME_FRAMES)),
                       _db_to_gain(gain_db), start_frames, clicks, section, speed)
        self._commands.append(_Swap(voice, replaces, follow))

    def play(self) -> None:
        """Start or resume the current song with a short ramp."""
        self._commands.append(_PLAY)

    def pause(self) -> None:
        """Fade the current song out over ``fade_s`` and hold its place."""
        self._commands.append(_PAUSE)

    def stop(self) -> None:
        """Fade the current song out and drop it, and the queued next one."""
        self._commands.append(_STOP)

    def discard(self, load_id: int) -> None:
        """Drop the song of ``load_id`` (fading it out if it is sounding)."""
        self._commands.append(_Discard(load_id))

    def set_volume(self, volume_db: float) -> None:
        """Ramp the master volume to ``volume_db``."""
        self._commands.append(_SetVolume(_db_to_gain(volume_db)))

    def set_gain(self, load_id: int, gain_db: float) -> None:
        """The song of ``load_id`` plays at ``gain_db``, if nothing of it has sounded yet
        (a song once heard keeps its level: a step mid-song would be a fader ride)."""
        self._commands.append(_SetGain(load_id, _db_to_gain(gain_db)))

    def set_practising(self, on: bool) -> None:
        """Say whether the box is in practice mode, where a key or speed change should be
        heard soon (the output thread reads :attr:`practising`)."""
        self._commands.append(_SetPractising(on))

    def take_notices(self) -> list[object]:
        """Events and retired load ids since the last call (main loop)."""
        notices = []
        while self._notices:
            notices.append(self._notices.popleft())
        return notices

    @property
    def current_load_id(self) -> int | None:
        """The load the engine plays as its current song (any thread: for diagnostics and
        benchmarks, a value that may be a block old)."""
        current = self._current
        return current.load_id if current is not None else None

    def count_in(self, load_id: int | None) -> tuple[int, int, int] | None:
        """While the song of ``load_id`` counts in: the beat sounding (1 for the first),
        the beats to a bar, and how many beats the count-in has; else None (main loop)."""
        voice = self._current
        if voice is None or voice.load_id != load_id or voice.clicks is None:
            return None
        clicks, clock_frames = voice.clicks, voice.clock_frames
        if not voice.sounded or clock_frames >= clicks.count_in_frames:
            return None
        return (clicks.count_in_beat(clock_frames), clicks.grid.beats_per_bar,
                clicks.count_in_beats)

    def position_s(self, load_id: int | None) -> float:
        """Seconds into the song of ``load_id``, if the engine holds it, else 0."""
        for voice in (self._current, self._next):
            if voice is not None and voice.load_id == load_id:
                return _song_frames(voice) / self.rate
        return 0.0

    # --- output thread side --------------------------------------------------------------

    def render(self, frames: int) -> np.ndarray:
        """Return the next ``frames`` frames, shape ``(frames, channels)`` (output thread).

        The returned array is the engine's own buffer, valid until the next call.
        """
        if frames > self.max_frames:
            raise ValueError(f"block of {frames} frames is over the maximum {self.max_frames}")
        if self._commands:
            self._apply_commands()
        out = self._out[:frames]
        current = self._current
        playing = current is not None and current.playing
        # Until a voice has written into ``out`` it holds the last block: the first voice
        # to sound copies its frames straight in, and only the voices after it add.
        if self._incoming is not None:
            self._advance_incoming()
        blank = True
        if self._outgoing:
            for voice in tuple(self._outgoing):
                self._mix(voice, out, blank)
                blank = False
        sounding = not blank or playing
        if playing:
            self._render_current(out, blank)
        elif blank:
            out.fill(0.0)
        if self._volume != 1.0 or self._volume != self._volume_target:
            self._apply_volume(out)
        self.silent_run_frames = 0 if sounding else self.silent_run_frames + frames
        return out

    def halt(self) -> None:
        """Stop sounding at once, keeping the song's place (output thread only).

        For a device that has gone: there is nothing left to fade on, and a fade played
        when it comes back would be a surprise.
        """
        self._apply_commands()
        for voice in tuple(self._outgoing):
            self._retire(voice)
        if self._current is not None:
            self._current.playing = False
            self._current.fade = 0.0
            self._current.fade_step = 0.0

    def _render_current(self, out: np.ndarray, blank: bool) -> None:
        done = 0
        while done < len(out) and self._current is not None and self._current.playing:
            voice = self._current
            done += self._mix(voice, out[done:], blank)
            blank = False
            if not voice.source.finished or voice.retire_when_silent:
                break
            # A song that ran out while a pause was fading it (or had faded it) holds: the
            # next song stays queued, silent, until PLAY.
            pausing = voice.fade_step < 0.0 or not voice.playing
            following = None if pausing else self._next
            self._notices.append(ev.TrackEnded(voice.load_id, following is not None,
                                               voice.source.error))
            self._retire(voice)
            self._current = None
            if following is not None:
                self._current, self._next = following, None
                following.playing = True
                following.fade = 1.0
        if blank:
            out.fill(0.0)

    def _mix(self, voice: _Voice, out: np.ndarray, blank: bool) -> int:
        """Put the voice's next frames into ``out``; return how many frames it covered.

        ``blank``: nothing has been written into ``out`` yet, so the frames are copied
        straight in and the rest of ``out`` is zeroed; otherwise they are added.
        """
        frames = len(out)
        target = out if blank else self._scratch[:frames]
        clicks = voice.clicks
        lead = 0
        if clicks is not None and voice.clock_frames < clicks.count_in_frames:
            # The count-in: clicks alone, the song not read until it is over.
            lead = min(frames, clicks.count_in_frames - voice.clock_frames)
            target[:lead].fill(0.0)
        source = voice.source
        got = self._read(source, target[lead:]) if lead < frames else 0
        if lead + got < frames and not source.finished:
            self.late_frames += frames - lead - got
        if got and not voice.started and voice.playing:
            voice.started = True
            self._notices.append(ev.TrackStarted(voice.load_id))
        voice.frames_played += got
        if voice.section is not None and got:
            passes = _passes(voice)
            if passes > voice.passes:
                voice.passes = passes
                self._notices.append(ev.LoopWentRound(voice.load_id, passes))
        covered = lead + got
        if covered:
            voice.sounded = voice.sounded or voice.playing
            played = target[:covered]
            if voice.gain != 1.0:
                _scale_main(played[lead:], voice.gain)
            click_bus = self._click_bus(played, clicks)
            # A pause or stop fades the click with the song, but a start's ramp (there to
            # hide a step in the song) would blunt the first click's attack.
            ramping_in = voice.fade_step > 0.0
            if clicks is not None and click_bus is not None and not ramping_in:
                clicks.add_to(click_bus, voice.clock_frames)
            self._apply_fade(voice, played)
            if clicks is not None and click_bus is not None and ramping_in:
                clicks.add_to(click_bus, voice.clock_frames)
            if not blank:
                out[:covered] += played
        # A decoder that is late holds the clicks back with the song: they stay on its beat.
        voice.clock_frames += covered
        if blank and covered < frames:
            out[covered:].fill(0.0)
        if voice.retire_when_silent and (voice.fade <= 0.0 or voice.source.finished):
            self._retire(voice)
        return covered if voice.source.finished else frames

    def _click_bus(self, played: np.ndarray, clicks: ClickTrack | None) -> np.ndarray | None:
        """The columns of ``played`` that the clicks go to, or None for nowhere."""
        if clicks is None:
            return None
        if self.cue_live:
            return played[:, 2:4]
        return played[:, :2] if clicks.grid.main_fallback else None

    def _apply_fade(self, voice: _Voice, block: np.ndarray) -> None:
        if voice.fade_step == 0.0 and voice.fade >= 1.0:
            return
        frames = len(block)
        ramp = self._ramp[:frames]
        np.multiply(self._steps[:frames], voice.fade_step, out=ramp)
        ramp += voice.fade
        np.clip(ramp, 0.0, 1.0, out=ramp)
        block *= ramp[:, None]
        voice.fade = float(ramp[-1])
        if voice.fade >= 1.0 or voice.fade <= 0.0:
            voice.fade_step = 0.0
            if voice.fade <= 0.0 and not voice.retire_when_silent:
                voice.playing = False

    def _read(self, source: FrameSource, target: np.ndarray) -> int:
        """Read ``source`` into ``target``, a block of the engine's width: a stereo stream
        in an engine with a cue bus goes to the main bus, the cue bus left silent."""
        if source.channels == self.channels:
            return source.read(target)
        narrow = self._narrow[:len(target)]
        got = source.read(narrow)
        if got:
            pairs = _pairs(target[:got])
            pairs[:, 0] = _pairs(narrow[:got])[:, 0]
            pairs[:, 1] = 0.0
        return got

    def _apply_volume(self, out: np.ndarray) -> None:
        if self._volume == self._volume_target:
            if self._volume != 1.0:
                _scale_main(out, self._volume)
            return
        frames = len(out)
        ramp = self._ramp[:frames]
        np.multiply(self._steps[:frames], self._volume_step, out=ramp)
        ramp += self._volume
        low, high = sorted((self._volume, self._volume_target))
        np.clip(ramp, low, high, out=ramp)
        _scale_main(out, ramp)
        self._volume = float(ramp[-1])

    def _apply_commands(self) -> None:
        while self._commands:
            match command := self._commands.popleft():
                case _Cue(voice):
                    self._do_cue(voice)
                case _QueueNext(voice):
                    self._do_queue_next(voice)
                case _Swap():
                    self._do_swap(command)
                case _Play():
                    self._do_play()
                case _Pause():
                    self._do_pause()
                case _Stop():
                    self._do_stop()
                case _Discard(load_id):
                    self._do_discard(load_id)
                case _SetVolume(gain):
                    self._do_set_volume(gain)
                case _SetGain(load_id, gain):
                    self._do_set_gain(load_id, gain)
                case _SetPractising(on):
                    self.practising = on

    def _do_cue(self, voice: _Voice) -> None:
        self._drop_incoming()
        self._fade_out(self._current)
        if self._next is not None and self._next.load_id == voice.load_id:
            # The queued song becomes the cued one (it never joined): the same stream,
            # still at its start, so it is moved, not retired.
            self._next = None
        self._current = voice

    def _do_queue_next(self, voice: _Voice) -> None:
        if self._next is not None:
            self._retire(self._next)
        self._next = voice

    def _do_swap(self, swap: _Swap) -> None:
        current = self._current
        self._drop_incoming()
        if current is None or current.load_id != swap.replaces:
            self._retire(swap.voice)
            return
        swap.voice.started, swap.voice.sounded = current.started, current.sounded
        if current.frames_played == 0:
            swap.voice.clock_frames = current.clock_frames  # mid count-in: it counts on
        self._incoming = swap
        self._advance_incoming()

    def _advance_incoming(self) -> None:
        """Read the incoming stream up to the current song's place; once there, swap."""
        swap = self._incoming
        assert swap is not None
        old, new = self._current, swap.voice
        if old is None or old.load_id != swap.replaces:
            self._drop_incoming()
            return
        if old.playing and old.fade_step < 0.0:
            return  # a pause is fading it: the new one takes over once it is silent
        if swap.follow and not self._catch_up(new, _song_frames(old)):
            if new.source.finished:
                self._drop_incoming()  # the song ends before the place: the old plays out
            return
        if not swap.follow and not self._catch_up(new, 0):
            return
        self._incoming = None
        self._current = new
        if old.playing:
            steps = max(1.0, SWAP_CROSSFADE_S * self.rate)
            old.retire_when_silent = True
            old.fade_step = -1.0 / steps
            self._outgoing.append(old)
            new.playing, new.fade, new.fade_step = True, 0.0, 1.0 / steps
        else:
            self._retire(old)
        self._notices.append(ev.TrackReplaced(old.load_id, new.load_id))

    def _catch_up(self, voice: _Voice, song_frames: int) -> bool:
        """Drop ``voice``'s frames until it is at ``song_frames`` with frames in hand
        beyond; False while its decoder has not got that far. A place behind the stream's
        start (the song went round its loop meanwhile) counts as reached: the jump is
        shorter than the change took."""
        behind = round((song_frames - _song_frames(voice)) / voice.speed)
        # Read and dropped: into whichever buffer is the stream's own width.
        scratch = self._scratch if voice.source.channels == self.channels else self._narrow
        while behind > 0:
            got = voice.source.read(scratch[:min(behind, len(scratch))])
            if got == 0:
                return False
            voice.frames_played += got
            voice.clock_frames += got
            behind -= got
        assert isinstance(voice.source, _Primed)
        return voice.source.prime()

    def _drop_incoming(self) -> None:
        if self._incoming is not None:
            self._retire(self._incoming.voice)
            self._incoming = None

    def _do_play(self) -> None:
        voice = self._current
        if voice is None or voice.retire_when_silent:
            return
        if not voice.playing:
            voice.playing = True
            voice.fade = 0.0
        voice.fade_step = 1.0 / (START_RAMP_S * self.rate)

    def _do_pause(self) -> None:
        voice = self._current
        if voice is None or not voice.playing:
            return
        if not voice.sounded or voice.fade <= 0.0:
            # Joined, or just played, but not a frame out yet (or not a frame above
            # silence): nothing to fade, and the song must not start only to fade away.
            # It holds at its place, silent.
            voice.playing = False
            voice.fade = voice.fade_step = 0.0
            return
        voice.fade_step = -1.0 / max(1.0, self.fade_s * self.rate)

    def _do_stop(self) -> None:
        self._drop_incoming()
        self._fade_out(self._current)
        self._current = None
        if self._next is not None:
            self._retire(self._next)
            self._next = None

    def _do_discard(self, load_id: int) -> None:
        if self._incoming is not None and self._incoming.voice.load_id == load_id:
            self._drop_incoming()
        elif self._current is not None and self._current.load_id == load_id:
            self._fade_out(self._current)
            self._current = None
        elif self._next is not None and self._next.load_id == load_id:
            self._retire(self._next)
            self._next = None

    def _do_set_volume(self, gain: float) -> None:
        self._volume_target = gain
        self._volume_step = (gain - self._volume) / (VOLUME_RAMP_S * self.rate)

    def _do_set_gain(self, load_id: int, gain: float) -> None:
        for voice in (self._current, self._next):
            if voice is not None and voice.load_id == load_id and not voice.sounded:
                voice.gain = gain

    def _fade_out(self, voice: _Voice | None) -> None:
        """Move ``voice`` to the outgoing list, fading if it sounds, else retire it (one
        that has not had a frame out yet, a song just joined, does not sound)."""
        if voice is None:
            return
        if voice.playing and voice.fade > 0.0 and voice.sounded:
            voice.retire_when_silent = True
            voice.fade_step = -1.0 / max(1.0, self.fade_s * self.rate)
            self._outgoing.append(voice)
        else:
            self._retire(voice)

    def _retire(self, voice: _Voice) -> None:
        if voice in self._outgoing:
            self._outgoing.remove(voice)
        voice.playing = False
        self._notices.append(Retired(voice.load_id))


class _Primed:
    """A song's stream with its first frames read ahead into a buffer of its own (made on
    the main loop, once the stream's header has said how wide it is), so the engine can
    tell that its decoder is under way."""

    def __init__(self, source: FrameSource, frames: int) -> None:
        self._source = source
        self._buffer = np.zeros((frames, source.channels), np.float32)
        self._first = self._last = 0

    def prime(self) -> bool:
        """Read ahead into the buffer; True once it holds frames (or the song is over)."""
        if self._last == 0:
            self._last = self._source.read(self._buffer)
        return self._last > 0 or self._source.finished

    def read(self, out: np.ndarray) -> int:
        """The frames read ahead first, then the stream's (output thread)."""
        got = 0
        if self._first < self._last:
            got = min(len(out), self._last - self._first)
            out[:got] = self._buffer[self._first:self._first + got]
            self._first += got
        if got < len(out):
            got += self._source.read(out[got:])
        return got

    @property
    def channels(self) -> int:
        return self._source.channels

    @property
    def finished(self) -> bool:
        return self._first >= self._last and self._source.finished

    @property
    def error(self) -> str | None:
        return self._source.error


@dataclass(frozen=True)
class Retired:
    """The engine let go of a song; the main loop may close its stream."""

    load_id: int


def _song_frames(voice: _Voice) -> int:
    """The song frame ``voice`` has reached (round its loop, if it loops)."""
    frames = _straight_frames(voice)
    if voice.section is not None:
        frames = song_frame(frames, *voice.section)
    return frames


def _straight_frames(voice: _Voice) -> int:
    """The song frame ``voice`` would have reached had it never gone round its loop."""
    return voice.start_frames + round(voice.frames_played * voice.speed)


def _passes(voice: _Voice) -> int:
    """How many times ``voice`` has gone back to its section's start."""
    assert voice.section is not None
    start, end = voice.section
    frames = _straight_frames(voice)
    return 0 if frames < end else 1 + (frames - end) // (end - start)


def _pairs(block: np.ndarray) -> np.ndarray:
    """``block`` (frames of 2 or 4 float32 columns) as complex64 ``(frames, buses)``: each
    bus's left and right one number, so that one bus of a wider block is scaled or copied
    in one strided pass of 8-byte items (numpy's loops over a strided pair of float32
    columns are ten times slower)."""
    return block.view(np.complex64)


def _scale_main(block: np.ndarray, gain: float | np.ndarray) -> None:
    """Scale the main bus of ``block`` by ``gain``: a number, or one per frame."""
    if block.shape[1] == 2:
        block *= gain if isinstance(gain, float) else gain[:, None]
    else:
        main = _pairs(block)[:, 0]
        main *= gain


def _db_to_gain(db: float) -> float:
    return math.pow(10.0, db / 20.0)
