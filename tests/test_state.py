"""What is remembered survives, and a broken state file never breaks the box."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from stagebox.state import ResumePoint, SavedState, StateStore


def test_a_saved_state_reads_back(tmp_path: Path):
    store = StateStore(tmp_path / "state")
    state = SavedState(volume_db=-3.0, after_song="next", setlists={"GIG": "setlists/a.txt"},
                       resume=ResumePoint("GIG", "setlist.txt", 2, "b.flac", 61.5))
    store.save(state)
    assert store.load() == (state, None)


def test_a_missing_file_is_the_defaults_silently(tmp_path: Path):
    assert StateStore(tmp_path).load() == (SavedState(), None)


def test_a_broken_or_strange_file_gives_the_defaults_and_a_warning(tmp_path: Path):
    store = StateStore(tmp_path)
    store.path.write_text('{"volume_db": -3.0, "after')
    state, warning = store.load()
    assert state == SavedState() and "unreadable" in warning
    store.path.write_text('{"volume_db": 99, "after_song": "stop", "setlists": [1]}')
    assert store.load() == (SavedState(after_song="stop"), None)


WRITER = """
import sys
from pathlib import Path
from stagebox.state import ResumePoint, SavedState, StateStore
store = StateStore(Path(sys.argv[1]))
i = 0
while True:
    i += 1
    store.save(SavedState(volume_db=-float(i % 40), setlists={"S": "x" * (i % 5000)}))
"""


def test_a_writer_killed_at_any_moment_leaves_the_old_or_the_new_state(tmp_path: Path):
    store = StateStore(tmp_path)
    store.save(SavedState(volume_db=0.0))
    for delay_s in (0.05, 0.11, 0.17, 0.23, 0.31):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)])
        try:
            writer.wait(timeout=delay_s)
        except subprocess.TimeoutExpired:
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait()
        state, warning = store.load()
        assert warning is None
        assert state.volume_db is not None and state.volume_db <= 0.0


def test_a_resume_point_with_wrong_types_is_dropped_not_trusted(tmp_path: Path):
    store = StateStore(tmp_path)
    store.path.write_text('{"volume_db": -2, "resume": {"stick": "GIG", "setlist": "s", '
                          '"index": "2", "path": "x", "position_s": 3}}')
    assert store.load() == (SavedState(volume_db=-2), None)
