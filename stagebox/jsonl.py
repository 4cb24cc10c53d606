"""JSON Lines that any reader splits right: one record a line, whatever its strings hold."""

from __future__ import annotations

import json
import math
import re
from typing import Any


def json_line(record: dict[str, Any]) -> str:
    """``record`` as one line of JSON, newline included, whatever its strings hold.

    Non-finite numbers become null (bare ``NaN`` or ``Infinity`` is not JSON), and the
    characters other than newline that ``str.splitlines`` splits on (U+0085, U+2028,
    U+2029; JSON escapes the control characters itself) are escaped, and so are lone
    surrogates (a file name that is not UTF-8), which no UTF-8 file can hold.
    """
    text = json.dumps(_finite(record), ensure_ascii=False, allow_nan=False)
    return _UNSAFE_IN_A_LINE.sub(lambda found: f"\\u{ord(found.group()):04x}", text) + "\n"


_UNSAFE_IN_A_LINE = re.compile("[\x85\u2028\u2029\ud800-\udfff]")


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float, however deep, made None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
