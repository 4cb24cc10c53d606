"""Natural sort order: "2 x" before "10 x", case-insensitive, as people number their songs."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"([0-9]+)")

NaturalKey = tuple[tuple[object, ...], str]


def natural_key(name: str) -> NaturalKey:
    """A sort key for one name: digit runs compare by value, the rest case-insensitively.

    Digit runs compare as (length without leading zeros, digits) rather than as ``int``, so a
    hostile name with thousands of digits costs nothing. The name itself breaks ties
    ("02" and "2", "A" and "a"), so the order never depends on the order things were found in.
    """
    pieces = _DIGITS.split(name.casefold())
    parts: list[object] = []
    for index, piece in enumerate(pieces):
        if index % 2:
            digits = piece.lstrip("0")
            parts.append((len(digits), digits))
        else:
            parts.append(piece)
    return tuple(parts), name


def natural_path_key(rel_path: str) -> tuple[NaturalKey, ...]:
    """A sort key for a ``/``-separated path: a folder's files sort together, under its name."""
    return tuple(natural_key(part) for part in rel_path.split("/"))
