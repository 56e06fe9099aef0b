"""A system's outputs checked against the pairs of a pack, one report line per file.

The rules (``OutputRules``, also written into every pack's README):

- one audio file per pair id, named ``<pair_id>.wav`` (``.flac`` and ``.ogg`` are read too), anywhere
  in the folder or archive; names starting with a dot and ``__MACOSX/`` are ignored;
- any sample rate from 8 to 192 kHz: resampled to 22050 Hz (soxr), and the resampling is recorded;
- mono; more channels are averaged to mono, and that is recorded;
- the clip's duration (10 s for VAS) within ``tolerance_s`` (0.5 s): shorter files are padded with
  silence at the end, longer ones trimmed at the end, and the padding or trimming is recorded;
  anything further off is refused;
- refused: unreadable or non-audio files, NaN or infinite samples, silence (peak below -60 dBFS), a
  file whose pair id the pack does not have, two files for one pair id (both refused), pair ids with
  no file (reported as missing);
- flagged but accepted: clipping (at least 0.1 % of the samples at full scale).

``validate_outputs`` writes each accepted file, processed, to a staging folder as 16-bit PCM at
22050 Hz (the format the platform's own systems are stored in) and returns the report; nothing is
imported here. Reading a file reads its header first, so a header that claims hours of audio is
refused without decoding it.
"""

from __future__ import annotations

import difflib
import hashlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import soundfile as sf

from inference.audio import SAMPLE_RATE, resample, save_wav
from inference.exchange.archive import Unpacked

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
ACCEPTED, FLAGGED, REFUSED = "accepted", "flagged", "refused"


@dataclass(frozen=True)
class OutputRules:
    sample_rate: int = SAMPLE_RATE
    tolerance_s: float = 0.5
    min_rate: int = 8000
    max_rate: int = 192_000
    silence_dbfs: float = -60.0
    clip_level: float = 0.999
    clip_fraction: float = 0.001

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FileReport:
    name: str  # the path inside the folder or archive, as the researcher named it
    pair_id: str | None
    status: str = ACCEPTED
    problems: list[str] = field(default_factory=list)  # why it was refused
    flags: list[str] = field(default_factory=list)  # accepted, with a warning
    notes: list[str] = field(default_factory=list)  # processing done
    sha256: str = ""
    sample_rate: int | None = None
    channels: int | None = None
    duration_s: float | None = None
    staged: str = ""  # the processed file (staging folder), when accepted

    def refuse(self, reason: str) -> None:
        self.status = REFUSED
        self.problems.append(reason)


@dataclass
class OutputsReport:
    files: list[FileReport] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    refused_members: list[tuple[str, str]] = field(default_factory=list)  # from unpacking
    ignored: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> list[FileReport]:
        return [f for f in self.files if f.status != REFUSED]

    @property
    def refused(self) -> list[FileReport]:
        return [f for f in self.files if f.status == REFUSED]

    @property
    def complete(self) -> bool:
        """Nothing refused and nothing missing: the whole set can be imported."""
        return not (self.refused or self.missing or self.refused_members)

    def summary(self) -> str:
        parts = [f"{len(self.accepted)} accepted"]
        flagged = sum(f.status == FLAGGED for f in self.files)
        if flagged:
            parts.append(f"{flagged} flagged")
        if self.refused or self.refused_members:
            parts.append(f"{len(self.refused) + len(self.refused_members)} refused")
        if self.missing:
            parts.append(f"{len(self.missing)} pair ids missing")
        return ", ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "complete": self.complete,
            "files": [{k: v for k, v in asdict(f).items() if k != "staged"} for f in self.files],
            "missing": self.missing,
            "refused_members": [{"name": n, "reason": r} for n, r in self.refused_members],
            "ignored": self.ignored,
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _ignored(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts)


def validate_outputs(
    unpacked: Unpacked,
    expected: Mapping[str, float],
    staging: Path,
    *,
    rules: OutputRules | None = None,
) -> OutputsReport:
    """Check every file against ``expected`` (pair id -> duration in seconds) and stage the accepted ones."""
    rules = rules or OutputRules()
    report = OutputsReport(refused_members=list(unpacked.refused))
    by_pair: dict[str, list[FileReport]] = defaultdict(list)
    for name in unpacked.files:
        if _ignored(name):
            report.ignored.append(name)
            continue
        path = PurePosixPath(name)
        entry = FileReport(name=name, pair_id=path.stem if path.suffix.lower() in AUDIO_SUFFIXES else None)
        report.files.append(entry)
        local = unpacked.root / name
        entry.sha256 = _sha256(local)
        if entry.pair_id is None:
            entry.refuse(f"not an output file: expected <pair_id>{' or '.join(AUDIO_SUFFIXES)}")
            continue
        if entry.pair_id not in expected:
            close = difflib.get_close_matches(entry.pair_id, list(expected), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            entry.refuse(f"unknown pair id {entry.pair_id!r}: the pack has no such pair{hint}")
            continue
        by_pair[entry.pair_id].append(entry)
    for pair_id, entries in by_pair.items():
        if len(entries) > 1:
            names = ", ".join(e.name for e in entries)
            for entry in entries:
                entry.refuse(f"{len(entries)} files for pair {pair_id} ({names}): keep one")
            continue
        entry = entries[0]
        _check_file(unpacked.root / entry.name, entry, expected[pair_id], staging, rules)
    report.missing = sorted(set(expected) - set(by_pair))
    report.files.sort(key=lambda f: f.name)
    return report


def _check_file(path: Path, entry: FileReport, duration_s: float, staging: Path, rules: OutputRules) -> None:
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        entry.refuse(f"not a readable audio file ({str(exc).splitlines()[0][:200]})")
        return
    entry.sample_rate, entry.channels = int(info.samplerate), int(info.channels)
    entry.duration_s = info.frames / info.samplerate if info.samplerate else None
    if not rules.min_rate <= entry.sample_rate <= rules.max_rate:
        entry.refuse(
            f"a sample rate of {entry.sample_rate} Hz is outside {rules.min_rate}-{rules.max_rate} Hz"
        )
        return
    if info.frames <= 0:
        entry.refuse("the file holds no samples")
        return
    if abs(entry.duration_s - duration_s) > rules.tolerance_s:
        entry.refuse(
            f"lasts {entry.duration_s:.2f} s; expected {duration_s:.2f} s ± {rules.tolerance_s:.2f} s"
        )
        return
    try:
        data = sf.read(str(path), dtype="float32", always_2d=True)[0]
    except (sf.LibsndfileError, RuntimeError) as exc:
        entry.refuse(f"the audio cannot be decoded ({str(exc).splitlines()[0][:200]})")
        return
    if data.size == 0:
        entry.refuse("the file holds no samples")
        return
    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        entry.refuse(f"{bad} NaN or infinite samples")
        return
    if data.shape[1] > 1:
        data = data.mean(axis=1, keepdims=True)
        entry.notes.append(f"downmixed {entry.channels} channels to mono (mean)")
    wave = data[:, 0]
    peak = float(np.max(np.abs(wave)))
    if peak <= 10 ** (rules.silence_dbfs / 20):
        level = "digital silence" if peak == 0 else f"peak {20 * np.log10(peak):.1f} dBFS"
        entry.refuse(f"silent ({level}, below {rules.silence_dbfs:.0f} dBFS)")
        return
    clipped = float(np.mean(np.abs(wave) >= rules.clip_level))
    if clipped >= rules.clip_fraction:
        entry.flags.append(f"clipping: {100 * clipped:.2f} % of the samples at full scale")
        entry.status = FLAGGED
    if entry.sample_rate != rules.sample_rate:
        wave = resample(wave, entry.sample_rate, rules.sample_rate)
        entry.notes.append(f"resampled {entry.sample_rate} Hz -> {rules.sample_rate} Hz (soxr)")
    target = round(duration_s * rules.sample_rate)
    if len(wave) < target:
        entry.notes.append(f"padded {(target - len(wave)) / rules.sample_rate:.3f} s of silence at the end")
        wave = np.pad(wave, (0, target - len(wave)))
    elif len(wave) > target:
        entry.notes.append(f"trimmed {(len(wave) - target) / rules.sample_rate:.3f} s at the end")
        wave = wave[:target]
    staged = staging / f"{entry.pair_id}.wav"
    save_wav(staged, wave, sample_rate=rules.sample_rate)
    entry.staged = str(staged)
