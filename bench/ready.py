"""Boot: ``stagebox run`` from exec to ``READY=1``, as systemd's ``Type=notify`` sees it.

``python -m bench.ready [--runs N]`` prints the times as JSON. Each run starts the
console script systemd's ``ExecStart=`` names (``stagebox run --config FILE``, beside this
interpreter) with ``NOTIFY_SOCKET`` pointing at a datagram socket this process listens on,
and times it from just before the exec to the datagram with ``READY=1``; then it sends
SIGTERM and waits for ``STOPPING=1`` and the exit. The box runs on ALSA's ``null`` device,
with no display, no buttons (no GPIO here: gpiozero finds no pin factory) and no stick,
its state folder and media root in a temporary folder. Its peers, in the same turns and
with the same interpreter and environment, are ``python -c pass`` and ``python -c 'import
numpy'``, from exec to exit: what any Python program pays, and numpy's share of it.

The installed box runs from the bytecode pip compiled when it installed it (and the
service's ``PYTHONDONTWRITEBYTECODE=1`` keeps it from writing any). A checkout installed
in editable mode has none for stagebox's own modules when the environment forbids writing
it, and compiling them adds some 50 ms to every start here. So every timed run reads
bytecode from a cache of its own (``PYTHONPYCACHEPREFIX`` in the temporary folder),
which an untimed first turn wrote.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.report import Report, Row, ratio
from stagebox import ONE_THREAD_ENV

GOAL_S = 0.3
EVENT_TIMEOUT_S = 30.0
"""The most a run may take to say READY=1 or to stop: a failure, not a slow figure."""
PEERS = {"python -c pass": ["-c", "pass"], "python -c 'import numpy'": ["-c", "import numpy"]}


class BootFailed(Exception):
    """The daemon exited, or went silent, before the message it was waited for."""


def write_config(folder: Path) -> Path:
    """A config for a box with no hardware but ALSA's ``null`` device, inside ``folder``."""
    (folder / "media").mkdir()
    config = folder / "config.toml"
    config.write_text(f'[audio]\ndevice = "null"\n[display]\ndriver = "none"\n'
                      f'[media]\nroot = "{folder / "media"}"\n'
                      f'[state]\ndir = "{folder / "state"}"\n', encoding="utf-8")
    return config


def stagebox_command(config: Path) -> list[str]:
    """``stagebox run`` as the service's ``ExecStart=`` has it, from this interpreter's venv."""
    return [str(Path(sys.executable).with_name("stagebox")), "run", "--config", str(config)]


def time_ready(command: list[str], listener: socket.socket, address: str,
               env: dict[str, str], log: Path) -> float:
    """Seconds from exec to ``READY=1`` of one daemon run; stops it (SIGTERM) after.

    Raises :class:`BootFailed` if it exits first, stays silent, or does not stop cleanly.
    """
    with log.open("ab") as log_file:
        started_s = time.perf_counter()
        daemon = subprocess.Popen(command, env={**env, "NOTIFY_SOCKET": address},
                                  stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file)
        try:
            _wait_for(listener, "READY=1", daemon)
            ready_s = time.perf_counter() - started_s
            daemon.send_signal(signal.SIGTERM)
            _wait_for(listener, "STOPPING=1", daemon)
            if daemon.wait(EVENT_TIMEOUT_S) != 0:
                raise BootFailed(f"exit status {daemon.returncode}")
        except BootFailed as exc:
            raise BootFailed(f"{exc}; its log ends: {_tail(log)}") from None
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
    return ready_s


def _wait_for(listener: socket.socket, line: str, daemon: subprocess.Popen[bytes]) -> None:
    """Read datagrams until one has ``line``."""
    deadline_s = time.monotonic() + EVENT_TIMEOUT_S
    while True:
        listener.settimeout(max(0.0, deadline_s - time.monotonic()))
        try:
            message = listener.recv(4096).decode("utf-8", "replace")
        except TimeoutError:
            status = daemon.poll()
            state = "running" if status is None else f"exit status {status}"
            raise BootFailed(f"no {line} after {EVENT_TIMEOUT_S:g} s ({state})") from None
        if line in message.split("\n"):
            return


def _tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-1000:]


def time_exit(command: list[str], env: dict[str, str]) -> float:
    """Seconds from exec to exit of ``command``."""
    started_s = time.perf_counter()
    subprocess.run(command, env=env, stdin=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started_s


def time_boots(runs: int) -> dict[str, list[float]]:
    """``runs`` turns of the daemon and its peers, each going first in turn, after one
    untimed turn that writes the bytecode cache; the seconds of each, by name (``stagebox
    run`` and the keys of :data:`PEERS`)."""
    times: dict[str, list[float]] = {"stagebox run": [], **{name: [] for name in PEERS}}
    with tempfile.TemporaryDirectory(prefix="stagebox-ready-") as folder, \
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        address = str(Path(folder) / "notify")
        listener.bind(address)
        command = stagebox_command(write_config(Path(folder)))
        log = Path(folder) / "daemon.log"

        def contenders(env: dict[str, str]) -> list[tuple[str, Callable[[], float]]]:
            return [("stagebox run", lambda: time_ready(command, listener, address, env, log)),
                    *((name, _peer(arguments, env)) for name, arguments in PEERS.items())]

        writing, reading = _environments(Path(folder) / "pycache")
        for _, timed in contenders(writing):
            timed()
        timed_contenders = contenders(reading)
        for turn in range(runs):
            first = turn % len(timed_contenders)
            for name, timed in timed_contenders[first:] + timed_contenders[:first]:
                times[name].append(timed())
    return times


def _environments(pycache: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The environments of the untimed turn, which writes the bytecode cache, and of the
    timed ones, which only read it; both with numpy on one thread, as the box runs it."""
    reading = {**os.environ, **ONE_THREAD_ENV, "PYTHONPYCACHEPREFIX": str(pycache),
               "PYTHONDONTWRITEBYTECODE": "1"}
    writing = {name: value for name, value in reading.items()
               if name != "PYTHONDONTWRITEBYTECODE"}
    return writing, reading


def _peer(arguments: list[str], env: dict[str, str]) -> Callable[[], float]:
    return lambda: time_exit([sys.executable, *arguments], env)


def run(report: Report, *, runs: int, repo: Path) -> None:
    """Time the boots in a process of their own; add the rows."""
    result = subprocess.run([sys.executable, "-m", "bench.ready", "--runs", str(runs)],
                            cwd=repo, capture_output=True, text=True, check=False)
    try:
        times = json.loads(result.stdout)
    except json.JSONDecodeError:
        times = {"stagebox run": [math.nan], **{name: [math.nan] for name in PEERS}}
        report.notes.append(f"ready: failed: {result.stderr.strip()[-300:]}")
    ready = times["stagebox run"]
    median_s = report.figure("ready.median_s", statistics.median(ready))
    p90_s = report.figure("ready.p90_s", _p90(ready))
    figure = (f"s from exec to READY=1, `stagebox run` on ALSA `null`, no display, buttons "
              f"or stick, {runs} runs")
    report.add(Row("boot", figure + ", median", _s(median_s), "", "", f"≤ {GOAL_S:g} s",
                   _at_most(median_s, GOAL_S)))
    report.add(Row("boot", figure + ", p90", _s(p90_s), "", "", f"≤ {GOAL_S:g} s",
                   _at_most(p90_s, GOAL_S)))
    for name, key in zip(PEERS, ("pass", "numpy"), strict=True):
        peer_s = report.figure(f"ready.{key}_s", statistics.median(times[name]))
        report.add(Row("boot", f"the median against `{name}`, exec to exit", _s(median_s),
                       _s(peer_s), f"{ratio(median_s, peer_s):.2f}×"))
    report.notes.append("boot: load average (1 min) when measured "
                        f"{os.getloadavg()[0]:.2f}; every run, in seconds: "
                        + "; ".join(f"{name} " + ", ".join(f"{s:.3f}" for s in seconds)
                                    for name, seconds in times.items()))


def _p90(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def _s(seconds: float) -> str:
    return f"{seconds:.3f} s"


def _at_most(value: float, limit: float) -> bool | None:
    return None if math.isnan(value) else value <= limit


def main(argv: list[str] | None = None) -> int:
    """Print the boot times (``python -m bench.ready --runs N``)."""
    parser = argparse.ArgumentParser(prog="python -m bench.ready", description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    try:
        times = time_boots(args.runs)
    except (BootFailed, subprocess.CalledProcessError) as exc:
        print(f"bench.ready: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
