"""Many screens on one picture, drawn to look like the OLED: for the demo, the README and
reviewing the reference screens by eye."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageOps

from stagebox.ui.fonts import FontBook, default_fonts
from stagebox.ui.screens import ellipsize

LIT_RGB = (190, 225, 255)
"""A lit OLED pixel: white with the slight blue of the common panels."""
DARK_RGB = (8, 10, 14)
"""An unlit pixel: the panel's black."""
BACKGROUND_RGB = (44, 46, 52)
CAPTION_RGB = (200, 200, 200)
MARGIN_PX = 8
CAPTION_HEIGHT_PX = 15


def make_contact_sheet(images: list[Image.Image], columns: int = 4, scale: int = 2,
                       captions: list[str] | None = None,
                       fonts: FontBook | None = None) -> Image.Image:
    """``images`` (screens, any mode; lit where non-zero) enlarged ``scale`` times without
    smoothing, in a grid ``columns`` wide, read left to right, each over its caption.

    Returns an RGB image. ``captions``, when given, pairs with ``images`` by position;
    missing ones are left blank. Called by the demo and the reference-screen command.
    """
    columns = max(1, columns)
    scale = max(1, scale)
    cell_width_px = max((image.width for image in images), default=0) * scale
    cell_height_px = max((image.height for image in images), default=0) * scale
    caption_px = CAPTION_HEIGHT_PX if captions else 0
    rows = -(-len(images) // columns)
    used_columns = min(columns, len(images))
    sheet = Image.new("RGB", (MARGIN_PX + used_columns * (cell_width_px + MARGIN_PX),
                              MARGIN_PX + rows * (cell_height_px + caption_px + MARGIN_PX)),
                      BACKGROUND_RGB)
    draw = ImageDraw.Draw(sheet)
    font = (fonts or default_fonts()).get("regular", 11)
    for number, image in enumerate(images):
        left = MARGIN_PX + (number % columns) * (cell_width_px + MARGIN_PX)
        top = MARGIN_PX + (number // columns) * (cell_height_px + caption_px + MARGIN_PX)
        sheet.paste(oled_look(image, scale), (left, top))
        if captions and number < len(captions):
            caption = ellipsize(captions[number], font, cell_width_px)
            draw.text((left, top + cell_height_px + 2), caption, fill=CAPTION_RGB, font=font)
    return sheet


def oled_look(image: Image.Image, scale: int = 1) -> Image.Image:
    """``image`` as the panel shows it: lit pixels pale blue-white on black, each pixel
    ``scale`` x ``scale`` (nearest neighbour, no smoothing)."""
    lit = image.convert("1").convert("L")
    if scale > 1:
        lit = lit.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    return ImageOps.colorize(lit, black=DARK_RGB, white=LIT_RGB)
