"""Datasets: import from a source (SynthVAS, VAS layout, raw videos) and keep their statistics."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import transaction
from django.utils.text import slugify

from inference.data.records import ClipRecord, ImportProblem
from registry.models import CATEGORIES, Clip, Dataset, Status
from registry.services.jobs import job_finish, job_progress, job_start


def dataset_refresh_stats(*, dataset_id: int) -> dict:
    """Recount a dataset's clips by split and by category × split, and store the table on the row."""
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().get(pk=dataset_id)
        rows = Clip.objects.filter(dataset=dataset).values_list("category", "split")
        by_split: Counter[str] = Counter()
        by_category: dict[str, Counter[str]] = {}
        for category, split in rows:
            by_split[split] += 1
            by_category.setdefault(category, Counter())[split] += 1
        stats = {
            "clips": sum(by_split.values()),
            "by_split": dict(sorted(by_split.items())),
            "by_category": {category: dict(sorted(c.items())) for category, c in sorted(by_category.items())},
        }
        dataset.stats = stats
        dataset.save(update_fields=["stats"])
    return stats


ProgressCallback = Callable[[int, int, str], None]
_FILE_FIELDS = ("video", "audio", "mel_hifigan", "mel_vas", "features")


def dataset_prepare(*, name: str, source: str, source_path: str = "", config: dict | None = None) -> Dataset:
    """Create the dataset row, or take the existing one of that name back to `queued` for a re-run.

    Re-importing is idempotent: clips are matched by id and files already in place are kept.
    """
    if source not in Dataset.Source.values:
        raise ValueError(f"unknown dataset source {source!r}; expected one of {Dataset.Source.values}")
    slug = slugify(name) or "dataset"
    with transaction.atomic():
        dataset, created = Dataset.objects.select_for_update().get_or_create(
            name=name,
            defaults={
                "source": source,
                "source_path": source_path,
                "root": f"datasets/{slug}",
                "config": config or {},
            },
        )
        if not created:
            if dataset.source != source:
                raise ValueError(
                    f"dataset {name!r} already exists with source {dataset.source!r}, not {source!r}"
                )
            if dataset.status == Status.RUNNING:
                raise ValueError(f"dataset {name!r} is being imported right now ({dataset.message})")
            dataset.source_path = source_path or dataset.source_path
            dataset.config = config if config is not None else dataset.config
        dataset.status = Status.QUEUED
        dataset.finished_at = None
        dataset.save()
    return dataset


def _scanner(dataset: Dataset, out_root: Path, report: Callable[[int, int], None]) -> Iterator:
    """The inference-side generator that yields ClipRecord | ImportProblem for this dataset's source."""
    if dataset.source == Dataset.Source.SYNTHVAS:
        from inference.data.synthvas import SynthVASConfig, synthvas_generate

        config = {**dataset.config, "categories": tuple(dataset.config.get("categories") or CATEGORIES)}
        return synthvas_generate(out_root, config=SynthVASConfig(**config), progress=report)
    source = Path(dataset.source_path)
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: not a folder (dataset {dataset.name!r})")
    if dataset.source == Dataset.Source.VAS:
        from inference.data.vas import vas_scan

        return vas_scan(source, out_root=out_root, progress=report)
    from inference.data.features import MotionAppearanceExtractor
    from inference.data.videos import videos_scan

    return videos_scan(source, out_root=out_root, extractor=MotionAppearanceExtractor(), progress=report)


def _local_root(dataset: Dataset) -> tuple[Path, bool]:
    """Where the scanner writes: straight into MEDIA_ROOT on local storage, else a temporary folder
    whose files are then uploaded to the configured storage (S3)."""
    if isinstance(default_storage, FileSystemStorage):
        return Path(default_storage.path(dataset.root)), False
    return Path(tempfile.mkdtemp(prefix="dataset-import-")), True


def _upload(local_root: Path, relative: str, storage_name: str) -> None:
    if default_storage.exists(storage_name):
        return
    with (local_root / relative).open("rb") as handle:
        saved = default_storage.save(storage_name, File(handle))
    if saved != storage_name:
        raise RuntimeError(f"storage renamed {storage_name} to {saved}")


def _printable(text: str) -> str:
    """Problems quote file names and bytes of broken files; keep them storable in any database (no
    lone surrogates from undecodable file names, no NUL, which PostgreSQL refuses)."""
    try:
        raw = text.encode("utf-8", "surrogateescape")  # an undecodable file name: back to its bytes
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def _unstorable(dataset: Dataset, item: ClipRecord) -> str:
    """Why a clip cannot become a row, or "": its names come from file and folder names, which can be
    anything the file system allows."""
    limits = {name: Clip._meta.get_field(name).max_length for name in ("clip_id", "category", *_FILE_FIELDS)}
    names = {"clip_id": item.clip_id, "category": item.category}
    names.update(
        {role: f"{dataset.root}/{path}" for role, path in item.files.items() if role in _FILE_FIELDS}
    )
    for field, value in names.items():
        if len(value) > limits[field]:
            return f"the {field.replace('_', ' ')} is longer than {limits[field]} characters: rename the file or folder"
    try:
        json.dumps([names, item.meta], ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "the file or folder name is not valid UTF-8: rename it"
    return ""


def dataset_import(*, dataset_id: int, progress: ProgressCallback | None = None) -> Dataset:
    """Run a dataset's import: every clip record becomes a Clip row, every problem is kept on the
    dataset; a broken file is reported and skipped while the rest imports."""
    dataset = Dataset.objects.get(pk=dataset_id)
    if not job_start(job=dataset, message="starting"):
        return dataset  # already finished: a redelivered task does nothing
    last_write = 0.0

    def report(done: int, total: int) -> None:
        nonlocal last_write
        message = f"{done}/{total} clips"
        now = time.monotonic()
        if now - last_write > 1.0 or done == total:  # the dashboard polls; spare the database
            job_progress(job=dataset, done=done, total=total, message=message)
            last_write = now
        if progress:
            progress(done, total, message)

    local_root, upload = _local_root(dataset)
    problems: list[dict[str, str]] = []
    imported = 0
    try:
        for item in _scanner(dataset, local_root, report):
            if not isinstance(item, ImportProblem) and (why := _unstorable(dataset, item)):
                source = item.meta.get("source")  # the video's path; a VAS clip has several
                item = ImportProblem(
                    source=source if isinstance(source, str) else f"{item.category}/{item.clip_id}",
                    reason=why,
                )
            if isinstance(item, ImportProblem):
                problems.append({"source": _printable(str(item.source)), "reason": _printable(item.reason)})
                continue
            files = {}
            for role in _FILE_FIELDS:
                if role in item.files:
                    files[role] = f"{dataset.root}/{item.files[role]}"
                    if upload:
                        _upload(local_root, item.files[role], files[role])
            meta = dict(item.meta)
            if "ground_truth" in item.files:
                meta["ground_truth_file"] = f"{dataset.root}/{item.files['ground_truth']}"
                if upload:
                    _upload(local_root, item.files["ground_truth"], meta["ground_truth_file"])
            Clip.objects.update_or_create(
                dataset=dataset,
                clip_id=item.clip_id,
                defaults={
                    "category": item.category,
                    "split": item.split,
                    "duration_s": item.duration_s,
                    "meta": meta,
                    **{role: files.get(role, "") for role in _FILE_FIELDS},
                },
            )
            imported += 1
    except Exception:
        Dataset.objects.filter(pk=dataset.pk).update(problems=problems)
        job_finish(job=dataset, error=traceback.format_exc())
        raise
    finally:
        if upload:
            shutil.rmtree(local_root, ignore_errors=True)
    Dataset.objects.filter(pk=dataset.pk).update(problems=problems)
    dataset_refresh_stats(dataset_id=dataset.pk)
    summary = f"{imported} clips imported" + (f", {len(problems)} problems" if problems else "")
    job_finish(job=dataset, message=summary)
    return dataset
