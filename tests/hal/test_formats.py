"""What the device is given: formats, channel placement, clipping, dither and silence."""

import numpy as np
import pytest

from stagebox.hal.audio import SAMPLE_FORMATS
from stagebox.hal.formats import BlockEncoder, decode, fit_cue_pair, fit_output_pair

RATE = 48000
STEP = {"S16_LE": 2.0**-15, "S24_3LE": 2.0**-23, "S24_LE": 2.0**-23, "S32_LE": 2.0**-31,
        "FLOAT_LE": 0.0}
"""One quantisation step (LSB) of each format, as a fraction of full scale."""


def noise_block(frames: int = 4096, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (frames, 2)).astype(np.float32)


@pytest.mark.parametrize("fmt", SAMPLE_FORMATS)
def test_every_format_round_trips_within_its_quantisation(fmt):
    block = noise_block()
    encoder = BlockEncoder(fmt, 2, 4096)
    data = encoder.encode(block)
    assert len(data) == 4096 * encoder.frame_bytes
    decoded = decode(data, fmt, 2)
    # 16-bit carries ±1 LSB of dither on top of rounding; the others only round.
    allowed = 1.5 * STEP[fmt] if fmt == "S16_LE" else 0.5 * STEP[fmt]
    assert np.abs(decoded - block).max() <= allowed + 1e-7 * (fmt == "S32_LE")


@pytest.mark.parametrize(("fmt", "positive", "negative"), [
    ("S16_LE", b"\xff\x7f", b"\x00\x80"),
    ("S24_3LE", b"\xff\xff\x7f", b"\x00\x00\x80"),
    ("S24_LE", b"\xff\xff\x7f\x00", b"\x00\x00\x80\xff"),
    ("S32_LE", b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80"),
    ("FLOAT_LE", np.float32(1.0).tobytes(), np.float32(-1.0).tobytes()),
])
def test_full_scale_and_beyond_clip_instead_of_wrapping_round(fmt, positive, negative):
    block = np.array([[1.0, -1.0], [1.5, -7.0], [np.inf, -np.inf]], np.float32)
    data = bytes(BlockEncoder(fmt, 2, 16).encode(block))
    assert data == (positive + negative) * 3


@pytest.mark.parametrize(("channels", "pair"), [
    (1, 1), (2, 1), (4, 1), (4, 2), (6, 1), (6, 2), (6, 3),
    (8, 1), (8, 2), (8, 3), (8, 4),
])
def test_the_music_lands_on_the_configured_pair_and_the_other_outputs_are_silent(
        channels, pair):
    block = np.tile(np.array([[0.5, -0.25]], np.float32), (64, 1))
    encoder = BlockEncoder("S24_3LE", channels, 64, output_pair=pair)
    decoded = decode(encoder.encode(block), "S24_3LE", channels)
    expected = np.zeros((64, channels), np.float32)
    if channels == 1:
        expected[:, 0] = 0.125  # (L + R) / 2
    else:
        expected[:, 2 * pair - 2] = 0.5
        expected[:, 2 * pair - 1] = -0.25
    assert np.array_equal(decoded, expected)


def test_a_pair_the_device_does_not_have_is_refused():
    with pytest.raises(ValueError, match="output pair 3"):
        BlockEncoder("S16_LE", 4, 64, output_pair=3)


def test_a_pair_the_device_lacks_falls_back_to_outputs_1_and_2():
    assert fit_output_pair(8, 4) == 4
    assert fit_output_pair(4, 3) == 1
    assert fit_output_pair(2, 2) == 1


def test_dither_keeps_a_signal_below_one_lsb_alive_without_bias():
    lsb = 2.0**-15
    t = np.arange(RATE) / RATE
    sine = 10 ** (-100 / 20) * np.sin(2 * np.pi * 997 * t)  # -100 dBFS: 0.33 LSB peak
    block = np.stack([sine, sine], axis=1).astype(np.float32)
    encoder = BlockEncoder("S16_LE", 2, 1024, dither_seed=7)
    codes = np.concatenate([  # copies: each encode reuses the encoder's buffer
        np.frombuffer(encoder.encode(block[start:start + 1024]), "<i2").reshape(-1, 2).copy()
        for start in range(0, RATE, 1024)])
    error_lsb = codes - block.astype(np.float64) / lsb

    assert np.count_nonzero(codes) > RATE // 2
    # TPDF of ±1 LSB (variance 1/6) plus rounding (1/12): 0.5 LSB RMS in all.
    assert np.sqrt(np.mean(error_lsb**2)) == pytest.approx(0.5, abs=0.02)
    assert abs(error_lsb.mean()) < 0.01
    assert np.abs(error_lsb).max() <= 1.5
    # On average the output follows the sine that plain rounding would erase.
    recovered = 2 * np.mean(codes[:, 0] * np.sin(2 * np.pi * 997 * t)) * lsb
    assert recovered == pytest.approx(10 ** (-100 / 20), rel=0.05)


def test_the_same_seed_gives_the_same_dither():
    block = noise_block(1024) * 1e-4
    first = bytes(BlockEncoder("S16_LE", 2, 1024, dither_seed=3).encode(block))
    again = bytes(BlockEncoder("S16_LE", 2, 1024, dither_seed=3).encode(block))
    other = bytes(BlockEncoder("S16_LE", 2, 1024, dither_seed=4).encode(block))
    assert first == again
    assert first != other


@pytest.mark.parametrize("fmt", SAMPLE_FORMATS)
def test_digital_silence_stays_exact_zero_even_right_after_music(fmt):
    encoder = BlockEncoder(fmt, 4, 1024, output_pair=2)
    encoder.encode(noise_block(1024))
    silence = bytes(encoder.encode(np.zeros((1024, 2), np.float32)))
    assert silence == bytes(1024 * encoder.frame_bytes)


def test_s24_3le_packs_three_little_endian_bytes_per_sample():
    step = 2.0**-23
    block = np.array([[0.5, -step], [step, -0.5]], np.float32)
    data = bytes(BlockEncoder("S24_3LE", 2, 2).encode(block))
    #                 0x400000        -1 = 0xffffff   1 = 0x000001    -0x400000 = 0xc00000
    assert data == b"\x00\x00\x40" b"\xff\xff\xff" b"\x01\x00\x00" b"\x00\x00\xc0"


def test_s24_le_sign_extends_into_the_fourth_byte():
    block = np.array([[-(2.0**-23), 0.5]], np.float32)
    assert bytes(BlockEncoder("S24_LE", 2, 1).encode(block)) == (
        b"\xff\xff\xff\xff" b"\x00\x00\x40\x00")


def test_encoding_reuses_one_buffer_instead_of_allocating():
    encoder = BlockEncoder("S24_3LE", 2, 1024)
    first = encoder.encode(noise_block(1024, seed=1))
    second = encoder.encode(noise_block(512, seed=2))
    assert len(second) == 512 * encoder.frame_bytes
    assert np.shares_memory(np.frombuffer(first, np.uint8), np.frombuffer(second, np.uint8))


def test_a_nan_from_a_corrupt_file_becomes_silence_not_a_click():
    block = np.array([[np.nan, 0.25]], np.float32)
    decoded = decode(BlockEncoder("S16_LE", 2, 1).encode(block), "S16_LE", 2)
    assert abs(decoded[0, 0]) <= 2.0**-15
    assert decoded[0, 1] == pytest.approx(0.25, abs=2 * 2.0**-15)


def test_a_block_over_the_maximum_or_not_stereo_is_refused():
    encoder = BlockEncoder("S16_LE", 2, 16)
    with pytest.raises(ValueError, match="maximum"):
        encoder.encode(np.zeros((17, 2), np.float32))
    with pytest.raises(ValueError, match="2 or 4"):
        encoder.encode(np.zeros((16, 1), np.float32))


@pytest.mark.parametrize("fmt", SAMPLE_FORMATS)
@pytest.mark.parametrize("channels", [1, 2])
def test_nan_and_infinity_become_silence_and_full_scale_never_a_wrapped_click(fmt, channels):
    block = np.array([[np.nan, np.nan], [np.inf, np.inf], [-np.inf, -np.inf],
                      [0.25, 0.25]], np.float32)
    decoded = decode(BlockEncoder(fmt, channels, 4).encode(block), fmt, channels)
    lsb = STEP[fmt]
    np.testing.assert_allclose(decoded[:, 0], [0.0, 1.0 - lsb, -1.0, 0.25], atol=2 * lsb)


def test_dither_is_fresh_in_every_block_of_a_long_stream():
    encoder = BlockEncoder("S16_LE", 2, 256)
    quiet = noise_block(256) * 1e-4
    encoded = {bytes(encoder.encode(quiet)) for _ in range(200)}
    assert len(encoded) == 200


def test_a_block_that_is_a_strided_view_encodes_as_its_copy():
    music = noise_block(2048)
    view = music[::2]
    for fmt in SAMPLE_FORMATS:
        as_view = bytes(BlockEncoder(fmt, 2, 1024).encode(view))
        as_copy = bytes(BlockEncoder(fmt, 2, 1024).encode(np.ascontiguousarray(view)))
        assert as_view == as_copy


@pytest.mark.parametrize("fmt", ["S24_3LE", "S24_LE", "S32_LE", "FLOAT_LE"])
def test_long_and_short_blocks_clip_and_convert_alike(fmt):
    loud = noise_block(8192) * 1.5
    whole = bytes(BlockEncoder(fmt, 2, 8192).encode(loud))
    encoder = BlockEncoder(fmt, 2, 1024)
    pieces = b"".join(bytes(encoder.encode(loud[i:i + 1024])) for i in range(0, 8192, 1024))
    assert whole == pieces
    assert np.abs(decode(whole, fmt, 2)).max() <= 1.0


@pytest.mark.parametrize("fmt", SAMPLE_FORMATS)
@pytest.mark.parametrize(("channels", "pair", "cue"), [(4, 1, 2), (4, 2, 1), (8, 2, 4)])
def test_the_cue_bus_lands_on_its_own_pair_and_the_rest_stay_silent(fmt, channels, pair,
                                                                     cue):
    buses = np.concatenate([noise_block(256, seed=1), noise_block(256, seed=2) * 0.5], 1)
    encoder = BlockEncoder(fmt, channels, 256, output_pair=pair, cue_pair=cue)
    decoded = decode(encoder.encode(buses), fmt, channels)
    tolerance = 2 * STEP[fmt] + 1e-7
    np.testing.assert_allclose(decoded[:, 2 * pair - 2:2 * pair], buses[:, :2], atol=tolerance)
    np.testing.assert_allclose(decoded[:, 2 * cue - 2:2 * cue], buses[:, 2:], atol=tolerance)
    others = [c for c in range(channels) if c // 2 + 1 not in (pair, cue)]
    assert not decoded[:, others].any()


@pytest.mark.parametrize("fmt", SAMPLE_FORMATS)
def test_a_silent_bus_is_exact_digital_silence_beside_a_sounding_one(fmt):
    """Music with no click leaves the drummer's ears in true silence, not dither; a
    count-in before the song leaves the audience's in it."""
    encoder = BlockEncoder(fmt, 4, 256, cue_pair=2)
    music = np.concatenate([noise_block(256), np.zeros((256, 2), np.float32)], 1)
    assert not decode(encoder.encode(music), fmt, 4)[:, 2:].any()
    assert not decode(encoder.encode(music[:, :2]), fmt, 4)[:, 2:].any()
    count_in = music[:, ::-1].copy()
    decoded = decode(encoder.encode(count_in), fmt, 4)
    assert not decoded[:, :2].any()
    assert decoded[:, 2:].any()


def test_a_cue_bus_with_no_pair_to_go_to_is_dropped_never_mixed_into_the_main_pair():
    buses = np.concatenate([noise_block(256, seed=1), noise_block(256, seed=2)], 1)
    main_only = bytes(BlockEncoder("S24_3LE", 2, 256).encode(buses[:, :2]))
    assert bytes(BlockEncoder("S24_3LE", 2, 256).encode(buses)) == main_only
    assert decode(BlockEncoder("S24_3LE", 1, 256).encode(buses), "S24_3LE", 1) \
        == pytest.approx((buses[:, :1] + buses[:, 1:2]) / 2, abs=2 * STEP["S24_3LE"])


def test_encoding_with_a_cue_bus_reuses_one_buffer_instead_of_allocating():
    encoder = BlockEncoder("S16_LE", 4, 1024, cue_pair=2)
    buses = np.concatenate([noise_block(1024, seed=1), noise_block(1024, seed=2)], 1)
    first = encoder.encode(buses)
    second = encoder.encode(buses[:512, :2])
    assert np.shares_memory(np.frombuffer(first, np.uint8), np.frombuffer(second, np.uint8))


def test_a_cue_pair_the_device_cannot_give_is_refused_with_the_reason():
    assert fit_cue_pair(4, 1, 2) == (2, "")
    assert fit_cue_pair(8, 1, 0) == (0, "")
    pair, warning = fit_cue_pair(2, 1, 2)
    assert pair == 0 and "needs 4 outputs" in warning and "plays 2" in warning
    pair, warning = fit_cue_pair(4, 2, 2)
    assert pair == 0 and "main pair" in warning
    with pytest.raises(ValueError, match="cue pair 2"):
        BlockEncoder("S16_LE", 2, 64, cue_pair=2)
