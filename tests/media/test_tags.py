"""Titles from the tags real tools write: iTunes (MP4), Windows Media Player (ASF), Opus
encoders, recorders and editors writing WAV (LIST/INFO, ID3 chunks), and broken WAVs."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import mutagen
import numpy as np
import pytest
import soundfile
from mutagen.id3 import ID3, TIT2
from sticks import RATE, encoded

from stagebox.media.tags import TITLE_LIMIT, TitleCache, read_title


def chunk(chunk_id: bytes, body: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)


def info_list(title: bytes) -> bytes:
    return chunk(b"LIST", b"INFO" + chunk(b"ISFT", b"Recorder 2.1\0") + chunk(b"INAM", title))


def id3_bytes(title: str) -> bytes:
    tags = ID3()
    tags.add(TIT2(encoding=3, text=[title]))
    out = io.BytesIO()
    tags.save(out)
    return out.getvalue()


def wav(path: Path, *chunks: bytes, riff_size: int | None = None,
        data_size: int | None = None) -> Path:
    """A 16-bit mono WAV with ``chunks`` before its data; sizes as given (a recorder that
    lost power leaves 0)."""
    fmt = chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, RATE, 2 * RATE, 2, 16))
    audio = np.zeros(960, np.int16).tobytes()
    data = b"data" + struct.pack("<I", len(audio) if data_size is None else data_size) + audio
    body = b"WAVE" + fmt + b"".join(chunks) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size)
                     + body)
    return path


@pytest.mark.parametrize(("name", "codec", "container", "key", "value"), [
    ("01 Track.m4a", "aac", "ipod", "\xa9nam", ["Hallelujah (live)"]),  # iTunes
    ("Track 1.wma", "wmav2", "asf", "Title", "Wonderwall"),  # Windows Media Player
    ("voice memo.opus", "libopus", "ogg", "title", ["Demo take 3"]),
])
def test_titles_from_the_tags_of_formats_ffmpeg_plays(tmp_path: Path, name: str, codec: str,
                                                      container: str, key: str,
                                                      value: str | list[str]) -> None:
    path = encoded(tmp_path / name, codec, container)
    tagged = mutagen.File(path)
    tagged.tags[key] = value
    tagged.save()
    assert read_title(path) == (value if isinstance(value, str) else value[0])


def test_wav_list_info_title_as_libsndfile_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "take.wav"
    with soundfile.SoundFile(path, "w", RATE, 1, format="WAV") as out:
        out.title = "Opening Jam"
        out.write(np.zeros(960, np.float32))
    assert read_title(path) == "Opening Jam"


def test_wav_info_title_in_windows_ansi(tmp_path: Path) -> None:
    path = wav(tmp_path / "take.wav", info_list("Café del Mar\0".encode("cp1252")))
    assert read_title(path) == "Café del Mar"


def test_a_recorder_s_wav_with_zero_sizes_keeps_its_title(tmp_path: Path) -> None:
    path = wav(tmp_path / "ZOOM0001.WAV", info_list(b"Soundcheck\0"), riff_size=0,
               data_size=0)
    assert read_title(path) == "Soundcheck"


@pytest.mark.parametrize("chunk_id", [b"id3 ", b"ID3 "])
def test_wav_id3_chunk_title_wins_over_info(tmp_path: Path, chunk_id: bytes) -> None:
    path = wav(tmp_path / "mix.wav", info_list(b"MIX_v3\0"),
               chunk(chunk_id, id3_bytes("Final Mix ♪")))
    assert read_title(path) == "Final Mix ♪"


def test_a_broken_id3_chunk_leaves_the_info_title(tmp_path: Path) -> None:
    path = wav(tmp_path / "mix.wav", chunk(b"id3 ", b"ID3\x04\0\0\x7f\x7f\x7f\x7fjunk"),
               info_list(b"Rough mix\0"))
    assert read_title(path) == "Rough mix"


def test_wav_chunks_that_lie_about_their_size_cost_only_the_title(tmp_path: Path) -> None:
    lying = b"LIST" + struct.pack("<I", 0xFFFFFFF0) + b"INFO" + chunk(b"INAM", b"x\0")
    assert read_title(wav(tmp_path / "a.wav", lying)) is None
    inner_lie = chunk(b"LIST", b"INFO" + b"INAM" + struct.pack("<I", 1 << 30) + b"Lie\0")
    assert read_title(wav(tmp_path / "b.wav", inner_lie)) == "Lie"
    assert read_title(wav(tmp_path / "c.wav", chunk(b"LIST", b"INF"))) is None


def test_a_wav_title_is_printable_and_capped(tmp_path: Path) -> None:
    path = wav(tmp_path / "a.wav", info_list(b"Line\nbreak\x1b[2J" + b"x" * 500 + b"\0"))
    title = read_title(path)
    assert title is not None
    assert title.startswith("Line?break?[2J") and len(title) == TITLE_LIMIT


def test_wav_titles_go_through_the_title_cache(tmp_path: Path) -> None:
    path = wav(tmp_path / "a.wav", info_list(b"Cached\0"))
    cache = TitleCache()
    assert cache.title(path) == "Cached" and cache.changed
    again = TitleCache.from_json(cache.to_json(), read=lambda _: pytest.fail("read again"))
    assert again.title(path) == "Cached"
