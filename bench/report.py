"""The results table: rows beside their peers and goals, the machine, and the Markdown file."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Row:
    """One figure of one benchmark, with its peer and goal where it has them."""

    benchmark: str
    figure: str
    stagebox: str
    peer: str = ""
    ratio: str = ""
    goal: str = ""
    met: bool | None = None
    """Whether the goal was met; None for a row without a goal."""


@dataclass
class Report:
    """Everything one run found: rows for people, figures (numbers) for tests, notes."""

    rows: list[Row] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sizes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        """Add a row and print it at once, so a long run shows its progress."""
        self.rows.append(row)
        print(_table_line([row.benchmark, row.figure, row.stagebox, row.peer, row.ratio,
                           row.goal, _met(row.met)]), flush=True)

    def figure(self, name: str, value: float) -> float:
        """Record a number under ``name`` (for the JSON and the CI test); return it."""
        self.figures[name] = float(value)
        return value

    def markdown(self, machine: list[str]) -> str:
        """The whole report as Markdown."""
        lines = ["# stagebox benchmarks", "",
                 "Written by `make bench` (`python -m bench.run`); every figure below was "
                 "measured in the same run as its peer.", "", "## Machine", ""]
        lines += [f"- {line}" for line in machine]
        lines += ["", "## Sizes", ""] + [f"- {line}" for line in self.sizes]
        lines += ["", "## Results", "", HEADER, _table_line(["---"] * 7)]
        lines += [_table_line([row.benchmark, row.figure, row.stagebox, row.peer, row.ratio,
                               row.goal, _met(row.met)]) for row in self.rows]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def write(self, markdown_path: Path, json_path: Path | None, machine: list[str]) -> None:
        """Write the Markdown table, and the figures as JSON if ``json_path`` is given."""
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(self.markdown(machine), encoding="utf-8")
        if json_path is not None:
            json_path.write_text(json.dumps({"figures": self.figures,
                                             "rows": [row.__dict__ for row in self.rows]},
                                            indent=1, allow_nan=True), encoding="utf-8")


HEADER = "| Benchmark | Figure | stagebox | Peer | Ratio | Goal | Met |"


def _table_line(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |"


def _met(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "**no**")


def ratio(value: float, peer: float) -> float:
    """``value / peer``, NaN when either is missing."""
    if not (math.isfinite(value) and math.isfinite(peer)) or peer == 0:
        return math.nan
    return value / peer


def machine_lines() -> list[str]:
    """CPU model, cores, memory, kernel, Python, tool versions and the date."""
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith(("model name", "Model")):
                model = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    lines = [f"CPU: {model}, {os.cpu_count()} cores",
             f"Memory: {memory_kb / 1024 / 1024:.1f} GiB",
             f"Kernel: {platform.system()} {platform.release()} ({platform.machine()})",
             f"Python: {platform.python_version()}",
             f"Tools: {_version(['sox', '--version'])}; {_version(['aplay', '--version'])}; "
             f"{_version(['ffmpeg', '-version'])}",
             f"Date: {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
             "Load average when written (1, 5, 15 min; other work on the machine slows "
             f"every figure): {', '.join(f'{load:.2f}' for load in os.getloadavg())}"]
    return lines


def _version(command: list[str]) -> str:
    if shutil.which(command[0]) is None:
        return f"{command[0]} not installed"
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    text = (result.stdout or result.stderr).strip().splitlines()
    return text[0].split(" Copyright")[0].strip() if text else command[0]
