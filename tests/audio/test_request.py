"""The decode request: one object from the loader to the decoder, checked where it is made."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stagebox.audio.request import MAX_OUT_RATE, MIN_OUT_RATE, DecodeRequest


@given(st.integers(MIN_OUT_RATE, MAX_OUT_RATE),
       st.floats(0.0, 1e7, allow_nan=False, allow_infinity=False))
def test_a_request_reaches_the_decoder_as_it_was_made(out_rate: int, start_s: float) -> None:
    request = DecodeRequest(out_rate, start_s)
    assert DecodeRequest.from_json(request.to_json()) == request


def test_a_split_track_on_a_cue_bus_reaches_the_decoder_as_it_was_made() -> None:
    request = DecodeRequest(48000, cue_bus=True, split="click-left")
    assert DecodeRequest.from_json(request.to_json()) == request


@pytest.mark.parametrize("fields", [
    {"out_rate": 48000.0}, {"out_rate": True}, {"out_rate": 100}, {"out_rate": 10**9},
    {"out_rate": 48000, "start_s": -1.0}, {"out_rate": 48000, "start_s": math.inf},
    {"out_rate": 48000, "start_s": math.nan}, {"out_rate": 48000, "start_s": "0"},
    {"out_rate": 48000, "start_s": False}, {"out_rate": 48000, "speed": 2},
    {"start_s": 0.0}, {"out_rate": 48000, "cue_bus": 1},
    {"out_rate": 48000, "split": "left"}])
def test_a_request_that_makes_no_sense_is_refused(fields: dict) -> None:
    with pytest.raises(ValueError):
        DecodeRequest.from_fields(fields)


@pytest.mark.parametrize("text", ["", "[]", "48000", '{"out_rate": 48000', "\xff",
                                  "[" * 100_000, '{"out_rate": 48000, "start_s": 1e400}'])
def test_a_request_that_is_not_one_is_refused_as_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        DecodeRequest.from_json(text)
