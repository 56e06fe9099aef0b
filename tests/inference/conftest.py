"""Shared fixtures of the media-layer tests: a tiny SynthVAS built once, and process inspection."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from inference.data.records import ClipRecord, ImportProblem
from inference.data.synth_events import CATEGORIES
from inference.data.synthvas import SynthVASConfig, synthvas_generate


@dataclass(frozen=True)
class TinySynthVAS:
    root: Path
    config: SynthVASConfig
    records: list[ClipRecord]

    def record(self, category: str, index: int = 0) -> ClipRecord:
        return next(r for r in self.records if r.clip_id == f"{category}_{index:05d}")

    def path(self, record: ClipRecord, role: str) -> Path:
        return self.root / record.files[role]


TINY_CONFIG = SynthVASConfig(clips_per_category=3, duration_s=2.0, categories=CATEGORIES, seed=7)


@pytest.fixture(scope="session")
def tiny_synthvas(tmp_path_factory: pytest.TempPathFactory) -> TinySynthVAS:
    """All eight categories, three 2-s clips each (one per split)."""
    root = tmp_path_factory.mktemp("synthvas")
    items = list(synthvas_generate(root, config=TINY_CONFIG))
    problems = [item for item in items if isinstance(item, ImportProblem)]
    assert not problems, problems
    return TinySynthVAS(
        root=root, config=TINY_CONFIG, records=[i for i in items if isinstance(i, ClipRecord)]
    )


def _children_named(fragment: str) -> list[tuple[int, str]]:
    """(pid, state) of this process's children whose command name contains ``fragment`` (from /proc,
    so zombies are seen too)."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == me and fragment in name:
            found.append((int(entry.name), state))
    return found


@pytest.fixture
def ffmpeg_children() -> Callable[[], list[tuple[int, str]]]:
    """Call it to list the ffmpeg/ffprobe processes (running or zombie) this test process started."""
    return lambda: _children_named("ffmpeg") + _children_named("ffprobe")
