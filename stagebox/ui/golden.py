"""The reference screens: a representative set of views, and the command that redraws them.

``tests/ui/test_screens.py`` compares :func:`golden_views` drawn now with the PNGs in
``tests/ui/golden``. When a drawing change is intended, redraw the references on purpose,
look at them, and commit them with the change::

    python -m stagebox.ui.golden --regenerate tests/ui/golden [--sheet /tmp/golden.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stagebox.ui.contact_sheet import make_contact_sheet
from stagebox.ui.screens import render_image
from stagebox.ui.view import (
    Banner,
    CountIn,
    InsertStickView,
    MenuView,
    MessageView,
    PlayerView,
    ScanningView,
    View,
)

LONG_TITLE = "The Long and Winding Road to the Encore (Extended Live Version)"
MENU_ITEMS = ("Volume -3 dB", "Setlist Main set", "After song: stop", "Info", "Close")


def golden_views() -> dict[str, View]:
    """Each reference screen by name (the PNG's file name without ``.png``)."""
    def player(**changes: object) -> PlayerView:
        fields: dict[str, object] = {
            "state": "playing", "index": 2, "count": 12, "title": "Wonderwall",
            "elapsed_s": 83.0, "duration_s": 248.0, "next_title": "Hallelujah",
        }
        fields.update(changes)
        return PlayerView(**fields)  # type: ignore[arg-type]

    return {
        "player_cued": player(state="cued", elapsed_s=0.0),
        "player_playing": player(),
        "player_paused": player(state="paused", elapsed_s=151.0),
        "player_ended": player(state="ended", index=11, elapsed_s=0.0, next_title=None),
        "player_last_song": player(index=11, title="Hey Jude", next_title=None,
                                   elapsed_s=412.0, duration_s=431.0),
        "player_long_title_start": player(title=LONG_TITLE, title_age_s=0.0),
        "player_long_title_scrolled": player(title=LONG_TITLE, title_age_s=4.0),
        "player_long_title_wrapping": player(title=LONG_TITLE, title_age_s=19.0),
        "player_unknown_duration": player(duration_s=None, elapsed_s=7.0),
        "player_over_an_hour": player(title="Suite: Judy Blue Eyes (full set)",
                                      elapsed_s=3725.0, duration_s=4510.0),
        "player_empty_title": player(title="", next_title=""),
        "player_count_in": player(elapsed_s=0.0, count_in=CountIn(3, 4, 1)),
        "player_count_in_waltz": player(elapsed_s=0.0, count_in=CountIn(1, 3, 2)),
        "player_measuring": player(state="cued", elapsed_s=0.0, measuring=(3, 12)),
        "player_practice_show": player(practice=(("key", "+2"), ("speed", "80%"),
                                                 ("loop", "A-B"))),
        "player_practice_mode": player(index=11, practice=(
            ("key", "-3"), ("speed", "100%"), ("loop", "A-"), ("click", "no clk")),
            practice_selected="speed"),
        "player_accents": player(title="Déjà vu – Ça ira, Ñandú", next_title="Smørrebrød Öl"),
        "banner_info": player(banner=Banner("Volume -3 dB")),
        "banner_warning": player(banner=Banner("bad.flac: cannot decode, skipped", "warning")),
        "banner_error": player(banner=Banner("Audio interface unplugged", "error")),
        "insert_stick": InsertStickView(),
        "insert_stick_detail": InsertStickView(detail="No songs found on the last stick"),
        "scanning": ScanningView("GIG_2024", 5, 12),
        "scanning_counting": ScanningView("GIG_2024", 0, 0),
        "menu": MenuView("Menu", MENU_ITEMS, 0),
        "menu_scrolled": MenuView("Menu", MENU_ITEMS, 3),
        "menu_editing": MenuView("Menu", MENU_ITEMS, 0, editing=True),
        "menu_editing_scrolled": MenuView("Menu", MENU_ITEMS, 2, editing=True),
        "message_warning": MessageView("Check setlist", ("Line 4: missing.wav not found",
                                                         "3 songs skipped")),
        "message_error": MessageView("Nothing to play",
                                     ("No audio files on the stick. Copy WAV, FLAC, MP3 or "
                                      "OGG files and a setlist.txt.",), "error"),
    }


def regenerate(folder: Path) -> list[Path]:
    """Write every reference PNG into ``folder`` and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, view in golden_views().items():
        path = folder / f"{name}.png"
        render_image(view).save(path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python -m stagebox.ui.golden --regenerate DIR [--sheet PNG]``."""
    parser = argparse.ArgumentParser(prog="python -m stagebox.ui.golden",
                                     description="Redraw the reference screens.")
    parser.add_argument("--regenerate", type=Path, required=True, metavar="DIR",
                        help="folder to write NAME.png into (tests/ui/golden)")
    parser.add_argument("--sheet", type=Path, metavar="PNG",
                        help="also write a contact sheet of them all, to review by eye")
    args = parser.parse_args(argv)
    paths = regenerate(args.regenerate)
    if args.sheet is not None:
        views = golden_views()
        sheet = make_contact_sheet([render_image(view) for view in views.values()],
                                   columns=4, scale=2, captions=list(views))
        sheet.save(args.sheet)
    print(f"wrote {len(paths)} reference screens to {args.regenerate}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
