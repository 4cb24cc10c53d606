"""The screens' fonts: DejaVu TrueType files shipped in ``stagebox/ui/fonts``.

Shipping the files (rather than asking the system) keeps every pixel the same on the Pi, in
the simulator and in the golden-image tests. So does the ``BASIC`` layout engine: with libraqm
(present on some machines, not others) the same text would be kerned and shaped differently.
Fonts are opened on first use and kept, so a frame never reads a file.
"""

from __future__ import annotations

import functools
import io
from importlib import resources
from typing import Literal

from PIL import ImageFont

Face = Literal["regular", "bold", "condensed", "condensed-bold"]

FONT_FILES: dict[Face, str] = {
    "regular": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
    "condensed": "DejaVuSansCondensed.ttf",
    "condensed-bold": "DejaVuSansCondensed-Bold.ttf",
}


class FontBook:
    """Opens each (face, size) once and hands out the same font object afterwards.

    Not thread-safe; each thread that draws (the box's main loop, a test) should own one,
    or share :func:`default_fonts` from a single thread.
    """

    def __init__(self) -> None:
        self._data: dict[Face, bytes] = {}
        self._fonts: dict[tuple[Face, int], ImageFont.FreeTypeFont] = {}

    def get(self, face: Face, size_px: int) -> ImageFont.FreeTypeFont:
        """The font ``face`` at ``size_px`` pixels (the em size FreeType is asked for)."""
        key = (face, size_px)
        font = self._fonts.get(key)
        if font is None:
            font = ImageFont.truetype(io.BytesIO(self._file_data(face)), size_px,
                                      layout_engine=ImageFont.Layout.BASIC)
            self._fonts[key] = font
        return font

    def _file_data(self, face: Face) -> bytes:
        data = self._data.get(face)
        if data is None:
            path = resources.files("stagebox.ui").joinpath("fonts", FONT_FILES[face])
            data = path.read_bytes()
            self._data[face] = data
        return data


@functools.cache
def default_fonts() -> FontBook:
    """The process's shared font book, created on first call (nothing is read at import)."""
    return FontBook()
