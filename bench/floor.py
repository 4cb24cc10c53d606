"""The floor of the throughput benchmark: decode and resample alone, nothing written.

``python -m bench.floor FILE RATE`` decodes ``FILE`` with soundfile and resamples it to
``RATE`` with soxr at high quality (the libraries, block size and quality of stagebox's
decoder), and throws the result away. Like the decoder, it reads without soundfile's seek
after every block (see :class:`SequentialSoundFile`), which costs more than the decoding.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile
import soxr

from stagebox.audio.decode_worker import BLOCK_FRAMES


class SequentialSoundFile(soundfile.SoundFile):
    """A SoundFile that says it cannot seek, so each read is not followed by a seek."""

    def seekable(self) -> bool:
        return False


def decode_and_resample(path: Path, rate: int) -> int:
    """Decode ``path`` and resample it to ``rate``; return the frames produced."""
    produced = 0
    with SequentialSoundFile(path) as source:
        resampler = soxr.ResampleStream(source.samplerate, rate, source.channels,
                                        dtype="float32", quality="HQ")
        block = np.zeros((BLOCK_FRAMES, source.channels), np.float32)
        while frames := len(source.read(out=block)):
            produced += len(resampler.resample_chunk(block[:frames]))
        produced += len(resampler.resample_chunk(block[:0], last=True))
    return produced


def main(argv: list[str] | None = None) -> int:
    """Decode and resample the file named on the command line."""
    path, rate = (argv if argv is not None else sys.argv[1:])
    decode_and_resample(Path(path), int(rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
