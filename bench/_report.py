"""What the benchmarks share: the machine's description, the command line, and appending a section.

Each benchmark prints its figures and appends one section to docs/benchmarks.md:

    ## <title> (<date UTC>)

    - command: `python bench/<script>.py <args>`
    - machine: CPU <model from /proc/cpuinfo>, nproc <n>
    - ... (the benchmark's own lines)

    <tables>

Appending never rewrites what other benchmarks recorded.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Each script in `bench/` (`make bench`) appends a section: the date, the exact command, the machine
and the figures. Figures depend on the machine: compare sections of the same machine only.
"""


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def nproc() -> str:
    try:
        return subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(os.cpu_count())


def machine() -> str:
    """``CPU AMD EPYC, nproc 2`` (the model name from /proc/cpuinfo and the cores this process may use)."""
    return f"CPU {cpu_model()}, nproc {nproc()}"


def command_line(script: str, argv: Sequence[str] | None = None) -> str:
    """The command as it was run, relative to the repository: ``python bench/x.py --flag value``."""
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join(["python", f"bench/{script}", *(shlex.quote(a) for a in args)])


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def section(title: str, *, date: str, command: str, bullets: Sequence[str], body: Sequence[str]) -> str:
    lines = [f"## {title} ({date})", "", f"- command: `{command}`", f"- machine: {machine()}"]
    lines += [f"- {bullet}" for bullet in bullets]
    lines.append("")
    lines += list(body)
    return "\n".join(lines).rstrip() + "\n"


def append_section(text: str, path: Path = BENCHMARKS) -> None:
    """Append one section (never overwrite: other benchmarks write to the same file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(HEADER, encoding="utf-8")
    existing = path.read_text(encoding="utf-8")
    separator = "" if existing.endswith("\n\n") else ("\n" if existing.endswith("\n") else "\n\n")
    with path.open("a", encoding="utf-8") as handle:
        handle.write(separator + text)
