"""The decoder under the service's MemoryDenyWriteExecute=: FFmpeg and libsndfile decode.

systemd's ``MemoryDenyWriteExecute=yes`` refuses memory that is both writable and
executable. A decoding library that needs it (a JIT, text relocations, an executable stack)
would fail every song of its formats on the box while every other test passes. The kernel's
own switch for the same rule, ``prctl(PR_SET_MDWE)`` (Linux 6.3), puts a decoder under it
here; each library the decoders load is also checked for what would need it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from stagebox.audio.memfile import load_into_memory

RATE = 48000
PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1

DECODE_UNDER_MDWE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl({set_mdwe}, {refuse}, 0, 0, 0) != 0:
    sys.exit(f"prctl(PR_SET_MDWE): {{os.strerror(ctypes.get_errno())}}")
from stagebox.audio import decode_worker
from stagebox.audio.request import DecodeRequest
sys.exit(decode_worker.run({fd}, DecodeRequest({rate})))
"""


def write_song(path: Path, codec: str, container: str) -> None:
    t = np.arange(RATE) / RATE
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=RATE, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.stack([wave, wave]), format="fltp",
                                           layout="stereo")
        frame.sample_rate = RATE
        for packet in stream.encode(frame):
            output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)


@pytest.mark.parametrize(("name", "codec", "container"), [
    ("song.mp3", "libmp3lame", "mp3"), ("song.m4a", "aac", "ipod"), ("song.flac", None, None)])
def test_a_decoder_refused_writable_executable_memory_still_decodes(
        tmp_path: Path, name: str, codec: str | None, container: str | None) -> None:
    path = tmp_path / name
    if codec is None:
        soundfile.write(path, np.zeros((RATE, 2), np.float32) + 0.1, RATE)
    else:
        write_song(path, codec, container)
    fd = load_into_memory(path, 1 << 30)
    try:
        code = DECODE_UNDER_MDWE.format(set_mdwe=PR_SET_MDWE, refuse=PR_MDWE_REFUSE_EXEC_GAIN,
                                        fd=fd, rate=RATE)
        result = subprocess.run([sys.executable, "-c", code], pass_fds=(fd,),
                                capture_output=True, check=False, timeout=60)
    finally:
        os.close(fd)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    header, _, frames = result.stdout.partition(b"\n")
    assert json.loads(header)["ok"]
    assert len(frames) // 8 >= 0.9 * RATE, "about a second of stereo float32"


def loaded_libraries() -> list[Path]:
    """The shared libraries the decoders load: FFmpeg's (from PyAV's wheel) and libsndfile."""
    libraries = sorted(Path(av.__file__).parent.parent.glob("av.libs/*.so*"))
    libraries += sorted(Path(av.__file__).parent.glob("**/*.so"))
    libraries += sorted(Path(soundfile.__file__).parent.glob("_soundfile_data/*.so*"))
    assert len(libraries) > 10, "PyAV's FFmpeg and soundfile's libsndfile are in the venv"
    return libraries


def test_no_decoding_library_needs_writable_executable_memory() -> None:
    for library in loaded_libraries():
        dynamic = subprocess.run(["readelf", "-dW", str(library)], capture_output=True,
                                 text=True, check=True).stdout
        program = subprocess.run(["readelf", "-lW", str(library)], capture_output=True,
                                 text=True, check=True).stdout
        assert "TEXTREL" not in dynamic, f"{library.name} has text relocations"
        stack = [line for line in program.splitlines() if "GNU_STACK" in line]
        assert not any("RWE" in line for line in stack), f"{library.name}: executable stack"
