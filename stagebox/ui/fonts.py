"""The screens' fonts: DejaVu TrueType files shipped in ``stagebox/ui/fonts``.

Shipping the files (rather than asking the system) keeps every pixel the same on the Pi, in
the simulator and in the golden-image tests. So does the ``BASIC`` layout engine: with libraqm
(present on some machines, not others) the same text would be kerned and shaped differently.
Fonts are opened on first use and kept.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from PIL import ImageFont

Face = Literal["regular", "bold", "condensed", "condensed-bold"]

FONT_FILES: dict[Face, str] = {
    "regular": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
    "condensed": "DejaVuSansCondensed.ttf",
    "condensed-bold": "DejaVuSansCondensed-Bold.ttf",
}
FONTS_FOLDER = Path(__file__).with_name("fonts")


class FontBook:
    """Opens each (face, size) once and hands out the same font object afterwards.

    Not thread-safe; each thread that draws (the box's main loop, a test) should own one,
    or share :func:`default_fonts` from a single thread.
    """

    def __init__(self) -> None:
        self._fonts: dict[tuple[Face, int], ImageFont.FreeTypeFont] = {}

    def get(self, face: Face, size_px: int) -> ImageFont.FreeTypeFont:
        """The font ``face`` at ``size_px`` pixels (the em size FreeType is asked for)."""
        key = (face, size_px)
        font = self._fonts.get(key)
        if font is None:
            # By path, not by the file's bytes: FreeType maps the file, and all the sizes
            # of a face share its pages; from bytes, each size kept its own copy of the
            # file (700 KB, 7 MB of the box's memory for the screens' faces and sizes).
            font = ImageFont.truetype(FONTS_FOLDER / FONT_FILES[face], size_px,
                                      layout_engine=ImageFont.Layout.BASIC)
            self._fonts[key] = font
        return font


@functools.cache
def default_fonts() -> FontBook:
    """The process's shared font book, created on first call (nothing is read at import)."""
    return FontBook()
