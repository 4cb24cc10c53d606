"""A root file system booted for real with ``systemd-nspawn -b``, driven from outside.

The rootfs is laid over as an overlay (the cached one stays as it is), booted with the
settings that make nspawn enforce what the units ask for (the BPF device and firewall
programs need the unified cgroup hierarchy, all capabilities and the bpf system call),
and stopped by SIGTERM to nspawn, which shuts the container down in order. Commands run
inside through ``nsenter`` into the container's init: no machined, no network.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from rootfs import Overlay, need

BOOT_LIMIT_S = 240.0
"""The longest any wait here lasts: far beyond a boot on a loaded 2-core machine, so it
only ends a test that would otherwise hang."""


class Container:
    """``lower`` booted as machine ``name``, its changes kept in ``work``.

    ``binds`` are (host folder, container path) pairs bound read-only. Use as a context
    manager; change :attr:`root` before :meth:`boot`.
    """

    def __init__(self, lower: Path, work: Path, name: str,
                 binds: tuple[tuple[Path, str], ...] = ()) -> None:
        self._overlay = Overlay(lower, work)
        self.root = self._overlay.root
        self.log = work / "console.log"
        self._name = name
        self._binds = binds
        self._nspawn: subprocess.Popen | None = None

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def boot(self) -> None:
        """Start the container's systemd; returns once its init is running."""
        args = [need("systemd-nspawn"), "--quiet", "--keep-unit", "--register=no",
                f"--machine={self._name}", f"--directory={self.root}", "--console=passive",
                "--capability=all", "--system-call-filter=bpf"]
        args += [f"--bind-ro={host}:{inside}" for host, inside in self._binds]
        env = {**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}
        with self.log.open("wb") as log:
            self._nspawn = subprocess.Popen([*args, "--boot"], stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, env=env)
        self.wait_for(lambda: self._leader() is not None, "the container's init")
        self.wait_for(lambda: self.run("systemctl", "is-system-running").stdout.strip()
                      not in ("", "initializing", "starting"), "the container's boot")

    def run(self, *command: str, check: bool = False) -> subprocess.CompletedProcess:
        """``command`` inside the container, as root, with its output."""
        leader = self._leader()
        assert leader is not None, "the container is not running"
        return subprocess.run([need("nsenter"), f"--target={leader}", "--all", *command],
                              capture_output=True, text=True, check=check, timeout=120)

    def unit(self, unit: str, *properties: str) -> dict[str, str]:
        """``systemctl show`` of ``unit`` inside the container."""
        shown = self.run("systemctl", "show", unit, *(f"--property={p}" for p in properties),
                         check=True).stdout
        return dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)

    def journal(self, unit: str) -> str:
        """What ``unit`` wrote to the journal since boot, messages only."""
        return self.run("journalctl", "--boot", f"--unit={unit}", "--output=cat",
                        "--no-pager", check=True).stdout

    def host_pid(self, inside_pid: int) -> int:
        """The host's PID of the container's process ``inside_pid``."""
        leader = self._leader()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                status = (entry / "status").read_text()
                same_ns = os.readlink(entry / "ns/pid") == os.readlink(f"/proc/{leader}/ns/pid")
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("NSpid:"):
                    pids = line.split()[1:]
                    if same_ns and len(pids) > 1 and pids[-1] == str(inside_pid):
                        return int(pids[0])
        raise AssertionError(f"no host PID for the container's {inside_pid}")

    def wait_for(self, ready: Callable[[], bool], what: str) -> None:
        """Poll ``ready`` until it holds; fail (with the console's tail) if the container
        ends or :data:`BOOT_LIMIT_S` passes first."""
        deadline = time.monotonic() + BOOT_LIMIT_S
        while not ready():
            if self._nspawn is not None and self._nspawn.poll() is not None:
                raise AssertionError(f"the container ended waiting for {what}:\n"
                                     + self.log.read_text(errors="replace")[-3000:])
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} after {BOOT_LIMIT_S:.0f} s; the journal "
                                     f"ends:\n{self._journal_tail()}")
            time.sleep(0.2)

    def _journal_tail(self) -> str:
        shown = self.run("journalctl", "--boot", "--no-pager", "--lines=60")
        return shown.stdout + shown.stderr

    def wait_for_power_off(self) -> int:
        """Wait for the container to power itself off; nspawn's exit status."""
        assert self._nspawn is not None, "the container was never booted"
        self.wait_for(lambda: self._nspawn is None or self._nspawn.poll() is not None
                      or self.run("true").returncode != 0, "the power-off")
        return self._nspawn.wait(timeout=BOOT_LIMIT_S)

    def close(self) -> None:
        """Shut the container down (in order, else killed) and remove the overlay."""
        if self._nspawn is not None and self._nspawn.poll() is None:
            self._nspawn.send_signal(signal.SIGTERM)
            try:
                self._nspawn.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._nspawn.kill()
                self._nspawn.wait()
        self._overlay.close()

    def _leader(self) -> int | None:
        """The container's init, as the host sees it: nspawn's child."""
        if self._nspawn is None or self._nspawn.poll() is not None:
            return None
        children = Path(f"/proc/{self._nspawn.pid}/task/{self._nspawn.pid}/children")
        try:
            pids = children.read_text().split()
        except OSError:
            return None
        return int(pids[0]) if pids else None
