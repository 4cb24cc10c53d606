"""What is remembered survives, and a broken state file never breaks the box."""

import errno
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert store.load() == (SavedState(after_song="stop"),
                            "State file: bad volume_db, setlists ignored")


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
    assert store.load() == (SavedState(volume_db=-2), "State file: bad resume ignored")


RESUME = '"resume": {"stick": "GIG", "setlist": "s", "index": 2, "path": "x", "position_s": '


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_link(path: Path) -> None:
    target = path.with_name("elsewhere.json")
    target.write_text('{"volume_db": -3}')
    path.symlink_to(target)


def make_folder(path: Path) -> None:
    path.mkdir()


@pytest.mark.parametrize("content", [
    "[" * 2000 + "]" * 2000,
    '{"a":' * 2000 + "1" + "}" * 2000,
    '{"volume_db": -3, "setlists": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "{" + RESUME + "1e400}}",
    "{" + RESUME + "NaN}}",
    "{" + RESUME + "Infinity}}",
    '{"volume_db": -Infinity}',
    '{"volume_db": NaN}',
    '{"volume_db": -3' + " " * 2_000_000 + "}",
    '{"volume_db": -3, "x": "' + "A" * 2_000_000 + '"}',
    '{"resume": {"stick": "GIG", "setlist": "s", "index": ' + "9" * 5000
    + ', "path": "x", "position_s": 1}}',
    "{" + RESUME + "90000.0}}",
    "{" + RESUME + "-1}}",
    "{" + RESUME + "true}}",
    "{" + RESUME + '1, "trainer_speed": 7}}',
    "{" + RESUME + '1, "trainer_speed": "fast"}}',
    "{" + RESUME + '1, "trainer_speed": NaN}}',
    '{"volume_db": "-3", "after_song": 1, "setlists": {"GIG": 2}, "resume": [1, 2]}',
    "[1, 2, 3]",
    '"just a string"',
    "",
    b"\xff\xfe{\x00}\x00",
    b'{"after_song": "st\xe9p"}',
    make_fifo,
    make_link,
    make_folder,
], ids=lambda c: c.__name__ if callable(c) else repr(c[:24]))
def test_any_content_gives_the_defaults_with_a_warning_and_never_raises(tmp_path: Path, content):
    store = StateStore(tmp_path)
    if callable(content):
        content(store.path)
    elif isinstance(content, bytes):
        store.path.write_bytes(content)
    else:
        store.path.write_text(content, encoding="utf-8")
    state, warning = store.load()
    assert warning, "the performer is told"
    assert state.resume is None
    assert state.volume_db is None or math.isfinite(state.volume_db)
    assert state.after_song is None and state.setlists is None


def test_a_sane_resume_point_is_kept_and_its_place_is_a_finite_number(tmp_path: Path):
    store = StateStore(tmp_path)
    store.path.write_text("{" + RESUME + "61.25}}", encoding="utf-8")
    assert store.load() == (SavedState(resume=ResumePoint("GIG", "s", 2, "x", 61.25)), None)
    store.path.write_text("{" + RESUME + '61.25, "trainer_speed": 0.9}}', encoding="utf-8")
    assert store.load() == (SavedState(resume=ResumePoint("GIG", "s", 2, "x", 61.25, 0.9)),
                            None)


def test_a_write_killed_part_way_leaves_nothing_after_the_next_start(tmp_path: Path):
    store = StateStore(tmp_path)
    store.save(SavedState(volume_db=-1.0))
    (tmp_path / ".state.json.4242.140.tmp").write_text('{"volume')
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / ".titles-0a1b2c3d.json.4242.140.tmp").write_text("[")
    (tmp_path / "cache" / "titles-0a1b2c3d.json").write_text("{}")
    assert store.remove_stale_temp_files() == 2
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["cache", "state.json",
                                                           "titles-0a1b2c3d.json"]
    assert store.load() == (SavedState(volume_db=-1.0), None)


def test_a_write_the_disk_refuses_leaves_no_temporary_file(tmp_path: Path, monkeypatch):
    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        StateStore(tmp_path).save(SavedState(volume_db=-1.0))
    assert list(tmp_path.iterdir()) == []
