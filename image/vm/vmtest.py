"""``make vm-test``: boot the appliance in QEMU and check it from outside.

One run: build (or take from the cache) the image for ARCH (``build-image.sh``), boot a
throw-away copy of it (a qcow2 overlay), hot-plug a USB stick and a USB audio interface
over QMP, run commands in the guest over a virtio serial port (``guest/sbvm-agent``), and
write every check's PASS or FAIL to ``CACHE/report-ARCH.md``. Exit status 1 if any check
failed. QEMU is stopped however the run ends (Ctrl-C included): it runs in a process group
of its own that ``VM.close`` kills; the image build mounts only in a private mount
namespace and uses no loop devices, so nothing else can be left behind.

Every wait is for an event (an answer, a mount, a log line, a state), polled, with an
overall limit generous enough for TCG on a loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = Path("/var/tmp/stagebox-vm-cache")
STICK_LABEL = "SONGS"
SONGS = (  # file name, tone in Hz, seconds: each song a tone of its own, told apart by FFT
    ("01 Tone A440.flac", 440.0, 120),
    ("02 Tone E660.wav", 660.0, 8),
)
SETLIST = "# make vm-test\n01 Tone A440.flac | midi=pc:5\n02 Tone E660.wav | then=stop\n"
SONG_1_MIDI = "c0 05"
"""Song 1's ``midi=pc:5`` on the default out channel 1, as bytes on the wire."""
PEDAL_NAME = "QEMU USB Keyboard"
"""In what the kernel calls QEMU's usb-kbd: a page turner is a USB keyboard to the kernel."""
EVIOCGRAB = 0x40044590
"""_IOW('E', 0x90, int): a grab of an event device already grabbed fails with EBUSY."""
BOOT_TIMEOUT_S = 1200.0
"""From QEMU's start to the agent's first answer: TCG arm64 on a busy machine is slow."""
EVENT_TIMEOUT_S = 300.0
STATE_DEVICE_TIMEOUT_S = 300
"""How long the guest waits for its state partition's device (a Pi waits 10 s)."""
FLOOD_WINDOW_S = 20
FLOOD_LIMIT_PER_S = 0.1
WAV_RATE = 48000


def log(message: str) -> None:
    """Progress on stderr, with the time since the start."""
    print(f"[vm-test {time.monotonic() - START:7.1f}s] {message}", file=sys.stderr, flush=True)


START = time.monotonic()


class TestFailure(Exception):
    """A check cannot go on (the guest did not answer, an event never came)."""


def wait_until(what: str, probe: Callable[[], Any], timeout_s: float = EVENT_TIMEOUT_S,
               interval_s: float = 1.0) -> Any:
    """Poll ``probe`` until it returns something true; that value. Raises TestFailure."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TestFailure(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


class LineSocket:
    """A Unix socket read as lines, by a thread, so a reader never blocks QEMU."""

    def __init__(self, path: Path, timeout_s: float = 60.0, copy_to: Path | None = None) -> None:
        self.sock = _connect(path, timeout_s)
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self._copy = copy_to.open("a", encoding="utf-8", errors="replace") if copy_to else None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                return
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            with self.cond:
                for raw in complete:
                    line = raw.decode("utf-8", "replace").rstrip("\r")
                    self.lines.append(line)
                    if self._copy:
                        self._copy.write(line + "\n")
                        self._copy.flush()
                self.cond.notify_all()

    def send(self, text: str) -> None:
        """Write ``text`` whole."""
        self.sock.sendall(text.encode())

    def close(self) -> None:
        """Close the socket (the reader thread ends)."""
        self.sock.close()


def _connect(path: Path, timeout_s: float) -> socket.socket:
    """Connect to QEMU's server socket, which appears a moment after QEMU starts."""
    deadline = time.monotonic() + timeout_s
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            return sock
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise TestFailure(f"QEMU never opened {path}") from None
            time.sleep(0.2)


class QMP:
    """QEMU's machine protocol: one command at a time, events kept for waiting on."""

    def __init__(self, path: Path) -> None:
        self.link = LineSocket(path)
        self._seen = 0
        self.events: list[dict[str, Any]] = []
        self._next_reply()  # the greeting
        self.execute("qmp_capabilities")

    def _next_reply(self, timeout_s: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        with self.link.cond:
            while True:
                while self._seen < len(self.link.lines):
                    message = json.loads(self.link.lines[self._seen])
                    self._seen += 1
                    if "event" in message:
                        self.events.append(message)
                    else:
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure("QMP did not answer")
                self.link.cond.wait(left)

    def execute(self, command: str, **arguments: Any) -> Any:
        """Run ``command``; its return value. Raises TestFailure with QEMU's error."""
        message: dict[str, Any] = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        self.link.send(json.dumps(message) + "\n")
        reply = self._next_reply()
        if "error" in reply:
            raise TestFailure(f"QMP {command}: {reply['error'].get('desc')}")
        return reply.get("return")

    def wait_event(self, name: str, timeout_s: float = 60.0, **data: Any) -> dict[str, Any]:
        """The first event ``name`` whose data includes ``data`` (consumed)."""
        def find() -> dict[str, Any] | None:
            with self.link.cond:
                while self._seen < len(self.link.lines):
                    message = json.loads(self.link.lines[self._seen])
                    self._seen += 1
                    if "event" in message:
                        self.events.append(message)
            for event in self.events:
                if event["event"] == name and data.items() <= event.get("data", {}).items():
                    self.events.remove(event)
                    return event
            return None
        return wait_until(f"QMP event {name}", find, timeout_s, 0.2)


class Agent:
    """Runs shell scripts in the guest as root through ``guest/sbvm-agent``."""

    def __init__(self, path: Path) -> None:
        self.link = LineSocket(path)
        self._count = 0

    def run(self, script: str, timeout_s: float = 120.0) -> tuple[int, str]:
        """Run ``script`` with bash in the guest: (exit status, output)."""
        self._count += 1
        ident = f"c{self._count}-{time.monotonic_ns()}"
        payload = base64.b64encode(script.encode()).decode()
        self.link.send(f"{ident} {payload}\n")
        deadline = time.monotonic() + timeout_s
        with self.link.cond:
            while True:
                answer = self._answer(ident)
                if answer is not None:
                    return answer
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure(f"the guest did not answer within {timeout_s:.0f} s: "
                                      f"{script.splitlines()[0][:80]}")
                self.link.cond.wait(left)

    def _answer(self, ident: str) -> tuple[int, str] | None:
        lines = self.link.lines
        for i, line in enumerate(lines):
            if line == f"SBVM-BEGIN {ident}" and i + 2 < len(lines):
                end = lines[i + 2].split()
                if end[:2] == ["SBVM-END", ident]:
                    output = base64.b64decode(lines[i + 1]).decode("utf-8", "replace")
                    del lines[: i + 3]
                    return int(end[2]), output
        return None

    def out(self, script: str, timeout_s: float = 120.0) -> str:
        """The output of ``script``, whatever its exit status."""
        return self.run(script, timeout_s)[1]

    def wait_ready(self, timeout_s: float) -> None:
        """Until the agent answers (it starts late in the boot, and after every reset)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.run("echo pong", timeout_s=30)[1].strip() == "pong":
                    return
            except TestFailure:
                continue
        raise TestFailure(f"the guest's agent never answered in {timeout_s:.0f} s")


@dataclass
class Check:
    """One named check of the report."""

    name: str
    proves: str
    passed: bool | None = None
    detail: str = ""


@dataclass
class Report:
    """The checks in order, and the timings, written as Markdown."""

    arch: str
    checks: list[Check] = field(default_factory=list)
    timings: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, name: str, proves: str) -> Check:
        """A new check, failed until it passes."""
        item = Check(name, proves)
        self.checks.append(item)
        return item

    def markdown(self) -> str:
        """The report's text."""
        failed = [c for c in self.checks if not c.passed]
        lines = [f"# stagebox vm-test: {self.arch}", "",
                 f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, "
                 f"{len(self.checks) - len(failed)} of {len(self.checks)} checks passed, "
                 f"{time.monotonic() - START:.0f} s in all.", "",
                 "| Check | Result | What it proves |", "| --- | --- | --- |"]
        for c in self.checks:
            lines.append(f"| {c.name} | {'PASS' if c.passed else 'FAIL'} | {c.proves} |")
        lines.append("")
        for c in self.checks:
            lines += [f"## {c.name}: {'PASS' if c.passed else 'FAIL'}", "", "```",
                      c.detail.strip() or "(nothing)", "```", ""]
        for title, text in self.timings:
            lines += [f"## {title}", "", "```", text.strip(), "```", ""]
        if self.notes:
            lines += ["## Notes", ""] + [f"- {n}" for n in self.notes] + [""]
        return "\n".join(lines)


class VM:
    """One QEMU process and its sockets; ``close`` always leaves nothing running."""

    def __init__(self, arch: str, image: Path, run: Path) -> None:
        self.arch = arch
        self.run_dir = run
        self.wav = run / "out.wav"
        self.accel = "tcg"
        overlay = run / "disk.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                        str(image / "disk.img"), str(overlay)], check=True)
        self.argv = self._argv(image, overlay)
        self.proc: subprocess.Popen[bytes] | None = None

    def _argv(self, image: Path, overlay: Path) -> list[str]:
        console = "ttyS0" if self.arch == "amd64" else "ttyAMA0"
        # The root by PARTUUID, as a Pi's cmdline.txt names it: the state partition's
        # mount is derived from it (partition 3 of the same disk). Under TCG udev's
        # coldplug makes the PARTUUID link later than a Pi's 10 s wait for it.
        disk_id = (image / "disk-id").read_text().strip()
        cmdline = (f"root=PARTUUID={disk_id}-02 ro overlayroot=tmpfs:recurse=0 "
                   f"fsck.repair=yes console={console} quiet loglevel=3 net.ifnames=0 "
                   f"stagebox.state_device_timeout={STATE_DEVICE_TIMEOUT_S}")
        if self.arch == "amd64":
            self.accel = "kvm" if kvm_works() else "tcg"
            machine = ["qemu-system-x86_64", "-machine", "q35", "-accel", self.accel,
                       "-cpu", "host" if self.accel == "kvm" else "max"]
        else:
            machine = ["qemu-system-aarch64", "-machine", "virt", "-accel", "tcg",
                       "-cpu", "cortex-a72"]
        r = self.run_dir
        return [*machine, "-smp", "2", "-m", "1024", "-nodefaults", "-no-user-config",
                "-display", "none", "-nic", "none",
                "-kernel", str(image / "vmlinuz"), "-initrd", str(image / "initrd.img"),
                "-append", cmdline,
                "-drive", f"file={overlay},if=none,id=disk,format=qcow2",
                "-device", "virtio-blk-pci,drive=disk",
                "-device", "qemu-xhci,id=xhci",
                "-audiodev", f"wav,id=snd0,path={self.wav},out.frequency={WAV_RATE},"
                             "out.channels=2,out.format=s16",
                "-chardev", f"socket,id=con,path={r / 'console.sock'},server=on,wait=off",
                "-serial", "chardev:con",
                "-device", "virtio-serial-pci",
                "-chardev", f"socket,id=agent,path={r / 'agent.sock'},server=on,wait=off",
                "-device", "virtserialport,chardev=agent,name=org.stagebox.shell",
                "-qmp", f"unix:{r / 'qmp.sock'},server=on,wait=off"]

    def start(self) -> tuple[QMP, Agent]:
        """Start QEMU; its QMP and agent connections (the console is copied to a file)."""
        log(f"starting QEMU ({self.accel}): {shlex.join(self.argv[:6])} ...")
        self.proc = subprocess.Popen(["nice", *self.argv], stdin=subprocess.DEVNULL,
                                     stdout=(self.run_dir / "qemu.log").open("wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.console = LineSocket(self.run_dir / "console.sock",
                                  copy_to=self.run_dir / "console.log")
        return QMP(self.run_dir / "qmp.sock"), Agent(self.run_dir / "agent.sock")

    def close(self) -> None:
        """Stop QEMU: ask, then kill its process group."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def kvm_works() -> bool:
    """Whether KVM can run the guest: /dev/kvm usable and a CPU with VT-x or AMD-V. (A
    /dev/kvm on a CPU without either, as in some sandboxes, starts QEMU but never runs a
    guest instruction.)"""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return bool(flags & {"vmx", "svm"})


def make_stick(run: Path) -> Path:
    """A 32 MiB FAT stick image with the songs (sox tones) and a setlist."""
    files = run / "stick"
    files.mkdir()
    for name, hz, seconds in SONGS:
        subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", str(files / name), "synth",
                        str(seconds), "sine", str(hz), "gain", "-6"], check=True)
    (files / "setlist.txt").write_text(SETLIST)
    image = run / "stick.img"
    with image.open("wb") as f:
        f.truncate(32 * 1024 * 1024)
    subprocess.run(["mkfs.vfat", "-n", STICK_LABEL, str(image)], check=True,
                   stdout=subprocess.DEVNULL)
    for path in sorted(files.iterdir()):
        subprocess.run(["mcopy", "-i", str(image), str(path), "::/"], check=True)
    return image


def wav_samples(path: Path) -> np.ndarray:
    """The left channel of QEMU's WAV as floats; its header's sizes are only written at
    exit, so the data is taken as whatever follows the 44-byte header."""
    raw = path.read_bytes()[44:] if path.exists() else b""
    frames = np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<i2").reshape(-1, 2)
    return frames[:, 0].astype(np.float64) / 32768.0


def loud_tone(samples: np.ndarray) -> tuple[float, float]:
    """Seconds of sound (RMS over -40 dBFS per 0.1 s) and the dominant frequency in them."""
    block = WAV_RATE // 10
    usable = samples[: len(samples) // block * block].reshape(-1, block)
    if not len(usable):
        return 0.0, 0.0
    loud = usable[np.sqrt((usable ** 2).mean(axis=1)) > 0.01]
    if not len(loud):
        return 0.0, 0.0
    sound = loud.reshape(-1)
    spectrum = np.abs(np.fft.rfft(sound * np.hanning(len(sound))))
    peak_hz = float(np.argmax(spectrum[1:]) + 1) * WAV_RATE / len(sound)
    return len(loud) / 10.0, peak_hz


class Run:
    """The whole test: the checks in the order the show needs them."""

    def __init__(self, arch: str, image: Path, run: Path) -> None:
        self.arch = arch
        self.run_dir = run
        self.report = Report(arch)
        self.disk_id = (image / "disk-id").read_text().strip()
        self.vm = VM(arch, image, run)
        self.stick = make_stick(run)
        self.qmp: QMP
        self.agent: Agent

    # --- helpers -----------------------------------------------------------------------
    def journal(self, since: str = "") -> str:
        """The daemon's journal of this boot (``since``: a journalctl -S value)."""
        extra = f"-S {shlex.quote(since)}" if since else ""
        return self.agent.out(f"journalctl -b -q --no-pager -o short-monotonic "
                              f"-u stagebox.service {extra}")

    def service(self) -> dict[str, str]:
        """stagebox.service's main properties."""
        text = self.agent.out("systemctl show stagebox.service -p ActiveState,SubState,"
                              "MainPID,NRestarts,ExecMainStartTimestampMonotonic,"
                              "ActiveEnterTimestampMonotonic,Result")
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def wait_journal(self, what: str, text: str, timeout_s: float = EVENT_TIMEOUT_S,
                     after: int = 0) -> str:
        """Until the daemon's journal of this boot holds ``text`` in a line after the
        first ``after``; the journal."""
        def probe() -> str:
            journal = self.journal()
            return journal if text in "\n".join(journal.splitlines()[after:]) else ""
        return wait_until(what, probe, timeout_s, 2.0)

    def journal_lines(self) -> int:
        """How many lines the daemon's journal of this boot holds now."""
        return len(self.journal().splitlines())

    def said_since(self, lines: int, *words: str) -> str:
        """The daemon's journal lines after the first ``lines`` holding any of ``words``."""
        return "\n".join(line for line in self.journal().splitlines()[lines:]
                         if any(word in line for word in words))

    def boot(self, first: bool) -> None:
        """Until the agent answers and stagebox.service has left 'activating'."""
        self.agent.wait_ready(BOOT_TIMEOUT_S)
        log("guest agent answers")
        wait_until("stagebox.service to leave 'activating'",
                   lambda: self.service().get("ActiveState") not in (None, "activating",
                                                                     "inactive"))
        state = self.agent.out("systemctl is-system-running --wait", timeout_s=600).strip()
        self.report.notes.append(f"boot {'1' if first else '2'}: system state {state}; "
                                 "failed units: " + (self.agent.out(
                                     "systemctl --failed --plain --no-legend").strip() or "none"))

    # --- the checks --------------------------------------------------------------------
    def check_ready(self, label: str) -> None:
        """stagebox.service is active and running, READY received; its start time."""
        c = self.report.check(f"READY ({label})", "stagebox.service reaches READY=1 "
                              "(Type=notify: active/running) and stays up")
        props = self.service()
        start = int(props.get("ExecMainStartTimestampMonotonic", "0") or 0)
        ready = int(props.get("ActiveEnterTimestampMonotonic", "0") or 0)
        c.passed = props.get("ActiveState") == "active" and props.get("SubState") == "running"
        seconds = (ready - start) / 1e6 if ready and start else float("nan")
        c.detail = "\n".join(f"{k}={v}" for k, v in props.items())
        c.detail += f"\nExecStart to READY: {seconds:.2f} s"
        self.report.timings.append((f"ExecStart to READY ({label})", (
            f"{seconds:.2f} s: from ExecMainStartTimestampMonotonic (the fork of ExecStart=, "
            "after ExecStartPre=) to ActiveEnterTimestampMonotonic (systemd's receipt of "
            "READY=1 for this Type=notify unit; the journal's 'Started stagebox.service' "
            f"line carries the same time). NRestarts={props.get('NRestarts')}. Under QEMU "
            f"{self.vm.accel.upper()}, not a Pi's figure.")))

    def record_timings(self, label: str) -> None:
        """systemd-analyze, the daemon's critical chain and the slowest units."""
        for title, command in (("systemd-analyze", "systemd-analyze"),
                               ("systemd-analyze critical-chain stagebox.service",
                                "systemd-analyze critical-chain stagebox.service"),
                               ("systemd-analyze blame (top 15)",
                                "systemd-analyze blame | head -15")):
            self.report.timings.append((f"{title} ({label})", self.agent.out(command)))

    def check_overlay_root(self) -> None:
        """The root is overlayroot's: a RAM upper layer over the read-only root partition."""
        c = self.report.check("read-only overlay root", "/ is overlayroot's overlay on "
                              "tmpfs, over the root partition mounted read-only")
        out = self.agent.out("findmnt -n -o TARGET,SOURCE,FSTYPE,OPTIONS /; "
                             "findmnt -n -o TARGET,SOURCE,FSTYPE,OPTIONS /media/root-ro")
        lines = out.splitlines()
        root_ro = [line for line in lines if line.startswith("/media/root-ro ")]
        c.passed = bool(lines) and lines[0].split()[2:3] == ["overlay"] and bool(root_ro) \
            and "ro" in root_ro[0].split()[-1].split(",")
        c.detail = out
        if not c.passed:
            c.detail += "\n" + self.agent.out("journalctl -b -q -o cat -t kernel | "
                                              "grep -i overlay | head; cat /proc/cmdline")

    def check_flood(self) -> None:
        """ALSA lib lines per second while no interface is plugged."""
        c = self.report.check("no journal flood", f"at most {FLOOD_LIMIT_PER_S}/s 'ALSA lib' "
                              "lines from the daemon while no interface is plugged "
                              f"({FLOOD_WINDOW_S} s window)")
        out = self.agent.out(
            f"t0=$(date +%s); sleep {FLOOD_WINDOW_S}; journalctl -q -b -o cat -u stagebox "
            f"-S @$t0 -U @$((t0 + {FLOOD_WINDOW_S})) | grep -c 'ALSA lib'; "
            f"journalctl -q -b -o cat -u stagebox -S @$t0 | grep 'ALSA lib' | sort | "
            f"uniq -c | sort -rn | head -5")
        first, _, rest = out.partition("\n")
        count = int(first.strip() or 0)
        rate = count / FLOOD_WINDOW_S
        c.passed = rate <= FLOOD_LIMIT_PER_S
        c.detail = f"{count} 'ALSA lib' lines in {FLOOD_WINDOW_S} s: {rate:.2f}/s\n{rest}"

    def check_state_partition(self) -> None:
        """The state partition is mounted, the daemon's, and no save failed."""
        c = self.report.check("state partition writable (fresh image)",
                              "the state partition is mounted on /var/lib/stagebox, the "
                              "folder is the daemon's, and the daemon saved its state there")
        owner = self.agent.out("stat -c '%U:%G %a' /var/lib/stagebox").strip()
        out = self.agent.out("findmnt -n -o SOURCE,FSTYPE,OPTIONS /var/lib/stagebox; "
                             "ls -la /var/lib/stagebox; systemd-analyze critical-chain "
                             "var-lib-stagebox.mount 2>/dev/null | tail -n +3")
        saves = [line for line in self.journal().splitlines() if "Cannot save" in line]
        c.passed = out.startswith("/dev/") and owner.startswith("stagebox:") and not saves \
            and "state.json" in out
        c.detail = f"owner: {owner}\n{out}" + "\n".join(saves[:5])
        if not c.passed:
            c.detail += ("\nFAIL: the folder on the fresh ext4 is not the daemon's, or the "
                         "daemon started before the mount (see stagebox.service ordering).")

    def check_state_mount(self) -> None:
        """The state folder is the boot disk's partition 3, mounted without suid/dev/exec."""
        c = self.report.check("state partition by PARTUUID", f"/var/lib/stagebox is "
                              f"PARTUUID {self.disk_id}-03 (partition 3 of the disk whose "
                              "partition 2 is root=), mounted nosuid,nodev,noexec")
        out = self.agent.out("src=$(findmnt -n -o SOURCE /var/lib/stagebox); "
                             "echo \"$src $(blkid -s PARTUUID -o value \"$src\") "
                             "$(findmnt -n -o OPTIONS /var/lib/stagebox)\"; "
                             "systemctl show -p What,Options,SourcePath var-lib-stagebox.mount")
        words = out.split()
        options = set(words[2].split(",")) if len(words) > 2 else set()
        c.passed = words[1:2] == [f"{self.disk_id}-03"] and \
            {"nosuid", "nodev", "noexec"} <= options
        c.detail = out

    def plug_stick(self) -> None:
        """The stick on the xHCI bus, read-only on the host side too."""
        nodes = [n.get("node-name") for n in self.qmp.execute("query-named-block-nodes")]
        if "stick" not in nodes:
            self.qmp.execute("blockdev-add", driver="raw", **{"node-name": "stick"},
                             file={"driver": "file", "filename": str(self.stick)})
        self.qmp.execute("device_add", driver="usb-storage", id="stickdev", bus="xhci.0",
                         drive="stick")

    def stick_mount(self) -> str:
        """The stick's mount line (target, options), or ''."""
        return self.agent.out("findmnt -rn -o TARGET,FSTYPE,OPTIONS | "
                              "grep '^/media/stagebox/' || true").strip()

    def check_stick(self) -> None:
        """The stick mounts read-only under /media/stagebox and the daemon scans it."""
        c = self.report.check("stick mounts read-only", "udev + stagebox-mount@ mount the "
                              "hot-plugged stick ro,nosuid,nodev,noexec under /media/stagebox "
                              "and the daemon scans it")
        self.plug_stick()
        try:
            line = wait_until("the stick's mount", self.stick_mount)
            journal = self.wait_journal("the daemon's scan", "scan_finished")
        except TestFailure as exc:
            c.detail = str(exc) + "\n" + self.agent.out(
                "journalctl -b -q -o cat -u 'stagebox-mount@*' | tail -20")
            return
        options = line.split()[2].split(",") if len(line.split()) > 2 else []
        c.passed = "ro" in options and {"nosuid", "nodev", "noexec"} <= set(options)
        c.detail = line + "\n" + "\n".join(entry for entry in journal.splitlines()
                                           if "stick_" in entry or "scan_" in entry)

    def check_pedal(self) -> None:
        """A USB keyboard plugged in is taken as a pedal, grabbed, and its keys cue songs."""
        c = self.report.check("USB pedal hot-plugged", f"QEMU's usb-kbd ({PEDAL_NAME}, a "
                              "page turner to the kernel) plugged after boot: udev gives its "
                              "event device to the stagebox group, the daemon opens and grabs "
                              "it (a second grab gets EBUSY), PageDown cues song 2, PageUp "
                              "song 1 again, and its unplugging is noticed")
        since = self.journal_lines()
        try:
            self.qmp.execute("device_add", driver="usb-kbd", id="pedaldev", bus="xhci.0")
            self.wait_journal("the daemon's input_added for the pedal",
                              "input_added {'source': 'hid:", 120, since)
            node = self.agent.out(
                "for d in /sys/class/input/event*; do grep -q "
                f"{shlex.quote(PEDAL_NAME)} $d/device/name 2>/dev/null && "
                "echo /dev/input/${d##*/}; done").strip()
            grab = self.agent.out(
                f"stat -c '%n %G %a' {node}; python3 -c 'import fcntl, os, sys\n"
                f"fd = os.open(sys.argv[1], os.O_RDONLY)\ntry:\n"
                f"    fcntl.ioctl(fd, {EVIOCGRAB}, 1)\n    print(\"grabbed by us\")\n"
                f"except OSError as e:\n    print(\"second grab:\", os.strerror(e.errno))' "
                f"{node}")
            self.qmp.execute("send-key", keys=[{"type": "qcode", "data": "pgdn"}],
                             **{"hold-time": 150})
            self.wait_journal("song 2 cued by PageDown", "'state': 'cued', 'index': 1",
                              120, since)
            self.qmp.execute("send-key", keys=[{"type": "qcode", "data": "pgup"}],
                             **{"hold-time": 150})
            self.wait_journal("song 1 cued by PageUp", "'state': 'cued', 'index': 0", 120,
                              since)
            self.qmp.execute("device_del", id="pedaldev")
            self.qmp.wait_event("DEVICE_DELETED", 60, device="pedaldev")
            self.wait_journal("the daemon's input_gone", "input_gone {'source': 'hid:", 120,
                              since)
            c.passed = "stagebox" in grab.split("\n")[0] and "Device or resource busy" in grab
            c.detail = f"{grab}\n"
        except TestFailure as exc:
            c.detail = f"{exc}\n"
        c.detail += self.said_since(since, "input_", "button", "'state'", "pedal", "Pedal")

    def check_midi(self) -> None:
        """A MIDI port on the sequencer (snd-virmidi) is followed, read and written."""
        c = self.report.check("MIDI port hot-plugged", "snd-virmidi loaded after boot: the "
                              "daemon opens its sequencer port through the unit's device "
                              "cgroup; a footswitch's CC 82 127 then 0 in running status "
                              "(bytes written to the raw MIDI device) cues song 2; program "
                              f"change 0 cues song 1, whose midi=pc:5 comes back out "
                              f"({SONG_1_MIDI} read from the raw MIDI device)")
        since = self.journal_lines()
        try:
            self.agent.out("modprobe snd-virmidi midi_devs=1")
            card = wait_until("the VirMIDI card", lambda: next((
                line.split()[0] for line in self.agent.out(
                    "cat /proc/asound/cards").splitlines() if "VirMIDI" in line), ""), 60)
            raw = f"/dev/snd/midiC{card}D0"
            self.wait_journal("the daemon's input_added for the port",
                              "input_added {'source': 'midi:", 120, since)
            self.agent.out(f"rm -f /run/sbvm-midi-in; setsid -f sh -c 'timeout 300 head -c 2 "
                           f"{raw} | od -An -tx1 > /run/sbvm-midi-in' </dev/null >/dev/null")
            self.agent.out(f"printf '\\260\\122\\177\\122\\000' > {raw}")
            self.wait_journal("song 2 cued by the footswitch", "'state': 'cued', 'index': 1",
                              120, since)
            self.agent.out(f"printf '\\300\\000' > {raw}")
            self.wait_journal("song 1 cued by program change 0",
                              "'state': 'cued', 'index': 0", 120, since)
            heard = wait_until("song 1's program change on the raw MIDI device", lambda: (
                self.agent.out("cat /run/sbvm-midi-in 2>/dev/null").strip()), 120, 2.0)
            devices = self.agent.out("/opt/stagebox/venv/bin/stagebox devices 2>&1 | "
                                     "sed -n '/^Pedals/,$p'")
            c.passed = heard == SONG_1_MIDI
            c.detail = f"read back: {heard!r}\n$ stagebox devices (its inputs)\n{devices}\n"
        except TestFailure as exc:
            c.detail = f"{exc}\n"
        c.detail += self.said_since(since, "input_", "button", "'state'", "midi", "MIDI")

    def check_realtime(self) -> None:
        """One thread of the daemon runs SCHED_FIFO."""
        c = self.report.check("output thread SCHED_FIFO", "the daemon's output thread got "
                              "realtime priority (ps -L: class FF)")
        out = self.agent.out("pid=$(systemctl show -p MainPID --value stagebox); "
                             "ps -L -o tid,cls,rtprio,comm -p $pid")
        c.passed = any(line.split()[1:2] == ["FF"] for line in out.splitlines()[1:])
        rt = [line for line in self.journal().splitlines() if "realtime" in line]
        c.detail = out + "\n" + "\n".join(rt)

    def check_playback(self) -> None:
        """The interface plugged after the daemon started plays song 1's tone."""
        c = self.report.check("interface plugged after boot plays",
                              "usb-audio hot-plugged after READY; the daemon opens it and a "
                              f"PLAY press gives {SONGS[0][1]:.0f} Hz in the host's WAV (FFT)")
        since = self.journal_lines()
        self.qmp.execute("device_add", driver="usb-audio", id="audiodev", bus="xhci.0",
                         audiodev="snd0")
        try:
            wait_until("the USB audio card in /proc/asound/cards", lambda: "USB" in
                       self.agent.out("cat /proc/asound/cards 2>/dev/null"))
        except TestFailure as exc:
            c.detail = f"{exc}\n" + self.agent.out("journalctl -b -q -o cat -k | tail -20")
            return
        c.passed, c.detail = self.play_song_1(since)
        if c.passed:
            return
        c.detail += "\n" + self.device_cgroup_evidence()
        # The checks after this one need a song playing: a restart shows whether the
        # daemon plays once the device cgroup knows the ALSA major, and lets them run.
        log("playback failed: restarting the daemon for the checks that follow")
        since = self.journal_lines()
        self.agent.out("systemctl restart stagebox.service")
        wait_until("stagebox.service active again", lambda: self.service().get(
            "ActiveState") == "active")
        self.wait_journal("the stick scanned again", "scan_finished", after=since)
        passed, detail = self.play_song_1(since)
        c.detail += (f"\nAfter `systemctl restart stagebox.service` (for the later checks "
                     f"only; this check stays FAILED): {'plays' if passed else 'still silent'}"
                     f"\n{detail}")

    def check_practice_buffer(self) -> None:
        """Practice mode opens the USB interface again with its shorter buffer, at a silence,
        and show mode with its own."""
        c = self.report.check("practice mode's buffer on the interface",
                              "song 1 paused, the menu's Mode: practice has the daemon open "
                              "the USB interface again with 4 periods of 512 frames (the "
                              "kernel's hw_params), song 1 plays on in it, and Mode: show "
                              "opens it with 4 of 1024 again")
        since = self.journal_lines()
        shapes: dict[str, str] = {}
        seconds, hz = 0.0, 0.0
        try:
            shapes["practice"] = self.pause_into("practice", "42.7")
            before = len(wav_samples(self.vm.wav))
            self.press("tap play")
            wait_until("3 s of song 1 in the practice buffer", lambda: loud_tone(
                wav_samples(self.vm.wav)[before:])[0] >= 3.0, 120, 2.0)
            seconds, hz = loud_tone(wav_samples(self.vm.wav)[before:])
            shapes["show"] = self.pause_into("show", "85.3")
        except TestFailure as exc:
            c.detail = f"{exc}\n"
        self.press("tap play")  # the checks after this one need song 1 playing
        c.passed = (shapes.get("practice") == "period_size: 512\nbuffer_size: 2048"
                    and shapes.get("show") == "period_size: 1024\nbuffer_size: 4096"
                    and abs(hz - SONGS[0][1]) < 5.0)
        c.detail += "".join(f"hw_params in {mode} mode: {shape.replace(chr(10), ', ')}\n"
                            for mode, shape in shapes.items())
        c.detail += (f"host WAV in practice mode: {seconds:.1f} s of sound, dominant "
                     f"{hz:.1f} Hz\n" + self.said_since(since, "audio_outputs", "mode",
                                                        "'state'", "xrun"))

    def pause_into(self, mode: str, buffer_ms: str) -> str:
        """Pause the song, choose ``mode`` in the menu, wait for the daemon to open the
        interface with a buffer of ``buffer_ms``; the kernel's period and buffer sizes."""
        paused_at = self.journal_lines()
        self.press("hold play 1.2")
        self.wait_journal(f"the song paused for {mode} mode", "'state': 'paused'", 60,
                          paused_at)
        self.choose_mode(mode)
        self.wait_journal(f"the {mode} buffer", f"'buffer_ms': {buffer_ms}", 60, paused_at)
        return self.agent.out("grep -h -e period_size -e buffer_size "
                              "/proc/asound/card*/pcm*p/sub0/hw_params").strip()

    def choose_mode(self, mode: str) -> None:
        """The menu, down to its Mode item, changed to ``mode`` (practice is after show),
        confirmed and closed, as a performer does it."""
        change = "next" if mode == "practice" else "prev"
        for button in ("menu", "next", "next", "next", "play", change, "play", "menu"):
            self.press(f"tap {button}")

    def play_song_1(self, since: int) -> tuple[bool, str]:
        """Wait for the daemon to open the interface (in the journal after its first
        ``since`` lines), press PLAY, and listen in the host's WAV: (song 1's tone heard,
        what was seen)."""
        problem = ""
        before = len(wav_samples(self.vm.wav))
        try:
            self.wait_journal("the daemon's 'Audio interface back'", "Audio interface back",
                              120, since)
            self.press("tap play")
            self.wait_journal("the song to start", "track_started", 120, since)
            wait_until("5 s of sound in the host's WAV", lambda: loud_tone(
                wav_samples(self.vm.wav)[before:])[0] >= 5.0, 120, 2.0)
        except TestFailure as exc:
            problem = f"{exc}\n"
        seconds, hz = loud_tone(wav_samples(self.vm.wav)[before:])
        passed = seconds >= 5.0 and abs(hz - SONGS[0][1]) < 5.0
        said = self.said_since(since, "audio", "Audio", "ALSA", "track_", "button", "permitted")
        return passed, (f"{problem}host WAV: {seconds:.1f} s of sound, dominant {hz:.1f} Hz "
                        f"(song 1 is {SONGS[0][1]:.0f} Hz)\ndaemon's journal since:\n"
                        + "\n".join(said.splitlines()[-15:]))

    def device_cgroup_evidence(self) -> str:
        """Whether stagebox.service's device cgroup lets its processes open the card, and a
        unit started now (with the same DevicePolicy/DeviceAllow) does."""
        return self.agent.out(
            "echo '$ grep alsa /proc/devices; ls -l /dev/snd/controlC0'; "
            "grep alsa /proc/devices; ls -l /dev/snd/controlC0; "
            "echo '$ systemctl show -p ExecMainStartTimestampMonotonic stagebox; "
            "journalctl -k | grep snd'; "
            "systemctl show -p ExecMainStartTimestampMonotonic stagebox; "
            "journalctl -b -q -k -o short-monotonic | grep -m3 -i snd; "
            "echo '$ (a shell moved into stagebox.service cgroup) cat /dev/snd/controlC0'; "
            "sh -c 'echo $$ >/sys/fs/cgroup/system.slice/stagebox.service/cgroup.procs && "
            "exec cat /dev/snd/controlC0 </dev/null >/dev/null' 2>&1; echo \"rc=$?\"; "
            "echo '$ systemd-run -p DevicePolicy=closed -p \"DeviceAllow=char-alsa rw\" "
            "(a unit started now) cat /dev/snd/controlC0'; "
            "systemd-run --wait --pipe -q -p DevicePolicy=closed -p 'DeviceAllow=char-alsa rw' "
            "sh -c 'cat /dev/snd/controlC0 >/dev/null' 2>&1; echo \"rc=$?\"")

    def press(self, line: str) -> None:
        """A button press through guest/vm_buttons.py's FIFO."""
        self.agent.out(f"echo {shlex.quote(line)} | timeout 20 tee /run/stagebox/vm-buttons "
                       ">/dev/null")

    def saved_place(self) -> dict[str, Any] | None:
        """The resume point in the state file on the state partition, or None."""
        text = self.agent.out("cat /var/lib/stagebox/state.json 2>/dev/null")
        try:
            resume = json.loads(text).get("resume")
        except (ValueError, AttributeError):
            return None
        return resume if isinstance(resume, dict) else None

    def hard_reset(self) -> tuple[Check, dict[str, Any] | None]:
        """Wait for a saved place a few seconds into the song, then QMP system_reset."""
        c = self.report.check("saved place survives a hard reset",
                              "the resume point written while playing is there after a "
                              "QMP system_reset, and the daemon resumes at it, paused")
        try:
            saved = wait_until("a saved place 3 s into the song", lambda: (
                p if (p := self.saved_place()) and float(p.get("position_s", 0)) >= 3.0
                else None), 120, 2.0)
        except TestFailure as exc:
            c.detail = str(exc)
            saved = None
        log(f"hard reset (saved place: {saved})")
        self.qmp.execute("system_reset")
        return c, saved

    def check_resumed(self, c: Check, saved: dict[str, Any] | None) -> None:
        """After the reset: the same place in the file, and the daemon's 'resumed'."""
        if saved is None:
            return
        after = self.saved_place()
        try:
            journal = self.wait_journal("the daemon's 'resumed'", "resumed", 120)
        except TestFailure as exc:
            journal = str(exc)
        same = after is not None and after.get("path") == saved.get("path") and \
            float(after.get("position_s", 0)) >= float(saved["position_s"]) - 1.0
        c.passed = same and "resumed" in journal
        c.detail += (f"before the reset: {saved}\nafter: {after}\n" + "\n".join(
            line for line in journal.splitlines() if "resumed" in line or "Cannot" in line))

    def check_replug(self) -> None:
        """device_del and device_add of the stick reach the running daemon."""
        c = self.report.check("stick unplug and replug", "QMP device_del unmounts the stick "
                              "and the daemon logs stick_removed; device_add mounts it "
                              "again and the daemon scans it again")
        try:
            scans = self.journal().count("scan_finished")
            self.qmp.execute("device_del", id="stickdev")
            self.qmp.wait_event("DEVICE_DELETED", 60, device="stickdev")
            wait_until("the stick's unmount", lambda: not self.stick_mount())
            self.wait_journal("the daemon's stick_removed", "stick_removed")
            self.plug_stick()
            wait_until("the stick's mount again", self.stick_mount)
            wait_until("a second scan", lambda: self.journal().count("scan_finished") > scans,
                       EVENT_TIMEOUT_S, 2.0)
            c.passed = True
        except TestFailure as exc:
            c.detail = str(exc) + "\n"
        c.detail += "\n".join(line for line in self.journal().splitlines()
                              if "stick_" in line or "scan_" in line)

    # --- the order of it all -------------------------------------------------------------
    def run(self) -> Report:
        """Boot, check, reset, check again; the report (QEMU stopped in every case)."""
        try:
            self.qmp, self.agent = self.vm.start()
            self.boot(first=True)
            for step in (lambda: self.check_ready("first boot"),
                         lambda: self.record_timings("first boot"),
                         self.check_overlay_root, self.check_flood, self.check_stick,
                         self.check_pedal, self.check_midi, self.check_realtime,
                         self.check_playback, self.check_practice_buffer,
                         self.check_state_partition, self.check_state_mount):
                self.step(step)
            c, saved = self.hard_reset()
            self.boot(first=False)
            for step in (lambda: self.check_ready("after the hard reset"),
                         lambda: self.record_timings("after the hard reset"),
                         lambda: self.check_resumed(c, saved), self.check_replug):
                self.step(step)
            (self.run_dir / "journal.txt").write_text(self.agent.out(
                "journalctl -b -q --no-pager -o short-monotonic", 300))
        except TestFailure as exc:
            self.report.check("the run itself", "the VM booted and answered throughout") \
                .detail = f"{exc}\nconsole: {self.run_dir / 'console.log'}"
        finally:
            self.vm.close()
        return self.report

    def step(self, step: Callable[[], None]) -> None:
        """One check, with a progress line naming the check it added."""
        count = len(self.report.checks)
        step()
        for c in self.report.checks[count:]:
            log(f"{'PASS' if c.passed else 'FAIL'}: {c.name}")


def build_image(arch: str, cache: Path) -> Path:
    """The cached image folder for ``arch`` (built if missing); niced, like the run."""
    log(f"image for {arch} (build-image.sh; cached under {cache})")
    done = subprocess.run(["nice", str(HERE / "build-image.sh"), arch, str(cache)], check=True,
                          stdout=subprocess.PIPE, text=True)
    return Path(done.stdout.strip().splitlines()[-1])


def main() -> int:
    """Parse the arguments, build, run, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("amd64", "arm64"), default="amd64")
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("vm-test: run me as root (debootstrap, chroot)", file=sys.stderr)
        return 1
    # SIGTERM (a killed make) ends the run like Ctrl-C: through the finally blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    image = build_image(args.arch, args.cache)
    run_dir = args.cache / f"run-{args.arch}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    report = Run(args.arch, image, run_dir).run()
    text = report.markdown()
    out = args.cache / f"report-{args.arch}.md"
    out.write_text(text)
    print(text)
    log(f"report: {out}")
    return 0 if all(c.passed for c in report.checks) else 1


if __name__ == "__main__":
    sys.exit(main())
