"""The shared ring between a decoder and the player: frames cross whole, in order, and a
decoder can neither run over unread frames nor pull the memory from under the player."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from stagebox.audio import ring
from stagebox.audio.ring import COUNT, CountReceiver, RingWriter


def frames_numbered(start: int, count: int) -> np.ndarray:
    """Frames whose samples say where they are, so any loss or reordering shows."""
    numbers = np.arange(start, start + count, dtype=np.float32)
    return np.stack([numbers, -numbers], 1)


def test_the_player_and_the_decoder_see_the_same_frames() -> None:
    fd, player_side = ring.create(64)
    try:
        decoder_side = ring.attach(fd)
    finally:
        os.close(fd)
    decoder_side[:10] = frames_numbered(0, 10)
    np.testing.assert_array_equal(player_side[:10], frames_numbered(0, 10))
    assert player_side.shape == (64, 2) and player_side.dtype == np.float32


@pytest.mark.parametrize("size", [0, 8, 1 << 20])
def test_a_decoder_cannot_resize_the_ring(size: int) -> None:
    # Shrinking it would make the player's next read a SIGBUS.
    fd, _ = ring.create(64)
    try:
        with pytest.raises(PermissionError):
            os.ftruncate(fd, size)
        assert os.fstat(fd).st_size == 64 * ring.BYTES_PER_FRAME
    finally:
        os.close(fd)


def test_counts_split_across_reads_come_out_whole_and_the_newest_wins() -> None:
    records = COUNT.pack(300) + COUNT.pack(7_000_000_000) + COUNT.pack(9)[:3]
    receiver = CountReceiver()
    assert receiver.latest(records[:5]) is None
    assert receiver.latest(records[5:]) == 7_000_000_000
    assert receiver.latest(COUNT.pack(9)[3:]) == 9


def test_frames_put_across_the_ring_end_wrap_round_and_come_back_in_order() -> None:
    frames = np.zeros((100, 2), np.float32)
    song = frames_numbered(0, 50)
    ring.put(frames, 970, song)
    np.testing.assert_array_equal(frames[70:], song[:30])
    np.testing.assert_array_equal(frames[:20], song[30:])
    heard = np.zeros((50, 2), np.float32)
    ring.take(frames, 970, heard)
    np.testing.assert_array_equal(heard, song)


def test_the_writer_waits_for_room_and_never_runs_over_unread_frames() -> None:
    fd, player_side = ring.create(100)
    counts_read, counts_write = os.pipe()
    room_read, room_write = os.pipe()
    try:
        writer = RingWriter(ring.attach(fd), counts_write, room_read)
        song = frames_numbered(0, 1000)

        def decode() -> None:
            # Its counts pipe closes as it ends, however it ends: a writer that raised
            # fails the test below instead of leaving the player waiting. It flushes at
            # the end, as the real decoder does: the last frames' count may be held back
            # until then, however the two threads happen to be scheduled.
            with os.fdopen(counts_write, "wb", buffering=0):
                for i in range(0, len(song), 77):
                    writer.put(song[i:i + 77])
                writer.flush()

        decoder = threading.Thread(target=decode)
        decoder.start()
        heard, receiver, read = [], CountReceiver(), 0
        while read < len(song):
            received = os.read(counts_read, 4096)
            assert received, "the decoder ended before the song did"
            written = receiver.latest(received)
            if written is None:
                continue
            assert written - read <= 100, "the decoder ran over frames not yet read"
            for frame in range(read, written):
                heard.append(player_side[frame % 100].copy())
            read = written
            os.write(room_write, COUNT.pack(read))
        decoder.join()
    finally:
        for end in (fd, counts_read, room_read, room_write):
            os.close(end)
    np.testing.assert_array_equal(np.array(heard), song)


def test_the_player_hears_of_the_first_frames_at_once_and_of_every_frame_in_the_end(
        ) -> None:
    # Counts may come less often than puts (each one wakes the player), but a song's
    # first frames must not wait, and no frame may be held back when the decoder waits
    # for room or ends: the player would wait for it as the decoder waits for the player.
    fd, _ = ring.create(1000)
    counts_read, counts_write = os.pipe()
    room_read, room_write = os.pipe()
    os.set_blocking(counts_read, False)

    def newest_told() -> int | None:
        try:
            return CountReceiver().latest(os.read(counts_read, 4096))
        except BlockingIOError:
            return None

    try:
        writer = RingWriter(ring.attach(fd), counts_write, room_read)
        writer.put(frames_numbered(0, 100))
        assert newest_told() == 100
        for _ in range(5):
            writer.put(frames_numbered(0, 100))
        writer.put(frames_numbered(0, 50))
        newest_told()
        writer.flush()
        assert newest_told() == 650
        # 350 frames fill the ring: the count goes out before the writer waits for the
        # room the player has made (500), then puts the last 50.
        os.write(room_write, COUNT.pack(500))
        writer.put(frames_numbered(0, 400))
        assert newest_told() == 1000
        writer.flush()
        assert newest_told() == 1050
    finally:
        for end in (fd, counts_read, counts_write, room_read, room_write):
            os.close(end)


def test_a_player_that_lets_go_ends_the_decoder() -> None:
    fd, _ = ring.create(16)
    counts_read, counts_write = os.pipe()
    room_read, room_write = os.pipe()
    try:
        writer = RingWriter(ring.attach(fd), counts_write, room_read)
        os.close(room_write)
        with pytest.raises(BrokenPipeError):
            writer.put(frames_numbered(0, 17))
    finally:
        for end in (fd, counts_read, counts_write, room_read):
            os.close(end)


def test_a_count_to_a_full_pipe_or_a_gone_decoder_is_dropped_not_blocked() -> None:
    room_read, room_write = os.pipe()
    os.set_blocking(room_write, False)
    try:
        for count in range(20_000):
            ring.send_count(room_write, count)
        os.close(room_read)
        ring.send_count(room_write, 20_000)
    finally:
        os.close(room_write)
