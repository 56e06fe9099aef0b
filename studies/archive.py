"""Study archives: one study and everything it needs in one self-contained .tar.gz file, and back.

    manifest.json          format name + version, the rows below, and every media file's size + sha256
    media/<storage name>   each file a stimulus plays (Stimulus.file, Stimulus.reference)

The rows: the study (rubric, design, MTurk HIT type, state, timestamps), its rubric revisions, stimuli,
raters (with their screening decisions), HITs, assignments (MTurk ids, check results, payment state),
assignment items and ratings. Each table is {"columns": [...], "rows": [[...], ...]}: compact for a
study with many ratings, and simple to check. A row's "key" is its id in the exporting database; rows
refer to each other by these keys only, and the importer gives every row a new id. Uids, scores,
timestamps and MTurk ids are kept as they are, so signed invite links and MTurk's assignment ids still
name the same raters and assignments.

The generation run. A study cannot exist without its run (a non-null foreign key), its test stimuli
point at the run's samples, and its results read the run's spec (system labels) and summary (the
cosine similarity and MCD tables). So the archive carries the run row whole (spec, summary, uid) and
its dataset's row, and, as rows, the samples the stimuli play (with their metrics; an alignment sample
brings the realism sample its audio came from) with the pairs and clips those samples point at.
Files of the run and the dataset are not carried unless a stimulus plays them: the whole media store
is backed up separately (docs/backup.md). Importing matches before it creates: the dataset and the
run by uid, clips by (dataset, clip id), pairs by position, samples by the database's own uniqueness
rules. So the three studies of one run, imported one after the other, share one run again, and a study
re-imported into the database it came from re-attaches to its run. Checkpoints are not carried: a
sample links to a checkpoint with the same sha256 when the database has one. Users are not carried
either: created_by is empty after an import.

Importing checks everything before it writes anything (format and version, column names and types,
references between rows, safe member names, each media file's checksum), refuses a study whose uid
the database already has, then creates all rows in one transaction. Whatever is wrong with an
archive comes out as ArchiveError with a sentence saying what, never as a traceback from inside.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tarfile
import tempfile
import time
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DataError, IntegrityError, models, transaction
from django.utils import timezone

from registry.models import Checkpoint, Clip, Dataset, GenerationRun, Pair, Sample
from studies.models import Assignment, AssignmentItem, Hit, Rater, Rating, RubricRevision, Stimulus, Study
from studies.rubrics import rubric_validate

FORMAT = "varietysound-study-archive"
VERSION = 2
# Columns added since version 1, with the value a version-1 archive implies for them: imported
# systems' provenance on samples, and a study's reference system for comparisons.
ADDED_IN_2 = {"samples": {"provenance": {}}, "study": {"reference_system": ""}}
MANIFEST = "manifest.json"
MEDIA = "media/"
CHUNK = 1 << 20
BATCH = 2000
# Set by the archive's structure rather than carried as columns: the primary key, the one study and
# the one run every row belongs to, the run's dataset, and rows this format does not carry (users;
# checkpoints, which are linked by sha256 instead).
IMPLIED = frozenset({"id", "study", "run", "dataset", "created_by", "checkpoint"})


class ArchiveError(ValueError):
    """What is wrong with an archive, or with importing it here, in one readable sentence."""


@dataclass(frozen=True)
class Table:
    """One kind of row: the model's own columns, then references to the keys of other tables
    (column -> (table, nullable)), then computed columns (archive column -> values() lookup)."""

    name: str
    model: type[models.Model]
    fields: tuple[str, ...]
    links: dict[str, tuple[str, bool]] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return ["key", *self.fields, *self.links, *self.extra]


JOB = ("uid", "status", "progress_done", "progress_total", "message", "error", "task_id", "created_at",
       "started_at", "finished_at")  # fmt: skip
DATASET = Table(
    "dataset", Dataset, (*JOB, "name", "source", "source_path", "root", "config", "stats", "problems")
)
RUN = Table("run", GenerationRun, (*JOB, "name", "spec", "seed", "summary", "warnings"))
CLIPS = Table(
    "clips",
    Clip,
    ("clip_id", "category", "split", "duration_s", "video", "audio", "mel_hifigan", "mel_vas", "features",
     "meta"),
)  # fmt: skip
PAIRS = Table(
    "pairs",
    Pair,
    ("task", "category", "index"),
    {"video_clip": ("clips", False), "reference_clip": ("clips", False)},
)
SAMPLES = Table(
    "samples",
    Sample,
    ("task", "category", "system", "variant", "audio", "mel", "video", "metrics", "provenance", "status",
     "attempts", "error", "created_at"),
    {"pair": ("pairs", True), "clip": ("clips", False), "source": ("samples", True)},
    {"checkpoint_sha256": "checkpoint__sha256"},
)  # fmt: skip
STUDY = Table(
    "study",
    Study,
    ("uid", "name", "kind", "state", "message", "instructions", "rubric", "rubric_version", "systems",
     "categories", "ratings_per_stimulus", "stimuli_per_assignment", "gold_per_assignment",
     "traps_per_assignment", "seed", "reward", "bonus", "assignment_duration_s", "lifetime_s",
     "auto_approval_delay_s", "qualifications", "mturk_live", "mturk_hit_type_id", "created_at", "opened_at",
     "closed_at", "results", "reference_system"),
)  # fmt: skip
REVISIONS = Table("rubric_revisions", RubricRevision, ("version", "instructions", "rubric", "created_at"))
STIMULI = Table(
    "stimuli",
    Stimulus,
    ("uid", "role", "category", "system", "media", "file", "reference", "expected_min", "expected_max", "note",
     "valid_ratings"),
    {"sample": ("samples", True)},
)  # fmt: skip
RATERS = Table(
    "raters",
    Rater,
    ("source", "external_id", "label", "excluded", "exclusion_reason", "blocked", "created_at"),
)
HITS = Table(
    "hits",
    Hit,
    ("hit_id", "hit_type_id", "unique_request_token", "max_assignments", "live", "expires_at", "created_at",
     "synced_at", "extensions"),
)  # fmt: skip
ASSIGNMENTS = Table(
    "assignments",
    Assignment,
    ("uid", "state", "mturk_assignment_id", "turk_submit_to", "completion_code", "passed_checks",
     "check_failures", "mturk_status", "bonus_paid", "reviewed_at", "created_at", "submitted_at"),
    {"rater": ("raters", False), "hit": ("hits", True)},
)  # fmt: skip
ITEMS = Table(
    "assignment_items",
    AssignmentItem,
    ("position",),
    {"assignment": ("assignments", False), "stimulus": ("stimuli", False)},
)
RATINGS = Table(
    "ratings",
    Rating,
    ("score", "time_spent_ms", "play_count", "played_to_end", "rubric_version", "created_at"),
    {"rater": ("raters", False), "stimulus": ("stimuli", False), "assignment": ("assignments", False)},
)
SINGLE = (DATASET, RUN, STUDY)  # one row each, stored as an object
TABLES = (CLIPS, PAIRS, SAMPLES, REVISIONS, STIMULI, RATERS, HITS, ASSIGNMENTS, ITEMS, RATINGS)


# --- export ------------------------------------------------------------------------------------------


def study_export(*, study: Study, path: str | Path) -> Path:
    """Write the study's archive to `path` (written beside it first, then renamed: never half a file)."""
    path = Path(path)
    study = Study.objects.select_related("run", "run__dataset").get(pk=study.pk)
    data = _study_rows(study)
    names = sorted({name for row in data["stimuli"]["rows"] for name in _played(STIMULI, row) if name})
    for name in names:
        try:
            _safe_name(name)
        except ValueError as exc:
            raise ArchiveError(f"the study plays {name!r}, which cannot be archived: it {exc}") from None
        if not default_storage.exists(name):
            raise ArchiveError(
                f"the study plays {name!r}, which is missing from the media store; the archive would not be "
                "self-contained"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=f".{path.name}.", suffix=".partial", delete=False
    )
    try:
        with handle, tarfile.open(fileobj=handle, mode="w:gz") as tar:
            # The media go first, hashed as they stream in; the manifest, which lists their checksums,
            # goes last. The importer does not depend on the order.
            files = [_media_add(tar, name) for name in names]
            manifest = {
                "format": FORMAT,
                "version": VERSION,
                "exported_at": timezone.now().isoformat(),
                "study_uid": str(study.uid),
                "files": files,
                **data,
            }
            body = json.dumps(manifest, ensure_ascii=False, separators=(",", ":")).encode()
            tar.addfile(_member(MANIFEST, len(body)), io.BytesIO(body))
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return path


def _study_rows(study: Study) -> dict[str, Any]:
    run = study.run
    stimuli = Stimulus.objects.filter(study=study)
    sample_ids: set[int] = set()
    frontier = set(stimuli.exclude(sample=None).values_list("sample_id", flat=True))
    while frontier:  # an alignment sample plays the audio of its realism `source`: carry that too
        sample_ids |= frontier
        sources = Sample.objects.filter(pk__in=frontier, source__isnull=False).values_list(
            "source_id", flat=True
        )
        frontier = set(sources) - sample_ids
    samples = Sample.objects.filter(pk__in=sample_ids)
    if samples.exclude(run=run).exists():
        raise ArchiveError(f"study #{study.pk} plays samples of a run other than its own (#{run.pk})")
    pairs = Pair.objects.filter(pk__in=samples.exclude(pair=None).values("pair"))
    clip_ids = (
        set(samples.values_list("clip_id", flat=True))
        | set(pairs.values_list("video_clip_id", flat=True))
        | set(pairs.values_list("reference_clip_id", flat=True))
    )
    return {
        "dataset": _single(DATASET, Dataset.objects.filter(pk=run.dataset_id)),
        "run": _single(RUN, GenerationRun.objects.filter(pk=run.pk)),
        "study": _single(STUDY, Study.objects.filter(pk=study.pk)),
        "clips": _table(CLIPS, Clip.objects.filter(pk__in=clip_ids)),
        "pairs": _table(PAIRS, pairs),
        "samples": _table(SAMPLES, samples),
        "rubric_revisions": _table(REVISIONS, RubricRevision.objects.filter(study=study)),
        "stimuli": _table(STIMULI, stimuli),
        "raters": _table(RATERS, Rater.objects.filter(study=study)),
        "hits": _table(HITS, Hit.objects.filter(study=study)),
        "assignments": _table(ASSIGNMENTS, Assignment.objects.filter(study=study)),
        "assignment_items": _table(ITEMS, AssignmentItem.objects.filter(assignment__study=study)),
        "ratings": _table(RATINGS, Rating.objects.filter(study=study)),
    }


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    return value


def _table(table: Table, queryset: models.QuerySet) -> dict[str, Any]:
    lookups = ["pk", *table.fields, *(f"{name}_id" for name in table.links), *table.extra.values()]
    rows = queryset.order_by("pk").values_list(*lookups).iterator(chunk_size=5000)
    return {"columns": table.columns, "rows": [[_encode(v) for v in row] for row in rows]}


def _single(table: Table, queryset: models.QuerySet) -> dict[str, Any]:
    values = queryset.values(*table.fields).get()
    return {name: _encode(values[name]) for name in table.fields}


def _played(table: Table, row: list[Any]) -> tuple[str, str]:
    columns = table.columns
    return row[columns.index("file")], row[columns.index("reference")]


class _HashingReader:
    """Hashes what tarfile reads from a storage file, so each file is read once."""

    def __init__(self, source: BinaryIO) -> None:
        self.source, self.digest = source, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.source.read(size)
        self.digest.update(chunk)
        return chunk


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, int(time.time())
    return info


def _media_add(tar: tarfile.TarFile, name: str) -> dict[str, Any]:
    size = default_storage.size(name)
    with default_storage.open(name, "rb") as source:
        reader = _HashingReader(source)
        tar.addfile(_member(MEDIA + name, size), reader)
    return {"name": name, "size": size, "sha256": reader.digest.hexdigest()}


# --- reading and checking an archive ------------------------------------------------------------------


@dataclass
class _Archive:
    """An archive's rows, decoded to the values the models hold, and its media, extracted and hashed."""

    single: dict[str, dict[str, Any]]
    tables: dict[str, list[dict[str, Any]]]
    files: dict[str, str]  # storage name -> sha256
    extracted: dict[str, Path]  # storage name -> its bytes, in a temporary folder


def _safe_name(name: Any) -> str:
    """A storage name or member name that stays where it is put: relative, no '..', no odd characters."""
    if not isinstance(name, str) or not name:
        raise ValueError("must be a non-empty string")
    if len(name) > 500:
        raise ValueError("is longer than 500 characters")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid UTF-8") from None
    if name.startswith("/") or "\\" in name or "\x00" in name or (len(name) > 1 and name[1] == ":"):
        raise ValueError("must be a relative path (no leading '/', no drive, no backslash)")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError("must not contain '..', '.' or empty path components")
    return name


def _archive_read(path: Path, workdir: Path) -> tuple[Any, dict[str, tuple[Path, str, int]]]:
    """The manifest (parsed JSON) and each media member (extracted to workdir, its sha256 and size)."""
    if not path.is_file():
        raise ArchiveError(f"{path} is not a file")
    manifest: bytes | None = None
    media: dict[str, tuple[Path, str, int]] = {}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                try:
                    _safe_name(member.name)
                except ValueError as exc:
                    raise ArchiveError(
                        f"refusing archive member {member.name[:200]!r}: its name {exc}"
                    ) from None
                if not member.isreg():
                    raise ArchiveError(
                        f"refusing archive member {member.name!r}: only plain files are allowed (no links, "
                        "folders or devices)"
                    )
                source = tar.extractfile(member)
                if member.name == MANIFEST:
                    if manifest is not None:
                        raise ArchiveError("the archive holds manifest.json twice")
                    manifest = source.read()
                elif member.name.startswith(MEDIA):
                    name = member.name[len(MEDIA) :]
                    if name in media:
                        raise ArchiveError(f"the archive holds {member.name!r} twice")
                    target = workdir / str(len(media))
                    media[name] = (target, *_copy_hashing(source, target))
                else:
                    raise ArchiveError(f"unexpected archive member {member.name!r}")
            # Read to the end of the compressed stream: a truncated file is caught by gzip's length and
            # CRC check, even where the tar itself stopped reading early.
            while tar.fileobj.read(CHUNK):
                pass
    except ArchiveError:
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ArchiveError(f"{path.name} is not a readable study archive (.tar.gz): {exc}") from None
    if manifest is None:
        raise ArchiveError("the archive has no manifest.json")
    try:
        return json.loads(manifest), media
    except (ValueError, RecursionError) as exc:
        raise ArchiveError(f"manifest.json is not valid JSON: {str(exc)[:200]}") from None


def _copy_hashing(source: BinaryIO, target: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with target.open("wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_INT_RANGES = {
    "SmallIntegerField": (-(2**15), 2**15 - 1),
    "PositiveSmallIntegerField": (0, 2**15 - 1),
    "IntegerField": (-(2**31), 2**31 - 1),
    "PositiveIntegerField": (0, 2**31 - 1),
    "BigIntegerField": (-(2**63), 2**63 - 1),
    "PositiveBigIntegerField": (0, 2**63 - 1),
}


def _decode(model_field: models.Field, value: Any) -> Any:
    """A JSON value as the model field holds it. Types are checked strictly (no "5" for 5), and the
    limits the databases differ on (lengths, integer ranges, NUL characters) are checked here, so
    SQLite and PostgreSQL refuse the same archives with the same message."""
    if value is None:
        if model_field.null:
            return None
        raise ValueError("must not be null")
    kind = model_field.get_internal_type()
    if isinstance(model_field, models.JSONField):
        default = model_field.default() if callable(model_field.default) else model_field.default
        if isinstance(default, (dict, list)) and not isinstance(value, type(default)):
            raise ValueError(f"must be a JSON {'object' if isinstance(default, dict) else 'array'}")
        return value
    if isinstance(model_field, models.BooleanField):
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        result: Any = value
    elif isinstance(model_field, models.FloatField):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError("must be a finite number")
        result = float(value)
    elif isinstance(model_field, models.DateTimeField):
        try:
            result = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            result = None
        if result is None or timezone.is_naive(result):
            raise ValueError("must be an ISO 8601 date and time with its UTC offset")
    elif isinstance(model_field, models.DecimalField):
        try:
            result = Decimal(value) if isinstance(value, str) else None
        except InvalidOperation:
            result = None
        if result is None or not result.is_finite():
            raise ValueError("must be a decimal number written as a string")
    elif isinstance(model_field, models.UUIDField):
        try:
            result = uuid.UUID(value) if isinstance(value, str) else None
        except ValueError:
            result = None
        if result is None:
            raise ValueError("must be a UUID")
    elif isinstance(model_field, (models.CharField, models.TextField, models.FileField)):
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        if model_field.max_length and len(value) > model_field.max_length:
            raise ValueError(f"is longer than {model_field.max_length} characters")
        result = value
    else:  # a field type this format does not know: the tests keep this from shipping
        raise AssertionError(f"no archive codec for {kind}")
    if model_field.choices and result not in {choice for choice, _ in model_field.flatchoices}:
        raise ValueError(f"must be one of {', '.join(str(c) for c, _ in model_field.flatchoices)}")
    try:
        model_field.run_validators(result)
    except ValidationError as exc:
        raise ValueError("; ".join(exc.messages)) from None
    return result


def _key(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("must be a positive whole number (a row key)")
    return value


def _sha256(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 64 or value.strip("0123456789abcdef"):
        raise ValueError("must be 64 lowercase hexadecimal digits")
    return value


def _nullable(decode):
    return lambda value: None if value is None else decode(value)


def _decoders(table: Table) -> dict[str, Any]:
    decoders: dict[str, Any] = {"key": _key}
    for name in table.fields:
        model_field = table.model._meta.get_field(name)
        decoders[name] = lambda value, f=model_field: _decode(f, value)
    for name, (_, nullable) in table.links.items():
        decoders[name] = _nullable(_key) if nullable else _key
    for name in table.extra:
        decoders[name] = _nullable(_sha256)
    return decoders


def _decode_single(table: Table, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ArchiveError(f"{table.name}: expected a JSON object, got {type(raw).__name__}")
    if set(raw) != set(table.fields):
        missing, unknown = sorted(set(table.fields) - set(raw)), sorted(set(raw) - set(table.fields))
        raise ArchiveError(f"{table.name}: missing fields {missing}, unknown fields {unknown}")
    decoders = _decoders(table)
    out = {}
    for name in table.fields:
        try:
            out[name] = decoders[name](raw[name])
        except ValueError as exc:
            raise ArchiveError(f"{table.name}, {name} = {_short(raw[name])}: {exc}") from None
    return out


def _decode_table(table: Table, raw: Any) -> list[dict[str, Any]]:
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("columns"), list)
        or not isinstance(raw.get("rows"), list)
    ):
        raise ArchiveError(f"{table.name}: expected an object with a 'columns' list and a 'rows' list")
    columns = raw["columns"]
    if not all(isinstance(c, str) for c in columns) or sorted(columns) != sorted(table.columns):
        raise ArchiveError(f"{table.name}: columns {_short(columns)}; this format has {table.columns}")
    decoders = [_decoders(table)[name] for name in columns]
    out: list[dict[str, Any]] = []
    keys: set[int] = set()
    for number, row in enumerate(raw["rows"], start=1):
        if not isinstance(row, list) or len(row) != len(columns):
            raise ArchiveError(f"{table.name} row {number}: expected a list of {len(columns)} values")
        values = {}
        for name, decode, value in zip(columns, decoders, row, strict=True):
            try:
                values[name] = decode(value)
            except ValueError as exc:
                raise ArchiveError(f"{table.name} row {number}, {name} = {_short(value)}: {exc}") from None
        if values["key"] in keys:
            raise ArchiveError(f"{table.name} row {number}: key {values['key']} appears twice")
        keys.add(values["key"])
        out.append(values)
    return out


def _upgrade_from_1(manifest: dict[str, Any]) -> dict[str, Any]:
    """A version-1 manifest with the columns added since, at the values version 1 implied."""
    manifest = dict(manifest)
    for name, added in ADDED_IN_2.items():
        raw = manifest.get(name)
        if (
            isinstance(raw, dict)
            and isinstance(raw.get("columns"), list)
            and isinstance(raw.get("rows"), list)
        ):
            new = [c for c in added if c not in raw["columns"]]
            rows = [[*row, *(added[c] for c in new)] if isinstance(row, list) else row for row in raw["rows"]]
            manifest[name] = {**raw, "columns": [*raw["columns"], *new], "rows": rows}
        elif isinstance(raw, dict) and "columns" not in raw:
            manifest[name] = {**{c: v for c, v in added.items() if c not in raw}, **raw}
    return manifest


def _archive_check(manifest: Any, media: dict[str, tuple[Path, str, int]]) -> _Archive:
    if not isinstance(manifest, dict):
        raise ArchiveError("manifest.json must hold a JSON object")
    if manifest.get("format") != FORMAT:
        raise ArchiveError(
            f"not a study archive: format {_short(manifest.get('format'))}, expected {FORMAT!r}"
        )
    if manifest.get("version") not in (1, VERSION):
        raise ArchiveError(
            f"study archive version {_short(manifest.get('version'))} is not supported; this platform reads "
            f"versions 1 and {VERSION}"
        )
    if manifest.get("version") == 1:
        manifest = _upgrade_from_1(manifest)
    single = {t.name: _decode_single(t, manifest.get(t.name)) for t in SINGLE}
    tables = {t.name: _decode_table(t, manifest.get(t.name)) for t in TABLES}
    for table in TABLES:
        for column, (target, _) in table.links.items():
            keys = {row["key"] for row in tables[target]}
            for number, row in enumerate(tables[table.name], start=1):
                if row[column] is not None and row[column] not in keys:
                    raise ArchiveError(
                        f"{table.name} row {number}: {column} {row[column]} is not in {target}"
                    )
    _meaning_check(single, tables)
    files = _files_check(manifest.get("files"), media)
    for number, row in enumerate(tables["stimuli"], start=1):
        for name in (row["file"], row["reference"]):
            if name and name not in files:
                raise ArchiveError(f"stimuli row {number} plays {name!r}, which is not in the archive")
    return _Archive(single=single, tables=tables, files=files, extracted={n: media[n][0] for n in files})


def _meaning_check(single: dict[str, dict[str, Any]], tables: dict[str, list[dict[str, Any]]]) -> None:
    """What the pages and the results read from JSON columns has the shape they expect."""
    study, run = single["study"], single["run"]
    rubrics = [("study", study["rubric"])] + [
        (f"rubric_revisions row {n}", row["rubric"])
        for n, row in enumerate(tables["rubric_revisions"], start=1)
    ]
    for where, rubric in rubrics:
        try:
            rubric_validate(rubric)
        except ValueError as exc:
            raise ArchiveError(f"{where}, rubric: {exc}") from None
    for name in ("systems", "categories"):
        if not all(isinstance(v, str) for v in study[name]):
            raise ArchiveError(f"study, {name}: must be a list of strings")
    systems = run["spec"].get("systems", [])
    if not isinstance(systems, list) or not all(
        isinstance(s, dict) and isinstance(s.get("key"), str) and isinstance(s.get("label"), str)
        for s in systems
    ):
        raise ArchiveError("run, spec: 'systems' must be a list of objects with a 'key' and a 'label'")
    metrics = run["summary"].get("metrics") or {}
    # {task: {metric: {system: {category: cell}}}}, as registry.services.generation writes it.
    levels = [metrics]
    for _ in range(3):
        if not all(isinstance(level, dict) for level in levels):
            break
        levels = [inner for level in levels for inner in level.values()]
    if not all(isinstance(level, dict) for level in levels):
        raise ArchiveError("run, summary: 'metrics' must be nested objects (task, metric, system, category)")


def _files_check(raw: Any, media: dict[str, tuple[Path, str, int]]) -> dict[str, str]:
    if not isinstance(raw, list):
        raise ArchiveError("manifest.json: 'files' must be a list")
    files: dict[str, str] = {}
    for number, entry in enumerate(raw, start=1):
        if not isinstance(entry, dict) or set(entry) != {"name", "size", "sha256"}:
            raise ArchiveError(f"files entry {number}: expected an object with name, size and sha256")
        try:
            name, digest = _safe_name(entry["name"]), _sha256(entry["sha256"])
        except ValueError as exc:
            raise ArchiveError(f"files entry {number} ({_short(entry['name'])}): {exc}") from None
        if name in files:
            raise ArchiveError(f"files entry {number}: {name!r} is listed twice")
        if name not in media:
            raise ArchiveError(
                f"the archive lists {name!r} but does not hold it (no member {MEDIA + name!r})"
            )
        _, actual, size = media[name]
        if entry["size"] != size or actual != digest:
            raise ArchiveError(
                f"{name!r} does not match its checksum in the manifest: the archive is damaged or was altered"
            )
        files[name] = digest
    unlisted = sorted(set(media) - set(files))
    if unlisted:
        raise ArchiveError(f"the archive holds media the manifest does not list: {_short(unlisted)}")
    return files


# --- import ------------------------------------------------------------------------------------------


def study_import(*, path: str | Path) -> Study:
    """Recreate the archived study (and what it needs of its run) in this database; see the module
    docstring. Raises ArchiveError, and then has changed nothing, for any archive it cannot take."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="study-import-") as workdir:
        manifest, media = _archive_read(path, Path(workdir))
        archive = _archive_check(manifest, media)
        uid = archive.single["study"]["uid"]
        existing = Study.objects.filter(uid=uid).first()
        if existing is not None:
            raise ArchiveError(
                f"study {uid} is already in this database (#{existing.pk}, {existing.name!r}); importing it "
                "again would duplicate it. Delete it first to replace it."
            )
        missing = _media_missing(archive)
        written: list[str] = []
        try:
            for name in missing:
                with archive.extracted[name].open("rb") as content:
                    saved = default_storage.save(name, File(content))
                written.append(saved)
                if saved != name:  # somebody wrote the same name since the check above
                    raise ArchiveError(f"{name!r} appeared in the media store during the import")
            with transaction.atomic():
                return _rows_create(archive)
        except (IntegrityError, DataError) as exc:
            _media_remove(written)
            raise ArchiveError(
                "this database refused the archive's rows (a uid, HIT id or MTurk assignment id may "
                f"already be here): {str(exc).strip()[:300]}"
            ) from None
        except BaseException:
            _media_remove(written)
            raise


def _media_missing(archive: _Archive) -> list[str]:
    """The media to write. A file already stored under the same name must hold the same bytes (a
    re-import over a kept media store); anything else is refused rather than overwritten."""
    missing = []
    for name, digest in sorted(archive.files.items()):
        if not default_storage.exists(name):
            missing.append(name)
            continue
        stored = hashlib.sha256()
        with default_storage.open(name, "rb") as handle:
            while chunk := handle.read(CHUNK):
                stored.update(chunk)
        if stored.hexdigest() != digest:
            raise ArchiveError(
                f"the media store already has a different file at {name!r}; refusing to overwrite it"
            )
    return missing


def _media_remove(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


def _fields(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in table.fields}


def _rows_create(archive: _Archive) -> Study:
    run, samples = _run_rows(archive)
    t = archive.tables
    study = Study.objects.create(run=run, **archive.single["study"])
    RubricRevision.objects.bulk_create(
        [RubricRevision(study=study, **_fields(REVISIONS, row)) for row in t["rubric_revisions"]]
    )
    stimuli = _bulk(
        STIMULI,
        t["stimuli"],
        lambda row: Stimulus(study=study, sample=samples.get(row["sample"]), **_fields(STIMULI, row)),
    )
    raters = _bulk(RATERS, t["raters"], lambda row: Rater(study=study, **_fields(RATERS, row)))
    hits = _bulk(HITS, t["hits"], lambda row: Hit(study=study, **_fields(HITS, row)))
    assignments = _bulk(
        ASSIGNMENTS,
        t["assignments"],
        lambda row: Assignment(
            study=study,
            rater_id=raters[row["rater"]],
            hit_id=hits.get(row["hit"]),
            **_fields(ASSIGNMENTS, row),
        ),
    )
    _bulk(
        ITEMS,
        t["assignment_items"],
        lambda row: AssignmentItem(
            assignment_id=assignments[row["assignment"]],
            stimulus_id=stimuli[row["stimulus"]],
            **_fields(ITEMS, row),
        ),
    )
    _bulk(
        RATINGS,
        t["ratings"],
        lambda row: Rating(
            study=study,
            rater_id=raters[row["rater"]],
            stimulus_id=stimuli[row["stimulus"]],
            assignment_id=assignments[row["assignment"]],
            **_fields(RATINGS, row),
        ),
    )
    return study


def _bulk(table: Table, rows: list[dict[str, Any]], build) -> dict[int, int]:
    """Insert rows in the archive's order (so the new ids keep the old ids' order, which the results'
    orderings and their seeded bootstrap follow); returns archive key -> new id."""
    made = table.model.objects.bulk_create([build(row) for row in rows], batch_size=BATCH)
    return {row["key"]: obj.pk for row, obj in zip(rows, made, strict=True)}


def _run_rows(archive: _Archive) -> tuple[GenerationRun, dict[int, Sample]]:
    """The study's run and the samples its stimuli play: found by identity, created where missing."""
    single, t = archive.single, archive.tables
    run = GenerationRun.objects.select_related("dataset").filter(uid=single["run"]["uid"]).first()
    if run is None:
        dataset = Dataset.objects.filter(uid=single["dataset"]["uid"]).first() or _dataset_create(
            single["dataset"]
        )
        run = GenerationRun.objects.create(dataset=dataset, **single["run"])
    clips = {}
    for row in t["clips"]:
        fields = _fields(CLIPS, row)
        clips[row["key"]], _ = Clip.objects.get_or_create(
            dataset=run.dataset, clip_id=fields.pop("clip_id"), defaults=fields
        )
    pairs = {}
    for row in t["pairs"]:
        pairs[row["key"]], _ = Pair.objects.get_or_create(
            run=run,
            task=row["task"],
            category=row["category"],
            index=row["index"],
            defaults={"video_clip": clips[row["video_clip"]], "reference_clip": clips[row["reference_clip"]]},
        )
    samples: dict[int, Sample] = {}
    pending = t["samples"]
    while pending:  # sources before the samples made from them
        ready = [row for row in pending if row["source"] is None or row["source"] in samples]
        if not ready:
            raise ArchiveError("samples: their source references go round in a circle")
        for row in ready:
            samples[row["key"]] = _sample_get_or_create(run, row, pairs, clips, samples)
        pending = [row for row in pending if row["key"] not in samples]
    return run, samples


def _dataset_create(fields: dict[str, Any]) -> Dataset:
    name = fields["name"]
    if Dataset.objects.filter(name=name).exists():  # another dataset of that name: keep both, marked
        suffix = f" (imported {fields['uid'].hex[:8]})"
        name = name[: 100 - len(suffix)] + suffix
    return Dataset.objects.create(**{**fields, "name": name})


def _sample_get_or_create(
    run: GenerationRun,
    row: dict[str, Any],
    pairs: dict[int, Pair],
    clips: dict[int, Clip],
    samples: dict[int, Sample],
) -> Sample:
    pair, clip, system = pairs.get(row["pair"]), clips[row["clip"]], row["system"]
    if pair is not None:
        found = Sample.objects.filter(pair=pair, system=system).first()
    else:
        found = Sample.objects.filter(run=run, task=row["task"], clip=clip, system=system, pair=None).first()
    if found is not None:
        return found
    sha256 = row["checkpoint_sha256"]
    return Sample.objects.create(
        run=run,
        pair=pair,
        clip=clip,
        source=samples.get(row["source"]),
        checkpoint=Checkpoint.objects.filter(sha256=sha256).first() if sha256 else None,
        **_fields(SAMPLES, row),
    )


def study_counts(study: Study) -> dict[str, int]:
    """What an archive of the study holds, for the commands' summaries."""
    names = set(Stimulus.objects.filter(study=study).values_list("file", flat=True)) | set(
        Stimulus.objects.filter(study=study).exclude(reference="").values_list("reference", flat=True)
    )
    return {
        "stimuli": Stimulus.objects.filter(study=study).count(),
        "raters": Rater.objects.filter(study=study).count(),
        "excluded raters": Rater.objects.filter(study=study, excluded=True).count(),
        "assignments": Assignment.objects.filter(study=study).count(),
        "ratings": Rating.objects.filter(study=study).count(),
        "media files": len(names - {""}),
    }
