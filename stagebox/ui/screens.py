"""Drawing the view models on the 128x64 monochrome OLED.

Read at arm's length on a dark stage, so: large digits, bold titles, hard black and white
(everything is drawn on a mode ``"1"`` image, which FreeType renders without antialiasing),
and every string measured with the font it is drawn in, so nothing runs off the edge.

:func:`render_image` is the one drawing path; :func:`render` puts its result on a luma
canvas, and :func:`text_lines` gives the same screen as text for logs and tests.
"""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFont

from stagebox.media.safepath import printable
from stagebox.ui.fonts import Face, FontBook, default_fonts
from stagebox.ui.view import (
    Banner,
    CountIn,
    InsertStickView,
    MenuView,
    MessageView,
    PlayerView,
    PlayState,
    ScanningView,
    Severity,
    View,
)

WIDTH = 128
HEIGHT = 64

TITLE_HOLD_S = 1.5
"""A long title rests this long at its start before each pass of scrolling."""
TITLE_SCROLL_PX_PER_S = 25.0
TITLE_GAP_PX = 28
PRACTICE_GAP_PX = 4
"""Blank space between the end of a scrolling title and its next copy."""

BANNER_HEIGHT_PX = 12
MENU_ROWS = 4
ELLIPSIS = "…"

_STATE_WORDS: dict[PlayState, str] = {
    "cued": "READY",
    "playing": "",
    "paused": "PAUSED",
    "ended": "END",
}
_STATE_SYMBOLS: dict[PlayState, str] = {"cued": "■", "playing": "▶", "paused": "⏸", "ended": "✓"}
_BANNER_MARKS: dict[Severity, str] = {"info": "", "warning": "! ", "error": "× "}

Font = ImageFont.FreeTypeFont


# --- text helpers -------------------------------------------------------------------------

def ellipsize(text: str, font: Font, max_width_px: float) -> str:
    """``text``, cut and ended with ``…`` if it is wider than ``max_width_px`` in ``font``."""
    if font.getlength(text) <= max_width_px:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle].rstrip() + ELLIPSIS) <= max_width_px:
            low = middle
        else:
            high = middle - 1
    if low == 0 and font.getlength(ELLIPSIS) > max_width_px:
        return ""
    return text[:low].rstrip() + ELLIPSIS


def wrap(text: str, font: Font, max_width_px: float) -> list[str]:
    """``text`` broken into lines no wider than ``max_width_px``: at spaces where possible,
    inside a word only when the word alone is too wide. ``""`` gives no lines."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= max_width_px:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        while font.getlength(word) > max_width_px:
            cut = _longest_fitting_prefix(word, font, max_width_px)
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line:
        lines.append(line)
    return lines


def fit_lines(text: str, font: Font, max_width_px: float, max_lines: int) -> list[str]:
    """:func:`wrap`, keeping at most ``max_lines``; the last one kept ends in ``…`` when text
    was left out."""
    lines = wrap(text, font, max_width_px)
    if len(lines) <= max_lines:
        return lines
    kept = lines[:max_lines]
    kept[-1] = ellipsize(kept[-1] + ELLIPSIS, font, max_width_px)
    return kept


def _longest_fitting_prefix(word: str, font: Font, max_width_px: float) -> int:
    low, high = 1, len(word)
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(word[:middle]) <= max_width_px:
            low = middle
        else:
            high = middle - 1
    return low


def format_time(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from one hour; negative and non-finite values count as 0."""
    whole = int(seconds) if math.isfinite(seconds) and seconds > 0 else 0
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def title_fits(title: str, width: int = WIDTH, fonts: FontBook | None = None) -> bool:
    """True when the player screen shows ``title`` whole, so it never scrolls."""
    font = (fonts or default_fonts()).get("bold", 13)
    return math.ceil(font.getlength(printable(title) or "(no title)")) <= width


def title_scroll_offset_px(text_width_px: int, box_width_px: int, age_s: float) -> int:
    """How far a title ``text_width_px`` wide is scrolled left ``age_s`` after it appeared.

    A title that fits never moves. A longer one rests for :data:`TITLE_HOLD_S`, then slides
    left until its next copy (``TITLE_GAP_PX`` behind it) reaches the start, and repeats.
    """
    if text_width_px <= box_width_px or not math.isfinite(age_s) or age_s <= 0:
        return 0
    travel_px = text_width_px + TITLE_GAP_PX
    period_s = TITLE_HOLD_S + travel_px / TITLE_SCROLL_PX_PER_S
    moving_s = age_s % period_s - TITLE_HOLD_S
    return int(moving_s * TITLE_SCROLL_PX_PER_S) if moving_s > 0 else 0


# --- the time and progress values the player screen shows ---------------------------------

def _known_duration(view: PlayerView) -> float | None:
    duration = view.duration_s
    return duration if duration is not None and math.isfinite(duration) and duration > 0 \
        else None


def _elapsed_s(view: PlayerView) -> float:
    return view.elapsed_s if math.isfinite(view.elapsed_s) and view.elapsed_s > 0 else 0.0


def _remaining_text(view: PlayerView) -> str:
    duration = _known_duration(view)
    if duration is None:
        return "--:--"
    # Rounded up, so the countdown reaches 0:00 only when the song does.
    remaining_s = math.ceil(round(max(0.0, duration - _elapsed_s(view)), 3))
    return "-" + format_time(remaining_s)


def _progress(view: PlayerView) -> float:
    duration = _known_duration(view)
    return 0.0 if duration is None else min(1.0, _elapsed_s(view) / duration)


def _title(view: PlayerView) -> str:
    return printable(view.title) or "(no title)"


def _next_text(view: PlayerView) -> str:
    if view.measuring is not None and view.state != "playing":
        # Between songs, where the performer looks: while a song plays, what comes next
        # matters more than the measuring.
        done, total = view.measuring
        return f"Measuring {done}/{total}"
    if view.next_title is None:
        return "Last song"
    return "Next: " + (printable(view.next_title) or "(no title)")


def _count_in_text(count_in: CountIn) -> str:
    return f"Count-in {count_in.beat}"


def _count_in_dots(count_in: CountIn) -> str:
    """The bar's beats as dots, filled up to the one sounding: ``● ● ● ○`` on the third."""
    return " ".join("●" if beat <= count_in.beat else "○"
                    for beat in range(1, count_in.beats_per_bar + 1))


def _position_text(view: PlayerView) -> str:
    return f"{view.index + 1}/{view.count}"


# --- text ---------------------------------------------------------------------------------

def text_lines(view: View) -> list[str]:
    """The screen's text, top to bottom, in full (not cut to the display's width).

    What the simulator writes to ``screens.jsonl`` and tests search. Called on the box's
    main loop thread.
    """
    lines = _body_text(view)
    if view.banner is not None:
        lines.append(_BANNER_MARKS[view.banner.severity] + printable(view.banner.text))
    return lines


def _practice_text(view: PlayerView) -> str:
    """The practice fields as text, the one being changed in brackets: ``[+2] 80% A-B``."""
    return " ".join(f"[{words}]" if field == view.practice_selected else words
                    for field, words in view.practice)


def _body_text(view: View) -> list[str]:
    if isinstance(view, PlayerView):
        middle = (_practice_text(view) if view.practice and view.state != "ended"
                  else _STATE_WORDS[view.state])
        top = " ".join(part for part in (_position_text(view), middle,
                                         _STATE_SYMBOLS[view.state]) if part)
        if view.state == "ended":
            return [top, "End of setlist", "Last: " + _title(view), "PREV: back to last song"]
        times = (_count_in_text(view.count_in) if view.count_in is not None
                 else f"{format_time(_elapsed_s(view))}  {_remaining_text(view)}")
        return [top, _title(view), times, _next_text(view)]
    if isinstance(view, InsertStickView):
        return [line for line in (printable(view.message), printable(view.detail)) if line]
    if isinstance(view, ScanningView):
        return [f"Reading {printable(view.label)}", _scan_count_text(view)]
    if isinstance(view, MenuView):
        first = _menu_first_row(view)
        rows = []
        for index in range(first, min(len(view.items), first + MENU_ROWS)):
            item = printable(view.items[index])
            if index != view.selected:
                rows.append("  " + item)
            elif view.editing:
                label, value = _split_setting(item)
                rows.append(" ".join(part for part in (">", label, f"‹ {value} ›") if part))
            else:
                rows.append("> " + item)
        return [printable(view.title), *rows]
    return [_BANNER_MARKS[view.severity] + printable(view.title),
            *(printable(line) for line in view.lines)]


def _scan_count_text(view: ScanningView) -> str:
    if view.total <= 0:
        return "Counting files…"
    return f"{view.done}/{view.total} files"


# --- drawing ------------------------------------------------------------------------------

def render(view: View, draw: ImageDraw.ImageDraw, width: int = WIDTH, height: int = HEIGHT,
           fonts: FontBook | None = None) -> None:
    """Draw ``view`` on ``draw`` (e.g. ``with canvas(device) as draw``), in the rectangle
    from (0, 0) to (``width``, ``height``), which it blanks first.

    Called on the box's main loop thread.
    """
    image = render_image(view, width, height, fonts)
    draw.rectangle((0, 0, width - 1, height - 1), fill="black")
    draw.bitmap((0, 0), image, fill="white")


def render_image(view: View, width: int = WIDTH, height: int = HEIGHT,
                 fonts: FontBook | None = None) -> Image.Image:
    """``view`` drawn on a new mode ``"1"`` image (white pixels lit), ``width`` x ``height``.

    The layout is made for 128x64. Called on the box's main loop thread and by tests.
    """
    image = Image.new("1", (width, height), 0)
    screen = _Screen(ImageDraw.Draw(image), width, height, fonts or default_fonts())
    _draw_view(screen, view)
    if view.banner is not None:
        _draw_banner(screen, view.banner)
    return image


def _draw_view(screen: _Screen, view: View) -> None:
    if isinstance(view, PlayerView):
        _draw_player(screen, view)
    elif isinstance(view, InsertStickView):
        _draw_insert_stick(screen, view)
    elif isinstance(view, ScanningView):
        _draw_scanning(screen, view)
    elif isinstance(view, MenuView):
        _draw_menu(screen, view)
    else:
        _draw_message(screen, view)


class _Screen:
    """A draw, its size and the fonts, with the few text and shape primitives the screens
    are made of. Text is placed by the top of its capitals, so layouts can be written in
    the rows the letters actually cover."""

    def __init__(self, draw: ImageDraw.ImageDraw, width: int, height: int,
                 fonts: FontBook) -> None:
        self.draw = draw
        self.width = width
        self.height = height
        self.small = fonts.get("condensed", 11)
        self.small_bold = fonts.get("condensed-bold", 11)
        self.body = fonts.get("regular", 11)
        self.title = fonts.get("bold", 13)
        self.heading = fonts.get("condensed-bold", 14)
        self._fonts = fonts

    def font(self, face: Face, size_px: int) -> Font:
        return self._fonts.get(face, size_px)

    def text(self, x: float, cap_top_y: int, text: str, font: Font, fill: str = "white",
             anchor: str = "ls") -> None:
        """``text`` with the top of its capitals on row ``cap_top_y``; ``anchor`` ``"ls"``,
        ``"ms"`` or ``"rs"`` puts ``x`` at its left, middle or right."""
        if text:
            baseline_y = cap_top_y - font.getbbox("H", anchor="ls")[1]
            self.draw.text((x, baseline_y), text, fill=fill, font=font, anchor=anchor)

    def line_text(self, x: float, cap_top_y: int, text: str, font: Font, max_width_px: float,
                  fill: str = "white", anchor: str = "ls") -> None:
        """Like :meth:`text`, cut with ``…`` to ``max_width_px``."""
        self.text(x, cap_top_y, ellipsize(text, font, max_width_px), font, fill, anchor)

    def progress_bar(self, top: int, height_px: int, fraction: float) -> None:
        """A full-width outline with a one-pixel gap around the part that is filled."""
        right = self.width - 1
        bottom = top + height_px - 1
        self.draw.rectangle((0, top, right, bottom), outline="white")
        filled_px = round((right - 3) * max(0.0, min(1.0, fraction)))
        if filled_px > 0:
            self.draw.rectangle((2, top + 2, 1 + filled_px, bottom - 2), fill="white")


# --- player -------------------------------------------------------------------------------

def _draw_player(screen: _Screen, view: PlayerView) -> None:
    _draw_player_top_row(screen, view)
    if view.state == "ended":
        _draw_end_of_setlist(screen, view)
        return
    _draw_scrolling_title(screen, view, cap_top_y=12)
    if view.count_in is not None:
        _draw_count_in(screen, view.count_in, cap_top_y=25)
    else:
        _draw_times(screen, view, cap_top_y=25)
    screen.progress_bar(top=45, height_px=6, fraction=_progress(view))
    screen.line_text(0, 53, _next_text(view), screen.small, screen.width)


def _draw_player_top_row(screen: _Screen, view: PlayerView) -> None:
    icon_left = screen.width - 9
    _draw_state_icon(screen.draw, view.state, icon_left, 0)
    position = _position_text(view)
    if view.practice and view.state != "ended":
        # The icon says the state; its word makes room for the practice fields, and the
        # song's number too when they need it.
        left = _draw_practice_fields(screen, view, right=icon_left - 3)
        if screen.small_bold.getlength(position) + PRACTICE_GAP_PX <= left:
            screen.text(0, 0, position, screen.small_bold)
        return
    screen.text(0, 0, position, screen.small_bold)
    screen.text(icon_left - 3, 0, _STATE_WORDS[view.state], screen.small_bold, anchor="rs")


def _draw_practice_fields(screen: _Screen, view: PlayerView, right: int) -> float:
    """Key, speed, loop and click, right-aligned before the state icon; in practice mode
    the field being changed is drawn inverted. Returns where the first one starts."""
    font = screen.small
    x = float(right)
    for field, words in reversed(view.practice):
        width = font.getlength(words)
        x -= width
        if field == view.practice_selected:
            screen.draw.rectangle((round(x) - 1, 0, round(x + width), 8), fill="white")
            screen.text(x, 0, words, font, fill="black")
        else:
            screen.text(x, 0, words, font)
        x -= PRACTICE_GAP_PX
    return x


def _draw_state_icon(draw: ImageDraw.ImageDraw, state: PlayState, left: int, top: int) -> None:
    """A transport symbol 9 pixels wide and 8 high."""
    if state == "playing":
        for row in range(4):
            tip_x = left + 2 + 2 * row
            draw.line([(left + 1, top + row), (tip_x, top + row)], fill="white")
            draw.line([(left + 1, top + 7 - row), (tip_x, top + 7 - row)], fill="white")
    elif state == "paused":
        draw.rectangle((left + 1, top, left + 3, top + 7), fill="white")
        draw.rectangle((left + 6, top, left + 8, top + 7), fill="white")
    elif state == "cued":
        draw.rectangle((left + 1, top, left + 8, top + 7), fill="white")
    else:
        draw.line([(left, top + 4), (left + 3, top + 7), (left + 8, top + 1)], fill="white",
                  width=2)


def _draw_scrolling_title(screen: _Screen, view: PlayerView, cap_top_y: int) -> None:
    title = _title(view)
    font = screen.title
    text_width_px = math.ceil(font.getlength(title))
    offset_px = title_scroll_offset_px(text_width_px, screen.width, view.title_age_s)
    # Each copy is drawn only while part of it shows: drawing a long title costs more than
    # the rest of the frame.
    copies_px = (-offset_px, -offset_px + text_width_px + TITLE_GAP_PX) if offset_px else (0,)
    for left_px in copies_px:
        if left_px < screen.width and left_px + text_width_px > 0:
            screen.text(left_px, cap_top_y, title, font)


_TIME_SIZES_PX = (24, 22, 20, 18, 16, 14, 12)
_TIME_GAP_PX = 10


def _draw_times(screen: _Screen, view: PlayerView, cap_top_y: int) -> None:
    font = _time_font(screen, view)
    # Smaller digits (songs over ten minutes) sit on the same bottom row as the big ones.
    cap_top_y += 18 + round(font.getbbox("0", anchor="ls")[1])
    screen.text(0, cap_top_y, format_time(_elapsed_s(view)), font)
    screen.text(screen.width, cap_top_y, _remaining_text(view), font, anchor="rs")


def _draw_count_in(screen: _Screen, count_in: CountIn, cap_top_y: int) -> None:
    """The beat being counted, big, where the times go, and the bar's beats as dots."""
    font = screen.font("condensed-bold", _TIME_SIZES_PX[0])
    screen.text(screen.width, cap_top_y + 18 + round(font.getbbox("0", anchor="ls")[1]),
                str(count_in.beat), font, anchor="rs")
    screen.text(0, cap_top_y + 2, "Count-in", screen.small_bold)
    dots = _count_in_dots(count_in) if count_in.beats_per_bar <= 8 else ""
    screen.line_text(0, cap_top_y + 12, dots, screen.body, screen.width * 0.7)


def _time_font(screen: _Screen, view: PlayerView) -> Font:
    """The biggest digits that fit both times for the whole song, so the size stays put
    while the song plays (the digits are all the same width)."""
    duration = _known_duration(view)
    longest_s = max(_elapsed_s(view), duration or 0.0)
    widest = format_time(longest_s).replace("1", "0")
    pair = widest + ("-" + widest if duration is not None else "--:--")
    for size_px in _TIME_SIZES_PX:
        font = screen.font("condensed-bold", size_px)
        if font.getlength(pair) + _TIME_GAP_PX <= screen.width:
            return font
    return font


def _draw_end_of_setlist(screen: _Screen, view: PlayerView) -> None:
    middle = screen.width // 2
    screen.text(middle, 19, "End of setlist", screen.font("bold", 15), anchor="ms")
    screen.line_text(middle, 39, "Last: " + _title(view), screen.small, screen.width,
                     anchor="ms")
    screen.line_text(middle, 53, "PREV: back to last song", screen.small, screen.width,
                     anchor="ms")


# --- other screens ------------------------------------------------------------------------

def _draw_insert_stick(screen: _Screen, view: InsertStickView) -> None:
    text_left = 30
    detail = fit_lines(printable(view.detail), screen.small, screen.width, 2)
    message = fit_lines(printable(view.message), screen.heading, screen.width - text_left,
                        2 if detail else 3)
    line_pitch_px = 17
    if detail:
        _draw_usb_stick(screen.draw, left=2, top=1)
        message_top = 19 - len(message) * line_pitch_px // 2
    else:
        _draw_usb_stick(screen.draw, left=2, top=12)
        message_top = 32 - (len(message) * line_pitch_px - 7) // 2
    for number, line in enumerate(message):
        screen.text(text_left, message_top + number * line_pitch_px, line, screen.heading)
    for number, line in enumerate(detail):
        screen.text(0, 42 + number * 11, line, screen.small)


def _draw_usb_stick(draw: ImageDraw.ImageDraw, left: int, top: int) -> None:
    """A USB stick standing upright, plug at the top: 20 x 38 pixels."""
    draw.rectangle((left + 4, top, left + 15, top + 10), outline="white")
    draw.rectangle((left + 7, top + 3, left + 8, top + 5), fill="white")
    draw.rectangle((left + 11, top + 3, left + 12, top + 5), fill="white")
    draw.rounded_rectangle((left, top + 11, left + 19, top + 37), radius=3, fill="white")
    draw.rectangle((left + 5, top + 18, left + 14, top + 29), fill="black")


def _draw_scanning(screen: _Screen, view: ScanningView) -> None:
    screen.text(0, 1, "Reading", screen.small_bold)
    screen.line_text(0, 13, printable(view.label) or "USB stick", screen.title, screen.width)
    fraction = view.done / view.total if view.total > 0 else 0.0
    screen.progress_bar(top=27, height_px=9, fraction=fraction)
    # Above the banner's rows, so a warning during the scan leaves the count readable.
    screen.text(screen.width // 2, 40, _scan_count_text(view), screen.small, anchor="ms")


def _draw_menu(screen: _Screen, view: MenuView) -> None:
    draw = screen.draw
    draw.rectangle((0, 0, screen.width - 1, 12), fill="white")
    count = len(view.items)
    first = _menu_first_row(view)
    scrolls = count > MENU_ROWS
    title_width_px = screen.width - 4
    if scrolls:
        position = f"{min(max(view.selected, 0), count - 1) + 1}/{count}"
        screen.text(screen.width - 2, 2, position, screen.small, fill="black", anchor="rs")
        title_width_px -= 4 + math.ceil(screen.small.getlength(position))
    screen.line_text(2, 2, printable(view.title), screen.small_bold, title_width_px,
                     fill="black")
    row_right = screen.width - (5 if scrolls else 1)
    for row in range(min(MENU_ROWS, count - first)):
        index = first + row
        top = 14 + row * 12
        item = printable(view.items[index])
        if index != view.selected:
            screen.line_text(3, top + 2, item, screen.body, row_right - 4)
        elif view.editing:
            _draw_menu_editing_row(screen, item, top, row_right)
        else:
            draw.rectangle((0, top, row_right, top + 11), fill="white")
            screen.line_text(3, top + 2, item, screen.body, row_right - 4, fill="black")
    if scrolls:
        _draw_scrollbar(draw, screen.width - 3, 14, screen.height - 2, first, count)


def _menu_first_row(view: MenuView) -> int:
    """The first item shown: the window keeps one item above the selected one in view
    whenever there is one, so the performer sees where PREV goes too."""
    most = max(0, len(view.items) - MENU_ROWS)
    return min(max(0, view.selected - 1), most)


def _split_setting(item: str) -> tuple[str, str]:
    """``"Volume -3 dB"`` -> ``("Volume", "-3 dB")``; ``"After song: stop"`` ->
    ``("After song:", "stop")``."""
    if ": " in item:
        label, value = item.split(": ", 1)
        return label + ":", value
    if " " in item:
        label, value = item.split(" ", 1)
        return label, value
    return "", item


def _draw_menu_editing_row(screen: _Screen, item: str, top: int, right: int) -> None:
    """The row being edited: the highlight moves from the whole row onto the value, which
    sits between arrows, so it is plain that PREV and NEXT now change it."""
    draw = screen.draw
    label, value = _split_setting(item)
    bold = screen.small_bold
    value_width_px = min(right - 24, math.ceil(bold.getlength(value)))
    box_left = right - value_width_px - 18
    draw.rounded_rectangle((box_left, top, right, top + 11), radius=3, fill="white")
    _draw_arrow(draw, box_left + 2, top + 5, -1, "black")
    _draw_arrow(draw, right - 2, top + 5, 1, "black")
    screen.line_text(box_left + 9, top + 2, value, bold, value_width_px + 1, fill="black")
    screen.line_text(3, top + 2, label, screen.body, box_left - 6)


def _draw_arrow(draw: ImageDraw.ImageDraw, tip_x: int, middle_y: int, direction: int,
                fill: str) -> None:
    """A solid triangle 4 pixels wide and 7 high pointing left (-1) or right (1)."""
    for step in range(4):
        x = tip_x - direction * step
        draw.line([(x, middle_y - step), (x, middle_y + step)], fill=fill)


def _draw_scrollbar(draw: ImageDraw.ImageDraw, left: int, top: int, bottom: int, first: int,
                    count: int) -> None:
    track_px = bottom - top + 1
    thumb_px = max(4, track_px * MENU_ROWS // count)
    thumb_top = top + (track_px - thumb_px) * first // max(1, count - MENU_ROWS)
    draw.line([(left + 1, top), (left + 1, bottom)], fill="white")
    draw.rectangle((left, thumb_top, left + 2, thumb_top + thumb_px - 1), fill="white")


_MESSAGE_ROWS = 4


def _draw_message(screen: _Screen, view: MessageView) -> None:
    _draw_severity_icon(screen.draw, view.severity, 0, 0)
    screen.line_text(16, 1, printable(view.title), screen.heading, screen.width - 16)
    lines: list[str] = []
    for paragraph in view.lines:
        lines.extend(wrap(printable(paragraph), screen.body, screen.width))
    if len(lines) > _MESSAGE_ROWS:
        lines = lines[:_MESSAGE_ROWS]
        lines[-1] = ellipsize(lines[-1] + ELLIPSIS, screen.body, screen.width)
    for number, line in enumerate(lines):
        screen.text(0, 18 + number * 12, line, screen.body)


def _draw_severity_icon(draw: ImageDraw.ImageDraw, severity: Severity, left: int,
                        top: int) -> None:
    """13x13 pixels: a warning triangle with "!", a disc with "X" for errors, a disc with
    "i" for news."""
    if severity == "warning":
        draw.polygon([(left + 6, top), (left + 12, top + 12), (left, top + 12)], fill="white")
        draw.rectangle((left + 6, top + 4, left + 6, top + 8), fill="black")
        draw.point((left + 6, top + 10), fill="black")
    elif severity == "error":
        draw.ellipse((left, top, left + 12, top + 12), fill="white")
        _draw_cross(draw, left + 3, top + 3, 7, "black")
    else:
        draw.ellipse((left, top, left + 12, top + 12), fill="white")
        draw.rectangle((left + 6, top + 5, left + 6, top + 9), fill="black")
        draw.point((left + 6, top + 3), fill="black")


def _draw_cross(draw: ImageDraw.ImageDraw, left: int, top: int, size_px: int,
                fill: str) -> None:
    """An X two pixels thick in a ``size_px`` square, drawn as clean diagonals."""
    last = size_px - 1
    for dx in (0, 1):
        draw.line([(left + dx, top), (left + last - 1 + dx, top + last)], fill=fill)
        draw.line([(left + dx, top + last), (left + last - 1 + dx, top)], fill=fill)


def _draw_banner(screen: _Screen, banner: Banner) -> None:
    """An inverted bar over the bottom of the screen; warnings and errors carry a black
    box with their mark at the left."""
    draw = screen.draw
    top = screen.height - BANNER_HEIGHT_PX
    draw.rectangle((0, top - 1, screen.width - 1, screen.height - 1), fill="black")
    draw.rectangle((0, top, screen.width - 1, screen.height - 1), fill="white")
    text_left = 3
    if banner.severity != "info":
        draw.rectangle((1, top + 1, 10, screen.height - 2), fill="black")
        if banner.severity == "warning":
            draw.rectangle((5, top + 3, 6, top + 6), fill="white")
            draw.rectangle((5, top + 8, 6, top + 9), fill="white")
        else:
            _draw_cross(draw, 2, top + 2, 8, "white")
        text_left = 13
    screen.line_text(text_left, top + 2, printable(banner.text), screen.small_bold,
                     screen.width - text_left - 1, fill="black")
