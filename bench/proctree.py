"""CPU and memory of a process and all its descendants, read from ``/proc``.

CPU counts each live process's own time plus the time of the children it has reaped
(``cutime``/``cstime``), so a decoder that ends between two readings is still counted (the
decoder launcher reaps the decoders it forks, and the box reaps the launcher).
Memory is the sum of the processes' resident sets, plus the memory files (``memfd``) they
hold open: a song read into RAM lives in one, and those pages show in no process's RSS
because they are read by descriptor, never mapped. A memory file that is mapped (the ring
a decoder fills) is in the resident sets already and is not counted again.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name, or None if it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``, children first."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    pending = list(children.get(pid, []))
    while pending:
        child = pending.pop(0)
        found.append(child)
        pending += children.get(child, [])
    return found


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its descendants, reaped
    ones included."""
    ticks = 0
    for member in (pid, *descendants(pid)):
        fields = _stat_fields(member)
        if fields is not None:
            # utime, stime, cutime, cstime: fields 14-17 of stat, 12-15 after the name.
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / CLOCK_TICKS_PER_S


def process_cpu_s(pid: int) -> float:
    """CPU seconds used so far by ``pid`` itself (all its threads, ended ones included)."""
    fields = _stat_fields(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


def thread_cpu_s(pid: int, native_id: int) -> float:
    """CPU seconds used so far by one thread of ``pid`` (0 if it has ended)."""
    try:
        text = (PROC / str(pid) / "task" / str(native_id) / "stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


@dataclass(frozen=True)
class TreeMemory:
    """One reading of a process tree's memory."""

    rss_bytes: int
    memfd_bytes: int
    processes: int
    root_rss_bytes: int
    """The resident set of the tree's root alone (the box, without its decoders)."""
    pss_bytes: int
    """The proportional set sizes summed: pages shared by several processes of the tree
    (the libraries each one loads, the pages decoders share with the launcher they were
    forked from) counted once, where the resident sets count them in each process."""
    root_pss_bytes: int
    """The proportional set size of the tree's root alone."""

    @property
    def total_bytes(self) -> int:
        """Resident sets plus memory files: what the tree takes from RAM."""
        return self.rss_bytes + self.memfd_bytes


def tree_memory(pid: int) -> TreeMemory:
    """The resident sets of ``pid`` and its descendants, and their memory files (each
    counted once, however many processes hold it)."""
    root_rss_bytes = rss_bytes = _kb_field(pid, "status", "VmRSS:")
    root_pss_bytes = pss_bytes = _kb_field(pid, "smaps_rollup", "Pss:")
    memfds = _memfds(pid)
    members = descendants(pid)
    for member in members:
        rss_bytes += _kb_field(member, "status", "VmRSS:")
        pss_bytes += _kb_field(member, "smaps_rollup", "Pss:")
        memfds.update(_memfds(member))
    return TreeMemory(rss_bytes, sum(memfds.values()), 1 + len(members), root_rss_bytes,
                      pss_bytes, root_pss_bytes)


def _kb_field(pid: int, file: str, field: str) -> int:
    """A ``Name:  N kB`` line of ``/proc/PID/FILE`` in bytes; 0 if the process is gone."""
    try:
        text = (PROC / str(pid) / file).read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0


def _memfds(pid: int) -> dict[tuple[int, int], int]:
    """The memory files ``pid`` has open and does not map, by (device, inode), with their
    sizes."""
    found: dict[tuple[int, int], int] = {}
    fd_dir = PROC / str(pid) / "fd"
    try:
        fds = os.listdir(fd_dir)
        mapped = _mapped_memfd_inodes(pid)
    except OSError:
        return found
    for fd in fds:
        try:
            if not os.readlink(fd_dir / fd).startswith("/memfd:"):
                continue
            info = os.stat(fd_dir / fd)
        except OSError:
            continue
        if info.st_ino not in mapped:
            found[info.st_dev, info.st_ino] = info.st_size
    return found


def _mapped_memfd_inodes(pid: int) -> set[int]:
    """The inodes of the memory files mapped into ``pid`` (from ``/proc/PID/maps``: address,
    permissions, offset, device, inode, path)."""
    inodes = set()
    for line in (PROC / str(pid) / "maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith("/memfd:"):
            inodes.add(int(fields[4]))
    return inodes


class PeakMemorySampler:
    """Samples :func:`tree_memory` of ``pid`` on a thread of its own until :meth:`stop`.

    Keeps the largest total seen, and the largest resident sum and memory-file sum
    (which need not come from the same reading), and the largest total by proportional
    set sizes (and their sum alone, and the root's).
    """

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak_total_bytes = 0
        self.peak_rss_bytes = 0
        self.peak_memfd_bytes = 0
        self.peak_processes = 0
        self.peak_root_rss_bytes = 0
        self.peak_pss_total_bytes = 0
        self.peak_pss_bytes = 0
        self.peak_root_pss_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def start(self) -> PeakMemorySampler:
        """Start sampling; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            reading = tree_memory(self.pid)
            if reading.processes and reading.rss_bytes:
                self.samples += 1
                self.peak_total_bytes = max(self.peak_total_bytes, reading.total_bytes)
                self.peak_rss_bytes = max(self.peak_rss_bytes, reading.rss_bytes)
                self.peak_memfd_bytes = max(self.peak_memfd_bytes, reading.memfd_bytes)
                self.peak_processes = max(self.peak_processes, reading.processes)
                self.peak_root_rss_bytes = max(self.peak_root_rss_bytes,
                                               reading.root_rss_bytes)
                self.peak_pss_total_bytes = max(self.peak_pss_total_bytes,
                                                reading.pss_bytes + reading.memfd_bytes)
                self.peak_pss_bytes = max(self.peak_pss_bytes, reading.pss_bytes)
                self.peak_root_pss_bytes = max(self.peak_root_pss_bytes,
                                               reading.root_pss_bytes)
            self._stop.wait(self.interval_s)

