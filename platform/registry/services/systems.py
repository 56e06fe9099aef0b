"""Systems made elsewhere: a run's inputs exported as a pack, a system's outputs imported into the run.

    run_inputs_pack ─► runs/<uid>/inputs/pack/ (built once; a run's pairs never change)
    system_import_create ─► SystemImport(queued) + quarantine copy ─► cpu.system_import
        unpack (safe) → validate every file → stage → Sample rows of a new system (one transaction)
        → the per-sample metrics and alignment mux of built-in systems → cosine → summary tables

The web process only copies bytes into quarantine; unpacking, decoding and the metrics run on a
``cpu`` worker (or a detached ``manage.py import_outputs --execute`` process with no broker). A
redelivered task (a worker killed mid-import) starts over from the quarantine copy: files are
written atomically, Sample rows are unique per (pair, system), so the run ends with one set.
"""

from __future__ import annotations

import re
import shutil
import traceback
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from registry.models import GenerationRun, Pair, Sample, Status, SystemImport
from registry.services.generation import (
    GROUND_TRUTH,
    MODEL_TASKS,
    SystemSpec,
    generation_run_summary,
    run_systems,
    samples_cosine,
    samples_finish,
)
from registry.services.jobs import command_detach, job_finish, job_progress, job_start

QUARANTINE = ".quarantine/outputs"
SYSTEM_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
IMPORTED_TASKS = ("realism", "alignment", "timbre", "ablation")


class SystemImportError(ValueError):
    """A request that cannot be accepted (a bad name, a run not finished, a name taken)."""


# --- the pack ---------------------------------------------------------------------------------------


def run_pairs_by_id(run: GenerationRun) -> dict[str, Pair]:
    """The pairs a system must produce an output for, by their pack id."""
    from inference.exchange.pack import pair_id_for

    pairs = Pair.objects.filter(run=run, task__in=MODEL_TASKS).select_related("video_clip", "reference_clip")
    return {pair_id_for(p.task, p.category, p.index): p for p in pairs}


def _pack_dir(run: GenerationRun) -> Path:
    return Path(default_storage.path(f"runs/{run.uid}/inputs/pack"))


def run_inputs_pack(*, run: GenerationRun, progress=None) -> Path:
    """The run's input pack on local storage, built the first time it is asked for."""
    from inference.exchange.pack import PackClip, PackPair, slug, write_pack

    if run.status != Status.SUCCEEDED:
        raise SystemImportError(f"run #{run.pk} is {run.status}; export its inputs once it has finished")
    out = _pack_dir(run)
    if (out / "manifest.json").is_file():
        return out
    pairs = run_pairs_by_id(run)
    clips: dict[int, PackClip] = {}
    keys: dict[str, int] = {}
    for pair in pairs.values():
        for clip in (pair.video_clip, pair.reference_clip):
            if clip.pk in clips:
                continue
            key = slug(clip.clip_id)
            if key in keys:  # two ids that differ only in characters the slug replaces
                key = f"{key}-{clip.pk}"
            keys[key] = clip.pk
            clips[clip.pk] = PackClip(
                key=key,
                clip_id=clip.clip_id,
                category=clip.category,
                duration_s=clip.duration_s,
                video=Path(default_storage.path(clip.video.name)),
                features=Path(default_storage.path(clip.features.name)),
                audio=Path(default_storage.path(clip.audio.name)),
                mel=Path(default_storage.path(clip.mel_hifigan.name)),
            )
    pack_pairs = [
        PackPair(
            pair_id=pair_id,
            task=pair.task,
            category=pair.category,
            index=pair.index,
            video_clip=clips[pair.video_clip_id].key,
            reference_clip=clips[pair.reference_clip_id].key,
            duration_s=pair.video_clip.duration_s,
        )
        for pair_id, pair in pairs.items()
    ]
    info = {
        "id": run.pk,
        "uid": str(run.uid),
        "name": run.name,
        "dataset": run.dataset.name,
        "categories": run.spec.get("categories", []),
        "seed": run.seed,
        "systems": [{"key": s["key"], "label": s["label"]} for s in run.spec.get("systems", [])],
        "exported_at": timezone.now().isoformat(),
    }
    try:
        write_pack(out, run=info, clips=clips.values(), pairs=pack_pairs, progress=progress)
    except FileExistsError:  # built concurrently by another request or command
        pass
    return out


def run_inputs_archive(*, run: GenerationRun) -> Path:
    """The pack as one .tar.gz beside it (built once)."""
    from inference.exchange.pack import archive_pack

    pack = run_inputs_pack(run=run)
    archive = pack.parent / f"inputs-run-{run.pk}.tar.gz"
    if not archive.is_file():
        archive_pack(pack, archive)
    return archive


def run_inputs_export(*, run: GenerationRun, out: Path, progress=None) -> Path:
    """Write the pack to ``out``: a .tar.gz / .tgz file, or a folder that must not exist yet."""
    pack = run_inputs_pack(run=run, progress=progress)
    if out.name.endswith((".tar.gz", ".tgz")):
        shutil.copyfile(run_inputs_archive(run=run), out)
        return out
    if out.exists():
        raise SystemImportError(f"{out} exists already: name a new folder or a .tar.gz file")
    shutil.copytree(pack, out)
    return out


# --- importing outputs ------------------------------------------------------------------------------


def _check_request(run: GenerationRun, system_key: str) -> None:
    if not SYSTEM_KEY.match(system_key or ""):
        raise SystemImportError(
            f"system name {system_key!r}: use 1-63 lower-case letters, digits, '-' or '_', starting with "
            "a letter or digit"
        )
    if run.status != Status.SUCCEEDED:
        raise SystemImportError(f"run #{run.pk} is {run.status}; a system can join it once it has finished")
    if system_key in run_systems(run) or system_key == GROUND_TRUTH:
        raise SystemImportError(f"run #{run.pk} already has a system named {system_key!r}")


def system_import_create(
    *,
    run: GenerationRun,
    system_key: str,
    label: str = "",
    partial: bool = False,
    upload: UploadedFile | None = None,
    path: Path | None = None,
    user=None,
) -> SystemImport:
    """Record an import and copy what arrived (an uploaded file, or a local file or folder) into
    quarantine. Nothing here reads its content beyond copying bytes."""
    _check_request(run, system_key)
    if (upload is None) == (path is None):
        raise ValueError("give either an upload or a path")
    if path is not None and not path.exists():
        raise SystemImportError(f"{path}: no such file or folder")
    original = (upload.name if upload else path.name) or "outputs"
    size = upload.size if upload else _size(path)
    try:
        with transaction.atomic():
            row = SystemImport.objects.create(
                run=run,
                system_key=system_key,
                label=(label or system_key)[:100],
                partial=partial,
                original_name=original[:255],
                size_bytes=size or 0,
                created_by=user,
                status=Status.QUEUED,
                message="waiting for a worker to validate it",
            )
            name = f"{QUARANTINE}/{row.uid}"
            if upload is not None:
                stored = default_storage.save(f"{name}.upload", upload)  # our name, never the browser's
            else:
                stored = _quarantine_copy(path, name)
            SystemImport.objects.filter(pk=row.pk).update(quarantine=stored)
    except IntegrityError:
        raise SystemImportError(
            f"run #{run.pk} already has an import named {system_key!r} that is queued, running or done"
        ) from None
    row.refresh_from_db()
    return row


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_symlink() and p.is_file())


def _quarantine_copy(path: Path, name: str) -> str:
    """A local file or folder into quarantine (links are not followed: the worker reports them)."""
    target = Path(default_storage.path(name + (".upload" if path.is_file() else "")))
    target.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        shutil.copyfile(path, target)
    else:
        shutil.copytree(path, target, symlinks=True)
    return name + (".upload" if path.is_file() else "")


def system_import_launch(*, system_import: SystemImport) -> str:
    """The `cpu.system_import` task with a broker; a detached `manage.py import_outputs --execute`
    process without one (the web server never decodes uploads or loads torch)."""
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(lambda: _enqueue(system_import.pk))
        return "queued for validation"
    pid = command_detach(
        args=["import_outputs", "--execute", str(system_import.pk)],
        log_name=f"import-{system_import.uid}.log",
    )
    SystemImport.objects.filter(pk=system_import.pk).update(task_id=f"process:{pid}")
    return "being validated"


def _enqueue(import_id: int) -> None:
    from registry import tasks

    result = tasks.system_import.delay(import_id)
    SystemImport.objects.filter(pk=import_id).update(task_id=result.id or "")


def _sample_path(run: GenerationRun, pair: Pair, key: str, suffix: str) -> str:
    return f"runs/{run.uid}/{pair.task}/{pair.category}/{key}/pair-{pair.index:03d}{suffix}"


def system_import_execute(*, import_id: int, encoder=None, finish_chunk: int = 16) -> SystemImport:
    """Validate a quarantined import and, if accepted, add its system to the run (a worker's work)."""
    from inference.exchange.archive import ArchiveError, ArchiveLimits, unpack
    from inference.exchange.outputs import validate_outputs

    row = SystemImport.objects.select_related("run", "created_by").get(pk=import_id)
    if not job_start(job=row, message="unpacking"):
        return row
    run = row.run
    work = Path(settings.VAR_DIR) / "tmp" / f"import-{row.uid}"
    shutil.rmtree(work, ignore_errors=True)  # a redelivered task starts over
    written = False
    try:
        source = Path(default_storage.path(row.quarantine))
        limits = ArchiveLimits(
            max_total_bytes=settings.OUTPUTS_MAX_UNPACKED_MB * 1024 * 1024,
            max_member_bytes=min(settings.OUTPUTS_MAX_UNPACKED_MB, 512) * 1024 * 1024,
        )
        try:
            unpacked = unpack(source, work / "unpacked", limits=limits)
        except ArchiveError as exc:
            return _refuse(row, f"{row.original_name}: {exc}")
        pairs = run_pairs_by_id(run)
        expected = {pair_id: pair.video_clip.duration_s for pair_id, pair in pairs.items()}
        job_progress(job=row, done=0, total=len(expected), message=f"checking {len(unpacked.files)} files")
        report = validate_outputs(unpacked, expected, work / "staged")
        SystemImport.objects.filter(pk=row.pk).update(report=report.as_json())
        if not report.accepted:
            return _refuse(row, f"nothing to import: {report.summary()}{_first_problems(report)}")
        if not report.complete and not row.partial:
            return _refuse(
                row,
                f"{report.summary()}; nothing imported (fix the files, or ask for a partial import)"
                f"{_first_problems(report)}",
            )
        written = True
        ids = _samples_write(row, run, pairs, report)
        _samples_metrics(row, run, ids, encoder, finish_chunk)
        failed = Sample.objects.filter(run=run, system=row.system_key, status=Status.FAILED).count()
        scored = f"; {failed} samples failed in scoring (see the run page)" if failed else ""
        job_finish(
            job=row,
            message=f"imported {len(report.accepted)} outputs as {row.label!r}: {report.summary()}{scored}",
        )
        SystemImport.objects.filter(pk=row.pk).update(imported=len(report.accepted))
    except Exception:
        if written:
            _system_remove(run, row.system_key)  # never leave half a system in the run
        job_finish(
            job=row, error=traceback.format_exc(), message="the import failed unexpectedly; see the log"
        )
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
        row.refresh_from_db()
        if row.is_finished:  # a killed worker leaves it for the redelivered task
            _quarantine_delete(row)
            row.refresh_from_db()
    return row


def _first_problems(report, limit: int = 3) -> str:
    """The first few reasons, so the one-line message already says what to fix (the report has all)."""
    lines = [f"{name}: {reason}" for name, reason in report.refused_members]
    lines += [f"{f.name}: {f.problems[0]}" for f in report.refused]
    if report.missing:
        lines.append(
            f"no file for {', '.join(report.missing[:5])}{' ...' if len(report.missing) > 5 else ''}"
        )
    shown = "; ".join(lines[:limit])
    return f". {shown}" + (f" (+{len(lines) - limit} more in the report)" if len(lines) > limit else "")


def _refuse(row: SystemImport, reason: str) -> SystemImport:
    job_finish(job=row, error=reason, message=f"refused: {reason}"[:500])
    row.refresh_from_db()
    return row


def _quarantine_delete(row: SystemImport) -> None:
    if not row.quarantine:
        return
    path = Path(default_storage.path(row.quarantine))
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    SystemImport.objects.filter(pk=row.pk).update(quarantine="")


def _samples_write(row: SystemImport, run: GenerationRun, pairs: dict[str, Pair], report) -> list[int]:
    """Accepted files into media storage with their mels, then the system and its Sample rows in one
    transaction. Returns the ids of the samples whose metrics are to be computed (not alignment)."""
    from inference.audio import load_audio
    from inference.data.outputs import save_npy
    from inference.metrics.mcd import log_mel_from_wave

    alignment = {(p.category, p.index): p for p in Pair.objects.filter(run=run, task="alignment")}
    who = row.created_by.get_username() if row.created_by else ""
    rows: list[Sample] = []
    for done, entry in enumerate(report.accepted, start=1):
        pair = pairs[entry.pair_id]
        wav_name, mel_name = (_sample_path(run, pair, row.system_key, s) for s in (".wav", ".npy"))
        target = Path(default_storage.path(wav_name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(entry.staged, target.with_name(f".{target.name}.tmp"))
        target.with_name(f".{target.name}.tmp").replace(target)
        # The analysis MCD uses for imported systems: the HiFi-GAN mel of the waveform (built-in systems
        # are scored on the mel they generated, before the vocoder).
        save_npy(Path(default_storage.path(mel_name)), log_mel_from_wave(load_audio(target)))
        provenance = {
            "import": row.pk,
            "archive": row.original_name,
            "file": entry.name,
            "sha256": entry.sha256,
            "sample_rate": entry.sample_rate,
            "channels": entry.channels,
            "duration_s": entry.duration_s,
            "processing": entry.notes,
            "flags": entry.flags,
            "imported_by": who,
            "imported_at": timezone.now().isoformat(),
        }
        common = {"run": run, "category": pair.category, "clip": pair.video_clip, "system": row.system_key}
        rows.append(
            Sample(
                **common,
                task=pair.task,
                pair=pair,
                audio=wav_name,
                mel=mel_name,
                provenance=provenance,
                status=Status.RUNNING,
            )  # fmt: skip
        )
        if pair.task == "realism" and (pair.category, pair.index) in alignment:
            rows.append(
                Sample(
                    **common,
                    task="alignment",
                    pair=alignment[(pair.category, pair.index)],
                    provenance=provenance,
                )  # fmt: skip
            )
        job_progress(job=row, done=done, message=f"stored {done}/{len(report.accepted)} outputs")
    spec = SystemSpec(row.system_key, row.label, None, variant="", tasks=IMPORTED_TASKS, kind="imported")
    with transaction.atomic():
        locked = GenerationRun.objects.select_for_update().get(pk=run.pk)
        systems = locked.spec.get("systems", [])
        if row.system_key not in {s["key"] for s in systems}:
            locked.spec = {**locked.spec, "systems": [*systems, {**spec.as_json(), "import": row.pk}]}
            locked.save(update_fields=["spec"])
        Sample.objects.bulk_create(rows, ignore_conflicts=True)
        # A redelivered task recomputes the metrics of every sample of this system.
        Sample.objects.filter(run=run, system=row.system_key).exclude(task="alignment").update(
            status=Status.RUNNING, error=""
        )
    return list(
        Sample.objects.filter(run=run, system=row.system_key)
        .exclude(task="alignment")
        .values_list("pk", flat=True)
    )


def _samples_metrics(row: SystemImport, run: GenerationRun, ids: list[int], encoder, chunk: int) -> None:
    """What built-in samples go through: metrics and alignment mux, then cosine, then the tables."""
    for start in range(0, len(ids), chunk):
        samples_finish(run_id=run.pk, sample_ids=ids[start : start + chunk])
        done = min(start + chunk, len(ids))
        job_progress(job=row, done=done, total=len(ids), message=f"metrics {done}/{len(ids)}")
    job_progress(job=row, done=len(ids), message="cosine similarity and tables")
    samples = list(
        Sample.objects.filter(run=run, system=row.system_key, status=Status.SUCCEEDED).select_related("pair")
    )
    samples_cosine(run=run, samples=samples, encoder=encoder)
    run_summary_refresh(run=run)


def run_summary_refresh(*, run: GenerationRun) -> dict[str, Any]:
    """Recompute a finished run's tables (under its row lock, so two imports finishing together both
    end up in them)."""
    with transaction.atomic():
        locked = GenerationRun.objects.select_for_update().get(pk=run.pk)
        summary = generation_run_summary(run=locked)
        GenerationRun.objects.filter(pk=run.pk).update(summary=summary)
    return summary


def _system_remove(run: GenerationRun, key: str) -> None:
    with transaction.atomic():
        locked = GenerationRun.objects.select_for_update().get(pk=run.pk)
        Sample.objects.filter(run=run, system=key).delete()
        systems = [s for s in locked.spec.get("systems", []) if s["key"] != key]
        locked.spec = {**locked.spec, "systems": systems}
        locked.save(update_fields=["spec"])
    run_summary_refresh(run=run)
