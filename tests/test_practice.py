"""The practice rules: what PREV and NEXT do to each field, and the book kept on disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stagebox.media.model import Section, Song
from stagebox.practice import (
    Adjustments,
    Change,
    PracticeBook,
    Tap,
    field_texts,
    press,
)
from stagebox.ui.menu import Menu, MenuContext, ResetPracticeChoice, SetModeChoice

SONG = Song(Path("/stick/a.flac"), "a.flac", "A")


def test_key_and_speed_step_within_their_ranges_and_follow_on_from_the_place():
    outcome = press(Adjustments(), SONG, "key", True, 12.5)
    assert outcome.adjustments.key_semitones == 1
    assert outcome.change == Change(12.5, follow=True)
    at_limit = press(Adjustments(key_semitones=12), SONG, "key", True, 1.0)
    assert at_limit.change is None and at_limit.hint == "Key +12 is the limit"
    slower = press(Adjustments(), SONG, "speed", False, 3.0)
    assert slower.adjustments.speed == 0.95 and slower.change == Change(3.0, follow=True)
    assert press(Adjustments(speed=0.5), SONG, "speed", False, 3.0).change is None


def test_next_sets_a_then_b_which_jumps_back_to_a_then_lets_go_and_takes_up_again():
    first = press(Adjustments(), SONG, "loop", True, 10.0)
    assert first.adjustments.loop_a_s == 10.0 and first.change is None
    too_soon = press(first.adjustments, SONG, "loop", True, 10.2)
    assert too_soon.change is None and too_soon.hint == "Set B later than A"
    looping = press(first.adjustments, SONG, "loop", True, 20.0)
    assert looping.adjustments.applied_to(SONG).loop == Section(10.0, 20.0)
    assert looping.change == Change(10.0, follow=False)
    let_go = press(looping.adjustments, SONG, "loop", True, 15.0)
    assert let_go.adjustments.applied_to(SONG).loop is None
    assert let_go.change == Change(15.0, follow=True)
    # Taken up again past B: back to A; inside the section: on from there.
    assert press(let_go.adjustments, SONG, "loop", True, 25.0).change == Change(10.0, False)
    assert press(let_go.adjustments, SONG, "loop", True, 12.0).change == Change(12.0, True)
    cleared = press(looping.adjustments, SONG, "loop", False, 15.0)
    assert cleared.adjustments.applied_to(SONG).loop is None
    assert cleared.change == Change(15.0, follow=True)


def test_a_setlist_loop_can_be_let_go_from_the_buttons():
    song = Song(Path("/stick/a.flac"), "a.flac", "A", loop=Section(5.0, 9.0))
    let_go = press(Adjustments(), song, "loop", True, 6.0)
    assert let_go.adjustments.applied_to(song).loop is None
    assert press(let_go.adjustments, song, "loop", True, 6.5).adjustments.applied_to(
        song).loop == Section(5.0, 9.0)


def test_next_turns_the_click_on_and_prev_off_when_the_song_has_a_tempo():
    song = Song(Path("/stick/a.flac"), "a.flac", "A", bpm=100.0)
    on = press(Adjustments(), song, "click", True, 2.0)
    assert on.adjustments.applied_to(song).click and on.change == Change(2.0, follow=True)
    off = press(on.adjustments, song, "click", False, 3.0)
    assert not off.adjustments.applied_to(song).click and off.change == Change(3.0, True)
    assert press(off.adjustments, song, "click", False, 3.5).change is None


def tap_along(song: Song, clock_s: list[float], latency_s: float = 0.0,
              song_s: list[float] | None = None):
    """NEXT on the click field at each of ``clock_s``, the song at the same times (or at
    ``song_s``), heard ``latency_s`` behind."""
    adjustments, taps, outcomes = Adjustments(), None, []
    for at_s, place_s in zip(clock_s, song_s or clock_s, strict=True):
        outcome = press(adjustments, song, "click", True, place_s, taps,
                        Tap(at_s, place_s - latency_s))
        adjustments, taps = outcome.adjustments, outcome.taps
        outcomes.append(outcome)
    return outcomes


def test_four_taps_on_the_beat_set_the_tempo_and_its_bar_and_turn_the_click_on():
    taps = [10.3 + 0.5 * beat for beat in range(4)]
    outcomes = tap_along(SONG, taps, latency_s=0.085)
    assert [o.hint for o in outcomes] == ["Tap the beat: 3 more", "Tap the beat: 2 more",
                                          "Tap the beat: 1 more", "Tempo 120 bpm"]
    assert [o.change for o in outcomes] == [None, None, None, Change(taps[-1], follow=True)]
    playing = outcomes[-1].adjustments.applied_to(SONG)
    assert (playing.bpm, playing.click) == (120.0, True)
    # The first tap, heard at 10.215 s, is a bar's first beat: 10.215 less five 2 s bars.
    assert playing.first_beat_s == pytest.approx(0.215, abs=1e-6)


def test_taps_are_spaced_by_the_clock_and_placed_by_the_song_at_its_speed():
    # At 80 %, a beat of a 120 bpm song is 0.625 s of the clock; the song's places come
    # from the engine in blocks of 20 ms, which the fit averages out.
    song = Song(Path("/stick/a.flac"), "a.flac", "A", speed=0.8)
    clock = [3.0 + 0.625 * beat for beat in range(8)]
    places = [1.1 + 0.5 * beat + (0.02 if beat % 2 else -0.02) for beat in range(8)]
    last = tap_along(song, clock, song_s=places)[-1]
    assert last.adjustments.applied_to(song).bpm == 120.0
    assert last.adjustments.first_beat_s == pytest.approx(1.1, abs=0.005)


def test_a_tapped_tempo_follows_uneven_taps_to_the_nearest_half_bpm_and_overrides_bpm():
    song = Song(Path("/stick/a.flac"), "a.flac", "A", bpm=100.0, click=True)
    rng = np.random.default_rng(3)
    beat_s = 60.0 / 92.5
    taps = [5.0 + beat_s * beat + rng.uniform(-0.012, 0.012) for beat in range(8)]
    last = tap_along(song, taps)[-1]
    assert last.adjustments.applied_to(song).bpm == 92.5
    assert last.hint == "Tempo 92.5 bpm"


def test_a_pause_in_the_taps_a_stray_tap_or_a_jump_back_starts_the_count_again():
    hints = [o.hint for o in tap_along(SONG, [1.0, 1.5, 2.0, 5.0, 5.5, 6.0, 6.5, 6.8])]
    assert hints == ["Tap the beat: 3 more", "Tap the beat: 2 more", "Tap the beat: 1 more",
                     "Tap the beat: 3 more", "Tap the beat: 2 more", "Tap the beat: 1 more",
                     "Tempo 120 bpm", None]  # a stray tap: the tempo set stays
    looped = tap_along(SONG, [3.0, 3.5, 4.0, 4.5], song_s=[3.0, 3.5, 4.0, 1.0])
    assert looped[-1].hint == "Tap the beat: 3 more", "the loop went round: a new count"
    untimed = press(Adjustments(), SONG, "click", True, 2.0, looped[-1].taps)
    assert untimed.hint == "Tap the beat: 3 more"


def test_another_field_or_prev_ends_the_tapping():
    first = tap_along(SONG, [1.0, 1.5, 2.0])[-1]
    assert press(first.adjustments, SONG, "key", True, 2.2, first.taps).taps is None
    assert press(first.adjustments, SONG, "click", False, 2.2, first.taps).taps is None


def test_the_screen_shows_only_what_is_not_neutral_in_show_mode_and_every_field_in_practice():
    song = Song(Path("/stick/a.flac"), "a.flac", "A", key_semitones=2, speed=0.8,
                loop=Section(1.0, 2.0))
    assert field_texts(song, Adjustments(key_semitones=5), practising=False) == {
        "key": "+2", "speed": "80%", "loop": "A-B"}
    assert field_texts(SONG, Adjustments(loop_a_s=3.0), practising=True) == {
        "key": "±0", "speed": "100%", "loop": "A-", "click": "no clk"}


def test_the_book_reads_back_what_it_wrote_and_drops_anything_wrong():
    book = PracticeBook()
    book.put("a.flac", Adjustments(key_semitones=-3, speed=0.8, loop_a_s=1.0, loop_b_s=4.0,
                                   looping=True))
    book.put("b.flac", Adjustments())
    again = PracticeBook.from_json(book.to_json())
    assert again.entries == book.entries and "b.flac" not in again.entries
    broken = {"a.flac": {"key_semitones": 40}, "b.flac": {"speed": "fast"},
              "c.flac": {"loop_b_s": 3.0}, "d.flac": {"looping": 1}, "e.flac": [],
              "f.flac": {"speed": 0.9, "extra": 1}, "g.flac": {"key_semitones": 2}}
    assert PracticeBook.from_json(json.dumps(broken)).entries == {
        "g.flac": Adjustments(key_semitones=2)}
    tapped = Adjustments(bpm=92.5, first_beat_s=0.4, click=True)
    book.put("t.flac", tapped)
    assert PracticeBook.from_json(book.to_json()).entries["t.flac"] == tapped
    assert PracticeBook.from_json(json.dumps({
        "a": {"bpm": 400.0}, "b": {"first_beat_s": 1.0}, "c": {"bpm": 90, "first_beat_s": -1},
        "d": {"bpm": 90.0, "first_beat_s": 2.0}})).entries == {
        "d": Adjustments(bpm=90.0, first_beat_s=2.0)}
    assert PracticeBook.from_json("[" * 5000).entries == {}
    assert PracticeBook.from_json('{"a": {"speed": NaN}}').entries == {}


@given(st.text(max_size=200))
def test_any_text_on_disk_gives_a_book_whose_entries_are_valid(text: str):
    for adjustments in PracticeBook.from_json(text).entries.values():
        assert PracticeBook.from_json(PracticeBook({"x": adjustments}).to_json()).entries


def test_the_menu_switches_mode_and_offers_a_reset_in_practice_mode_only():
    menu = Menu(MenuContext(0.0, "stop", ("Main",), 0, ()))
    assert "Reset song's practice" not in menu.view().items
    for _ in range(3):
        menu.press("next")
    assert menu.view().items[menu.view().selected] == "Mode: show"
    menu.press("play")
    assert menu.press("next") == SetModeChoice("practice")
    menu.press("play")
    menu.press("next")
    assert menu.view().items[menu.view().selected] == "Reset song's practice"
    assert menu.press("play") == ResetPracticeChoice()
