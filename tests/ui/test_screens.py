"""The OLED screens: reference images, and what a performer would notice on them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from luma.core.device import dummy
from luma.core.render import canvas
from PIL import Image, ImageChops, ImageDraw, ImageFont

from stagebox.ui import screens
from stagebox.ui.contact_sheet import MARGIN_PX, make_contact_sheet, oled_look
from stagebox.ui.fonts import FontBook
from stagebox.ui.golden import LONG_TITLE, golden_views
from stagebox.ui.screens import (
    ellipsize,
    fit_lines,
    format_time,
    render,
    render_image,
    text_lines,
    title_scroll_offset_px,
    wrap,
)
from stagebox.ui.view import (
    Banner,
    InsertStickView,
    MenuView,
    MessageView,
    PlayerView,
    ScanningView,
    View,
)

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = "python -m stagebox.ui.golden --regenerate tests/ui/golden"
BAR_ROWS = slice(45, 51)
"""Rows of the player's progress bar."""


def playing(**changes: object) -> PlayerView:
    view = PlayerView(state="playing", index=2, count=12, title="Wonderwall", elapsed_s=83.0,
                      duration_s=248.0, next_title="Hallelujah")
    return replace(view, **changes)  # type: ignore[arg-type]


def lit(image: Image.Image, box: tuple[int, int, int, int] | None = None) -> int:
    """How many pixels are on, in ``box`` or everywhere."""
    region = image.crop(box) if box else image
    histogram = region.convert("L").histogram()
    return sum(histogram) - histogram[0]


# --- reference images ---------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(golden_views()))
def test_screen_matches_reference(name: str, tmp_path: Path) -> None:
    actual = render_image(golden_views()[name])
    reference_path = GOLDEN / f"{name}.png"
    assert reference_path.exists(), f"no reference {reference_path}; create it with: {REGENERATE}"
    with Image.open(reference_path) as reference:
        difference = ImageChops.difference(actual.convert("1"), reference.convert("1"))
    if difference.getbbox() is not None:
        actual.save(tmp_path / f"{name}.png")
        pytest.fail(f"{name} differs from {reference_path} in {difference.getbbox()}; "
                    f"drawn: {tmp_path / (name + '.png')}. If the change is intended, "
                    f"look at it and run: {REGENERATE}")


def test_every_reference_image_belongs_to_a_view() -> None:
    assert {path.stem for path in GOLDEN.glob("*.png")} == set(golden_views())


# --- player -------------------------------------------------------------------------------

def test_a_long_title_scrolls_after_a_pause_and_a_short_one_stays_still() -> None:
    long_at = {age: render_image(playing(title=LONG_TITLE, title_age_s=age))
               for age in (0.0, 1.0, 5.0)}
    assert ImageChops.difference(long_at[0.0], long_at[1.0]).getbbox() is None
    assert ImageChops.difference(long_at[0.0], long_at[5.0]).getbbox() is not None
    short_at_0 = render_image(playing(title_age_s=0.0))
    short_at_5 = render_image(playing(title_age_s=5.0))
    assert ImageChops.difference(short_at_0, short_at_5).getbbox() is None


def test_title_scrolling_is_a_function_of_age_that_loops() -> None:
    width_px = 300
    assert title_scroll_offset_px(width_px, 128, 1.4) == 0
    offsets = [title_scroll_offset_px(width_px, 128, 1.5 + step / 10) for step in range(1, 40)]
    assert offsets == sorted(offsets) and offsets[-1] > offsets[0] > 0
    period_s = 1.5 + (width_px + screens.TITLE_GAP_PX) / screens.TITLE_SCROLL_PX_PER_S
    assert title_scroll_offset_px(width_px, 128, period_s + 1.0) == 0
    assert title_scroll_offset_px(width_px, 128, period_s + 2.0) == \
        title_scroll_offset_px(width_px, 128, 2.0)
    assert title_scroll_offset_px(100, 128, 7.0) == 0


def test_player_text_has_position_title_times_and_next_song() -> None:
    assert text_lines(playing()) == ["3/12 ▶", "Wonderwall", "1:23  -2:45", "Next: Hallelujah"]
    paused = text_lines(playing(state="paused"))
    assert "PAUSED" in paused[0]
    assert text_lines(playing(next_title=None))[-1] == "Last song"


def test_the_end_of_the_setlist_has_its_own_screen() -> None:
    ended = playing(state="ended", index=11, next_title=None)
    assert "End of setlist" in text_lines(ended)
    assert ImageChops.difference(render_image(ended), render_image(playing())).getbbox()


def test_unknown_duration_shows_dashes_and_an_empty_bar() -> None:
    view = playing(duration_s=None, elapsed_s=30.0)
    assert text_lines(view)[2] == "0:30  --:--"
    inner = (2, BAR_ROWS.start + 2, 126, BAR_ROWS.stop - 2)
    assert lit(render_image(view), inner) == 0


def test_the_progress_bar_fills_as_the_song_plays() -> None:
    filled = [lit(render_image(playing(elapsed_s=elapsed, duration_s=240.0)),
                  (0, BAR_ROWS.start, 128, BAR_ROWS.stop))
              for elapsed in (0.0, 30.0, 120.0, 239.0, 240.0)]
    assert filled == sorted(filled) and len(set(filled)) == len(filled)


def test_times_from_an_hour_have_hours_and_still_fit() -> None:
    assert format_time(3725.0) == "1:02:05"
    assert format_time(59.9) == "0:59"
    assert format_time(-3.0) == format_time(float("nan")) == "0:00"
    view = playing(elapsed_s=3725.0, duration_s=4510.0)
    assert text_lines(view)[2] == "1:02:05  -13:05"
    time_rows = render_image(view).crop((0, 25, 128, 43))
    assert time_rows.getbbox() is not None


def test_the_remaining_time_counts_down_to_zero_at_the_end() -> None:
    assert text_lines(playing(elapsed_s=0.0, duration_s=200.4))[2] == "0:00  -3:21"
    assert text_lines(playing(elapsed_s=200.0, duration_s=200.0))[2] == "3:20  -0:00"
    assert text_lines(playing(elapsed_s=250.0, duration_s=200.0))[2] == "4:10  -0:00"


def test_the_time_digits_are_the_biggest_thing_on_the_player_screen() -> None:
    image = render_image(playing(title="HHHH"))
    title_rows = image.crop((0, 10, 128, 25)).getbbox()
    digit_rows = image.crop((0, 25, 128, 45)).getbbox()
    assert title_rows is not None and digit_rows is not None
    assert digit_rows[3] - digit_rows[1] >= 18 > title_rows[3] - title_rows[1]


# --- banners and other screens ------------------------------------------------------------

def test_a_banner_covers_the_bottom_and_warnings_look_different_from_news() -> None:
    base = render_image(playing())
    info = render_image(playing(banner=Banner("Volume -3 dB")))
    warning = render_image(playing(banner=Banner("Volume -3 dB", "warning")))
    bottom = (0, 52, 128, 64)
    assert ImageChops.difference(base, info).getbbox()[1] >= 51  # type: ignore[index]
    assert lit(info, bottom) > lit(base, bottom)
    assert ImageChops.difference(info.crop(bottom), warning.crop(bottom)).getbbox()
    assert text_lines(playing(banner=Banner("bad.flac skipped", "warning")))[-1] == \
        "! bad.flac skipped"


def test_a_long_banner_is_cut_with_an_ellipsis_but_logged_in_full() -> None:
    text = "bad.flac: this file cannot be decoded and was skipped from the set"
    view = playing(banner=Banner(text, "warning"))
    assert text_lines(view)[-1].endswith("from the set")
    render_image(view)


def test_the_menu_window_follows_the_selection() -> None:
    items = tuple(f"Item {number}" for number in range(8))
    top = text_lines(MenuView("Menu", items, 0))
    assert top == ["Menu", "> Item 0", "  Item 1", "  Item 2", "  Item 3"]
    middle = text_lines(MenuView("Menu", items, 5))
    assert middle[1:] == ["  Item 4", "> Item 5", "  Item 6", "  Item 7"]
    assert text_lines(MenuView("Menu", items, 7))[-1] == "> Item 7"


def test_an_edited_menu_value_is_marked() -> None:
    items = ("Volume -3 dB", "Close")
    editing = MenuView("Menu", items, 0, editing=True)
    assert text_lines(editing)[1] == "> Volume ‹ -3 dB ›"
    moving = render_image(MenuView("Menu", items, 0))
    assert ImageChops.difference(render_image(editing), moving).getbbox()


def test_other_screens_say_what_is_going_on() -> None:
    assert text_lines(InsertStickView(detail="No songs found")) == ["Insert USB stick",
                                                                    "No songs found"]
    assert text_lines(ScanningView("GIG", 5, 12)) == ["Reading GIG", "5/12 files"]
    assert text_lines(ScanningView("GIG", 0, 0))[1] == "Counting files…"
    assert text_lines(MessageView("Nothing to play", ("No audio files",), "error")) == \
        ["× Nothing to play", "No audio files"]


def test_scanning_progress_fills_the_bar() -> None:
    filled = [lit(render_image(ScanningView("GIG", done, 10)), (0, 27, 128, 36))
              for done in (0, 5, 10)]
    assert filled[0] < filled[1] < filled[2]


# --- drawing on a canvas, robustness ------------------------------------------------------

def test_render_draws_the_same_on_a_luma_canvas() -> None:
    device = dummy(width=128, height=64, mode="1")
    with canvas(device) as draw:
        render(playing(), draw)
    assert ImageChops.difference(device.image.convert("1"),
                                 render_image(playing())).getbbox() is None


@pytest.mark.parametrize("name", sorted(golden_views()))
def test_nothing_is_drawn_outside_the_screen(name: str) -> None:
    view = golden_views()[name]
    big = Image.new("1", (200, 100), 1)
    render(view, ImageDraw.Draw(big))
    outside = big.copy()
    outside.paste(0, (0, 0, 128, 64))
    assert lit(outside) == 200 * 100 - 128 * 64
    assert ImageChops.difference(big.crop((0, 0, 128, 64)), render_image(view)).getbbox() \
        is None


NASTY_STRINGS = (
    "",
    " ",
    "x" * 300,
    "word " * 60,
    "שלום עולם مرحبا بالعالم",
    "🎸🥁 Rock 🤘🏽 👨‍👩‍👧",
    "line\nbreak\ttab\r\x00nul\x1b[31m",
    "\u202eevil\u202c bidi",
    "bad \udcff bytes",
    "Ünïcödé – “quotes” … ß",
    "W" * 40,
)


def views_with(text: str) -> list[View]:
    banner = Banner(text, "warning")
    return [
        playing(title=text, next_title=text, banner=banner, title_age_s=3.3),
        playing(state="ended", title=text, next_title=None),
        InsertStickView(message=text, detail=text, banner=Banner(text)),
        ScanningView(text, 3, 7, banner=Banner(text, "error")),
        MenuView(text, (text, text, text, text, text), 2, editing=True, banner=banner),
        MenuView(text, (), 0),
        MessageView(text, (text, text), "error", banner=banner),
        MessageView(text, (), "info"),
    ]


@pytest.mark.parametrize("text", NASTY_STRINGS)
def test_any_text_renders_without_raising(text: str) -> None:
    for view in views_with(text):
        image = render_image(view)
        assert image.size == (128, 64) and image.mode == "1"
        assert all(isinstance(line, str) and "\n" not in line for line in text_lines(view))


def test_odd_numbers_render_without_raising() -> None:
    for elapsed, duration in ((-5.0, 100.0), (float("nan"), float("inf")), (1e9, 0.0),
                              (50.0, -1.0), (400000.0, 500000.0)):
        render_image(playing(elapsed_s=elapsed, duration_s=duration))
    render_image(ScanningView("GIG", 9, 3))
    render_image(ScanningView("GIG", -1, -5))
    render_image(MenuView("Menu", ("a", "b"), 9))


# --- text helpers -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def font() -> ImageFont.FreeTypeFont:
    return FontBook().get("regular", 11)


def test_ellipsize_fits_the_width(font: ImageFont.FreeTypeFont) -> None:
    assert ellipsize("Short", font, 100) == "Short"
    cut = ellipsize("A rather long song title indeed", font, 60)
    assert cut.endswith("…") and font.getlength(cut) <= 60
    assert ellipsize("", font, 10) == ""
    assert ellipsize("Anything", font, 0) == ""


def test_wrap_keeps_every_word_within_the_width(font: ImageFont.FreeTypeFont) -> None:
    text = "No audio files on the stick. Copy WAV, FLAC, MP3 or OGG files."
    lines = wrap(text, font, 100)
    assert len(lines) > 1 and " ".join(lines) == text
    assert all(font.getlength(line) <= 100 for line in lines)
    broken = wrap("x" * 100, font, 50)
    assert "".join(broken) == "x" * 100 and all(font.getlength(x) <= 50 for x in broken)
    assert wrap("", font, 50) == []
    kept = fit_lines(text, font, 100, 2)
    assert len(kept) == 2 and kept[-1].endswith("…")


# --- fonts and the contact sheet ----------------------------------------------------------

def test_fonts_are_opened_once_whatever_the_number_of_frames(
        monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[int] = []
    real_truetype = ImageFont.truetype

    def counting_truetype(*args: object, **kwargs: object) -> ImageFont.FreeTypeFont:
        opened.append(1)
        return real_truetype(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageFont, "truetype", counting_truetype)
    fonts = FontBook()
    views = list(golden_views().values())
    for view in views:
        render_image(view, fonts=fonts)
    first_pass = len(opened)
    for age in range(20):
        render_image(playing(title=LONG_TITLE, title_age_s=age / 10), fonts=fonts)
    for view in views:
        render_image(view, fonts=fonts)
    assert 0 < first_pass == len(opened)


def test_contact_sheet_lays_out_every_frame_in_a_grid() -> None:
    frames = [render_image(view) for view in list(golden_views().values())[:5]]
    sheet = make_contact_sheet(frames, columns=2, scale=3, captions=["t=1.0s"] * 5)
    cell_width, cell_height = 128 * 3, 64 * 3
    rows = 3
    assert sheet.mode == "RGB"
    assert sheet.width == MARGIN_PX + 2 * (cell_width + MARGIN_PX)
    assert sheet.height > MARGIN_PX + rows * (cell_height + MARGIN_PX)
    row_pitch = (sheet.height - MARGIN_PX) // rows
    for number, frame in enumerate(frames):
        left = MARGIN_PX + (number % 2) * (cell_width + MARGIN_PX)
        top = MARGIN_PX + (number // 2) * row_pitch
        cell = sheet.crop((left, top, left + cell_width, top + cell_height))
        assert ImageChops.difference(cell, oled_look(frame, 3)).getbbox() is None


def test_contact_sheet_without_captions_or_frames() -> None:
    frame = render_image(playing())
    sheet = make_contact_sheet([frame], columns=4, scale=1)
    assert sheet.size == (128 + 2 * MARGIN_PX, 64 + 2 * MARGIN_PX)
    assert make_contact_sheet([]).size == (MARGIN_PX, MARGIN_PX)
