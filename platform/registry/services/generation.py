"""Generation runs: the paper's evaluation protocol applied to a dataset and a set of systems.

    create ─► plan (selection → Pair + pending Sample rows) ─► dispatch
        gpu.generation_batch  × (system, batch)   generate + vocode, write wav/mel
        cpu.samples_finish    × batch             mux alignment videos, per-sample metrics
        cpu.generation_run_finalize               cosine similarity (batched), summary tables

Every step is idempotent: rows are unique in the database, files are written atomically and skipped
when present, and a finished sample is never generated again. The run finishes once no sample is
pending or running; exactly one task wins the right to finalize it (a conditional update).
"""

from __future__ import annotations

import traceback
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from inference.selection import Protocol
from inference.systems import generating_kinds
from registry.models import Checkpoint, Clip, Dataset, GenerationRun, Pair, Sample, Split, Status
from registry.services.jobs import command_detach, job_finish, job_progress, job_start

GROUND_TRUTH = "ground_truth"
MODEL_TASKS = ("realism", "timbre", "ablation")  # alignment reuses the realism audio
ALL_TASKS = ("realism", "alignment", "timbre", "ablation")
# Inference-time ablations of VarietySound (paper Table 8), run on the ablation pairs.
ABLATION_VARIANTS = {
    "with_background": "w Bi",
    "without_temporal": "w/o Te",
    "without_timbre": "w/o Ti",
    "without_temporal_timbre": "w/o Te & Ti",
}
OPEN = (Status.PENDING, Status.RUNNING)


@dataclass(frozen=True)
class SystemSpec:
    key: str  # stable id used in Sample.system and the tables
    label: str
    checkpoint_id: int | None  # None for ground truth
    variant: str = "proposed"
    tasks: tuple[str, ...] = ALL_TASKS
    # "ground_truth", "model" (generated from a checkpoint) or "imported" (outputs made elsewhere,
    # brought in by a SystemImport; it generates nothing).
    kind: str = ""

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", "ground_truth" if self.key == GROUND_TRUTH else "model")

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "checkpoint": self.checkpoint_id,
            "variant": self.variant,
            "tasks": list(self.tasks),
            "kind": self.kind,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SystemSpec:
        return cls(
            data["key"],
            data["label"],
            data["checkpoint"],
            data.get("variant", "proposed"),
            tuple(data["tasks"]),
            data.get("kind", ""),
        )


def protocol_systems(
    *,
    proposed: Checkpoint,
    baseline: Checkpoint | None,
    retrained_ablations: dict[str, Checkpoint] | None = None,
    variants: bool = True,
) -> list[SystemSpec]:
    """The paper's comparison: GT / baseline / proposed on realism, alignment and timbre; the proposed
    model with its inference-time variants and any retrained ablations (w/o MD, w/o TDAD) on the
    ablation pairs, against the ground truth."""
    # Column order of the paper's tables: GT, Baseline, Ours, then the ablations.
    systems = [SystemSpec(GROUND_TRUTH, "GT (vocoded)", None, tasks=ALL_TASKS)]
    if baseline is not None:
        systems.append(
            SystemSpec("baseline", "Baseline", baseline.pk, tasks=("realism", "alignment", "timbre"))
        )
    systems.append(SystemSpec("proposed", "Ours", proposed.pk))
    if variants:
        has = {kind.name: kind.variants for kind in generating_kinds()}.get(proposed.kind, {})
        for variant, label in ABLATION_VARIANTS.items():
            if variant not in has:
                continue
            systems.append(
                SystemSpec(f"proposed-{variant}", label, proposed.pk, variant, tasks=("ablation",))
            )
    for label, checkpoint in (retrained_ablations or {}).items():
        key = "retrained-" + "".join(ch if ch.isalnum() else "-" for ch in label.lower()).strip("-")
        systems.append(SystemSpec(key, label, checkpoint.pk, tasks=("ablation",)))
    return systems


def generation_run_create(
    *,
    dataset: Dataset,
    systems: list[SystemSpec],
    seed: int = 0,
    name: str = "",
    categories: list[str] | None = None,
    protocol: Protocol | None = None,
    batch_size: int = 16,
    user=None,
) -> GenerationRun:
    if dataset.status != Status.SUCCEEDED:
        raise ValueError(f"dataset {dataset.name!r} is {dataset.status}, not imported yet")
    keys = [s.key for s in systems]
    if len(set(keys)) != len(keys):
        raise ValueError(f"system keys must be unique, got {keys}")
    if seed < 0 or batch_size < 1:
        raise ValueError("seed must be >= 0 and batch_size >= 1")
    available = sorted(dataset.stats.get("by_category") or {})
    categories = categories or available
    missing = sorted(set(categories) - set(available))
    if missing:
        raise ValueError(f"dataset {dataset.name!r} has no categories {missing}")
    for system in systems:
        unknown = sorted(set(system.tasks) - set(ALL_TASKS))
        if unknown:
            raise ValueError(f"system {system.key}: unknown tasks {unknown}")
        if "alignment" in system.tasks and "realism" not in system.tasks:
            raise ValueError(
                f"system {system.key}: alignment reuses the realism samples, so it needs realism too"
            )
        if system.checkpoint_id is None:
            if system.key != GROUND_TRUTH:
                raise ValueError(f"system {system.key} has no checkpoint")
            continue
        checkpoint = Checkpoint.objects.filter(pk=system.checkpoint_id).first()
        if checkpoint is None:
            raise ValueError(f"system {system.key}: no checkpoint #{system.checkpoint_id}")
        kinds = {kind.name: kind for kind in generating_kinds()}
        if checkpoint.kind not in kinds:
            raise ValueError(
                f"system {system.key}: a {checkpoint.kind} checkpoint cannot generate from video"
            )
        if system.variant not in kinds[checkpoint.kind].variants:
            raise ValueError(
                f"system {system.key}: the {checkpoint.kind} system has no {system.variant} variant"
            )
    spec = {
        "systems": [s.as_json() for s in systems],
        "categories": categories,
        "protocol": asdict(protocol or Protocol()),
        "batch_size": batch_size,
    }
    return GenerationRun.objects.create(
        name=name or f"{dataset.name} seed {seed} · {timezone.now():%Y-%m-%d %H:%M}",
        dataset=dataset,
        spec=spec,
        seed=seed,
        created_by=user,
        status=Status.QUEUED,
    )


def generation_run_launch(*, run: GenerationRun) -> str:
    """Start a run created on a web page. With a broker: the `default.generation_run_start` task. On
    the embedded default (no broker) the tasks would run inside the web server, which must never load
    torch, so a detached `manage.py generate --start-run` process runs them instead (log under
    VAR_DIR/logs/)."""
    from django.conf import settings

    from registry import tasks

    if not settings.CELERY_TASK_ALWAYS_EAGER:
        result = tasks.generation_run_start.delay(run.pk)
        GenerationRun.objects.filter(pk=run.pk).update(task_id=result.id)
        return f"queued as task {result.id}"
    log_name = f"generation-{run.uid}.log"
    pid = command_detach(args=["generate", "--start-run", str(run.pk)], log_name=log_name)
    GenerationRun.objects.filter(pk=run.pk).update(task_id=f"process:{pid}")
    return f"started in a background process (pid {pid}, log {log_name})"


def run_systems(run: GenerationRun) -> dict[str, SystemSpec]:
    return {s["key"]: SystemSpec.from_json(s) for s in run.spec["systems"]}


def generation_run_plan(*, run: GenerationRun) -> GenerationRun:
    """Select the pairs (recorded as Pair rows) and create a pending Sample per (input, system)."""
    from inference.selection import select

    test_clips = Clip.objects.filter(
        dataset=run.dataset, split=Split.TEST, category__in=run.spec["categories"]
    )
    by_category: dict[str, list[str]] = defaultdict(list)
    clip_by_id: dict[str, Clip] = {}
    for clip in test_clips.exclude(features="").exclude(mel_hifigan=""):
        by_category[clip.category].append(clip.clip_id)
        clip_by_id[clip.clip_id] = clip
    for category in run.spec["categories"]:
        by_category.setdefault(category, [])
    selection = select(dict(by_category), seed=run.seed, protocol=Protocol(**run.spec["protocol"]))
    systems = run_systems(run).values()
    with transaction.atomic():
        Pair.objects.bulk_create(
            [
                Pair(
                    run=run,
                    task=spec.task,
                    category=spec.category,
                    index=spec.index,
                    video_clip=clip_by_id[spec.video_clip_id],
                    reference_clip=clip_by_id[spec.reference_clip_id],
                )
                for spec in selection.pairs
            ],
            ignore_conflicts=True,
        )
        pairs = list(Pair.objects.filter(run=run).select_related("video_clip"))
        samples = []
        for pair in pairs:
            for system in systems:
                if system.key != GROUND_TRUTH and pair.task in system.tasks:
                    samples.append(_model_sample(run, pair, system))
        for category_selection in selection.categories.values():
            for task in (
                run_systems(run).get(GROUND_TRUTH, SystemSpec(GROUND_TRUTH, "", None, tasks=())).tasks
            ):
                for clip_id in category_selection.ground_truth_clip_ids(task):
                    clip = clip_by_id[clip_id]
                    samples.append(
                        Sample(run=run, task=task, category=clip.category, clip=clip, system=GROUND_TRUTH)
                    )
        Sample.objects.bulk_create(samples, ignore_conflicts=True)
        run.warnings = [w.message for w in selection.warnings]
        run.save(update_fields=["warnings"])
    return run


def _model_sample(run: GenerationRun, pair: Pair, system: SystemSpec) -> Sample:
    return Sample(
        run=run,
        task=pair.task,
        category=pair.category,
        pair=pair,
        clip=pair.video_clip,
        system=system.key,
        checkpoint_id=system.checkpoint_id,
        variant=system.variant,
    )


def generation_run_start(*, run_id: int) -> GenerationRun:
    """Plan the run and enqueue its generation batches (the `default.generation_run_start` task)."""
    from registry import tasks

    run = GenerationRun.objects.get(pk=run_id)
    if not job_start(job=run, message="selecting pairs"):
        return run
    try:
        generation_run_plan(run=run)
    except Exception:
        job_finish(job=run, error=traceback.format_exc())
        raise
    _refresh_progress(run)
    batch_size = run.spec["batch_size"]
    pending = (
        Sample.objects.filter(run=run, status=Status.PENDING)
        .exclude(task="alignment")
        .order_by("system", "task", "category", "pk")
        .values_list("system", "pk")
    )
    batches: dict[str, list[int]] = defaultdict(list)
    for system, pk in pending:
        batches[system].append(pk)
    job_progress(
        job=run, done=run.progress_done, message=f"generating on the gpu queue ({len(pending)} samples)"
    )
    for system, ids in batches.items():
        for start in range(0, len(ids), batch_size):
            tasks.generation_batch.delay(run.pk, system, ids[start : start + batch_size])
    if not batches:
        generation_run_check_complete(run_id=run.pk)
    return run


# --- gpu: generation ---------------------------------------------------------------------------------


def _sample_path(sample: Sample, suffix: str) -> str:
    return f"runs/{sample.run.uid}/{sample.task}/{sample.category}/{sample.system}/{sample.pk}{suffix}"


def generation_batch_run(*, run_id: int, system_key: str, sample_ids: list[int], cache) -> dict[str, int]:
    """Generate (or vocode, for ground truth) a batch of samples of one system, with the worker's cache."""
    from inference.generate import GenerationItem, GenerationJob, run_job
    from registry.services.training import checkpoint_local_path

    run = GenerationRun.objects.get(pk=run_id)
    system = run_systems(run)[system_key]
    if system.kind == "imported" or not (system.kind == "ground_truth" or system.checkpoint_id is not None):
        raise ValueError(f"system {system_key} is {system.kind}: it generates nothing here")
    samples = list(
        Sample.objects.filter(pk__in=sample_ids, run=run, system=system_key)
        .filter(status__in=OPEN)
        .select_related("run", "clip", "pair__reference_clip", "checkpoint")
    )
    if not samples:
        return {"generated": 0, "failed": 0}
    Sample.objects.filter(pk__in=[s.pk for s in samples]).update(status=Status.RUNNING)
    items = []
    for sample in samples:
        reference = sample.clip if sample.is_ground_truth else sample.pair.reference_clip
        items.append(
            GenerationItem(
                key=str(sample.pk),
                features_path=default_storage.path(sample.clip.features.name),
                reference_mel_path=default_storage.path(reference.mel_hifigan.name),
                out_wav=default_storage.path(_sample_path(sample, ".wav")),
                out_mel=default_storage.path(_sample_path(sample, ".npy")),
            )
        )
    checkpoint_path = sha256 = None
    if system.checkpoint_id is not None:
        checkpoint = Checkpoint.objects.get(pk=system.checkpoint_id)
        path, _ = checkpoint_local_path(checkpoint)
        checkpoint_path, sha256 = str(path), checkpoint.sha256
    job = GenerationJob(
        system=system_key if system.checkpoint_id is not None else "ground_truth",
        items=tuple(items),
        checkpoint_path=checkpoint_path,
        checkpoint_sha256=sha256,
        variant=system.variant,
        batch_size=run.spec["batch_size"],
        seed=run.seed,
    )
    report = run_job(job, cache)
    outcomes = {int(o.key): o for o in report.outcomes}
    generated, failed = [], 0
    for sample in samples:
        outcome = outcomes[sample.pk]
        if outcome.ok:
            made = (
                {"provenance": {"vocoder": outcome.vocoder, "reused": outcome.reused}}
                if outcome.vocoder
                else {}
            )
            Sample.objects.filter(pk=sample.pk).update(
                audio=_sample_path(sample, ".wav"),
                mel=_sample_path(sample, ".npy"),
                attempts=sample.attempts + 1,
                error="",
                **made,  # a redelivered job's skipped items keep what made them
            )
            generated.append(sample.pk)
        else:
            failed += 1
            Sample.objects.filter(pk=sample.pk).update(attempts=sample.attempts + 1)
            samples_fail(samples=[sample], error=outcome.error)
    return {
        "generated": len(generated),
        "failed": failed,
        "ids": generated,
        "device": report.device,
        "vocoded": report.vocoded,
        "reused": report.reused,
    }


def generation_batch_failed(*, sample_ids: list[int], error: str) -> None:
    """A batch that kept failing after its retries: its samples are failed with the reason, visibly."""
    Sample.objects.filter(pk__in=sample_ids, status__in=OPEN).update(
        status=Status.FAILED, error=error[-4000:]
    )


# --- cpu: mux and per-sample metrics ----------------------------------------------------------------


def samples_finish(*, run_id: int, sample_ids: list[int]) -> int:
    """Derive the alignment samples (mux), compute each sample's metrics, and mark them succeeded."""
    from inference.video import mux

    run = GenerationRun.objects.get(pk=run_id)
    samples = list(
        Sample.objects.filter(pk__in=sample_ids, run=run, status=Status.RUNNING)
        .exclude(audio="")
        .select_related("clip", "pair")
    )
    finished = 0
    for sample in samples:
        try:
            metrics = sample_metrics(sample)
            Sample.objects.filter(pk=sample.pk).update(metrics=metrics)
            for aligned in _alignment_counterparts([sample]):
                video_name = _sample_path(aligned, ".mp4")
                out = Path(default_storage.path(video_name))
                out.parent.mkdir(parents=True, exist_ok=True)
                mux(
                    default_storage.path(sample.clip.video.name), default_storage.path(sample.audio.name), out
                )
                Sample.objects.filter(pk=aligned.pk).update(
                    audio=sample.audio.name,
                    mel=sample.mel.name,
                    video=video_name,
                    metrics=metrics,
                    source=sample,
                    status=Status.SUCCEEDED,
                    error="",
                )
            Sample.objects.filter(pk=sample.pk).update(status=Status.SUCCEEDED)
            finished += 1
        except Exception as exc:  # one broken sample must not stop the others
            samples_fail(samples=[sample], error=f"{type(exc).__name__}: {exc}")
    return finished


def _alignment_counterparts(realism: list[Sample]):
    """The alignment samples that will carry these realism samples' audio (created when planning)."""
    query = Q(pk__in=[])
    for sample in realism:
        if sample.task != "realism":
            continue
        if sample.pair_id is None:
            query |= Q(pair__isnull=True, clip_id=sample.clip_id, system=sample.system)
        else:
            query |= Q(pair__category=sample.category, pair__index=sample.pair.index, system=sample.system)
    if not realism:
        return Sample.objects.none()
    return Sample.objects.filter(query, run_id=realism[0].run_id, task="alignment").select_related("run")


def samples_fail(*, samples: list[Sample], error: str) -> None:
    """Fail samples with their reason; an alignment sample fails with the realism sample it reuses."""
    ids = [s.pk for s in samples]
    Sample.objects.filter(pk__in=ids).update(status=Status.FAILED, error=error[-4000:])
    _alignment_counterparts(samples).filter(status__in=OPEN).update(
        status=Status.FAILED, error=f"its realism sample failed: {error[-1000:]}"
    )


def sample_metrics(sample: Sample) -> dict[str, Any]:
    """Metrics that need only this sample and its clip: MCD to the ground-truth mel (original pairs),
    onset accuracy / AP against the recorded audio and against the true event times (SynthVAS), and
    OSG against the recorded audio. Cosine similarity needs the vocoded reference: see finalize."""
    import numpy as np

    from inference.audio import load_audio
    from inference.metrics.mcd import mcd
    from inference.metrics.onsets import detect_onsets, score_against_times
    from inference.metrics.osg import osg

    metrics: dict[str, Any] = {}
    wave = load_audio(default_storage.path(sample.audio.name))
    recorded = load_audio(default_storage.path(sample.clip.audio.name)) if sample.clip.audio else None
    original = sample.is_ground_truth or sample.pair.is_original
    if original and not sample.is_ground_truth:
        result = mcd(
            np.load(default_storage.path(sample.mel.name)),
            np.load(default_storage.path(sample.clip.mel_hifigan.name)),
        )
        metrics["mcd"] = result.plain
        metrics["mcd_dtw"] = result.dtw
    detected = detect_onsets(wave)
    if recorded is not None:
        score = score_against_times(detected, detect_onsets(recorded).times)
        metrics["onset_acc"] = score.accuracy
        metrics["onset_ap"] = score.average_precision
        metrics["onset_f1"] = score.f1
        n = min(len(wave), len(recorded))
        metrics["osg"] = osg(wave[:n], recorded[:n]).osg
    events = (sample.clip.meta or {}).get("events")
    if events:
        score = score_against_times(detected, [event["onset_s"] for event in events])
        metrics["onset_acc_true"] = score.accuracy
        metrics["onset_ap_true"] = score.average_precision
        metrics["onset_f1_true"] = score.f1
    return {
        key: (None if value is None or not np.isfinite(value) else float(value))
        for key, value in metrics.items()
    }


# --- completion ------------------------------------------------------------------------------------


def _refresh_progress(run: GenerationRun) -> tuple[int, int]:
    """Every sample row exists from planning on (alignment ones too), so the total is exact."""
    counts = Sample.objects.filter(run=run).aggregate(
        total=Count("pk"), done=Count("pk", filter=Q(status__in=(Status.SUCCEEDED, Status.FAILED)))
    )
    GenerationRun.objects.filter(pk=run.pk).update(
        progress_done=counts["done"], progress_total=counts["total"]
    )
    return counts["done"], counts["total"]


def generation_run_check_complete(*, run_id: int) -> bool:
    """Called after every batch. When nothing is left open, exactly one caller claims the run for
    finalizing (a conditional update from `running`) and enqueues the finalize task."""
    from registry import tasks

    run = GenerationRun.objects.get(pk=run_id)
    done, total = _refresh_progress(run)
    job_progress(job=run, done=done, total=total, message=f"{done}/{total} samples")
    if Sample.objects.filter(run=run, status__in=OPEN).exists():
        return False
    claimed = GenerationRun.objects.filter(pk=run_id, status=Status.RUNNING).update(
        status=Status.FINALIZING, message="computing cosine similarity and tables"
    )
    if claimed == 1:
        tasks.generation_run_finalize.delay(run_id)
    return claimed == 1


def generation_run_finalize(*, run_id: int, encoder=None) -> GenerationRun:
    """Cosine similarity of every generated sample to its vocoded reference (one batched embedding
    pass, each audio embedded once), then the summary tables; the run is then finished."""
    run = GenerationRun.objects.get(pk=run_id)
    if run.status != Status.FINALIZING:
        return run
    try:
        samples = list(Sample.objects.filter(run=run, status=Status.SUCCEEDED).select_related("pair"))
        samples_cosine(run=run, samples=samples, encoder=encoder)
        summary = generation_run_summary(run=run)
        failed = Sample.objects.filter(run=run, status=Status.FAILED).count()
        GenerationRun.objects.filter(pk=run.pk).update(summary=summary)
        succeeded = Sample.objects.filter(run=run, status=Status.SUCCEEDED).count()
        job_finish(
            job=run,
            message=f"{succeeded} samples" + (f", {failed} failed (see the run page)" if failed else ""),
        )
    except Exception:
        job_finish(job=run, error=traceback.format_exc())
        raise
    return run


def samples_cosine(*, run: GenerationRun, samples: list[Sample], encoder=None) -> int:
    """Cosine similarity of each generated sample (not ground truth, not alignment: it shares its
    realism sample's audio) to the vocoded ground truth of its reference clip, in one batched
    embedding pass where each audio is embedded once. Returns how many samples got a value."""
    from inference.audio import load_audio
    from inference.metrics.timbre import TimbreEncoder, cosine_similarity

    ground_truth = {
        (s.task, s.clip_id): s
        for s in Sample.objects.filter(run=run, status=Status.SUCCEEDED, pair__isnull=True)
    }
    jobs: list[tuple[Sample, str, str]] = []
    for sample in samples:
        if sample.is_ground_truth or sample.task == "alignment":
            continue
        reference = ground_truth.get((sample.task, sample.pair.reference_clip_id))
        if reference is not None:
            jobs.append((sample, sample.audio.name, reference.audio.name))
    names = sorted({name for _, a, b in jobs for name in (a, b)})
    if not names:
        return 0
    encoder = encoder or TimbreEncoder("cpu")
    embeddings = dict(
        zip(names, encoder.embed_many([load_audio(default_storage.path(n)) for n in names]), strict=True)
    )
    for sample, audio, reference in jobs:
        value = cosine_similarity(embeddings[audio], embeddings[reference])
        sample.metrics = {**sample.metrics, "cosine": value}
        Sample.objects.filter(pk=sample.pk).update(metrics=sample.metrics)
        Sample.objects.filter(source=sample).update(metrics=sample.metrics)
    return len(jobs)


METRICS = (
    "cosine", "mcd", "mcd_dtw", "onset_acc", "onset_ap", "onset_f1",
    "onset_acc_true", "onset_ap_true", "onset_f1_true", "osg",
)  # fmt: skip


def generation_run_summary(*, run: GenerationRun) -> dict[str, Any]:
    """Mean ± 95 % CI of every metric per task × category × system, and over all categories."""
    from inference.metrics.summary import mean_ci

    values: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
    for sample in Sample.objects.filter(run=run, status=Status.SUCCEEDED).exclude(task="alignment"):
        for metric in METRICS:
            if metric in sample.metrics:
                value = sample.metrics[metric]
                for category in (sample.category, "Average"):
                    values[(sample.task, metric, sample.system, category)].append(
                        float("nan") if value is None else value
                    )
    table: dict[str, Any] = {}
    for (task, metric, system, category), numbers in sorted(values.items()):
        stats = mean_ci(numbers)
        table.setdefault(task, {}).setdefault(metric, {}).setdefault(system, {})[category] = stats
    counts = (
        Sample.objects.filter(run=run)
        .values("task", "system", "status")
        .annotate(n=Count("pk"))
        .order_by("task", "system", "status")
    )
    return {
        "metrics": table,
        "counts": list(counts),
        "systems": run.spec["systems"],
        "computed_at": timezone.now().isoformat(),
    }


@dataclass
class RunTables:
    """The paper's tables from a run's summary, ready for a template: rows of categories."""

    categories: list[str]
    columns: list[tuple[str, str]]  # (system key, label)
    rows: list[dict[str, Any]] = field(default_factory=list)


def summary_table(
    run: GenerationRun, *, task: str, metric: str, systems: list[str] | None = None
) -> RunTables:
    metric_table = (run.summary.get("metrics") or {}).get(task, {}).get(metric, {})
    labels = {s["key"]: s["label"] for s in run.spec.get("systems", [])}
    keys = [k for k in (systems or list(labels)) if k in metric_table]
    categories = sorted({c for k in keys for c in metric_table[k] if c != "Average"}) + ["Average"]
    table = RunTables(categories=categories, columns=[(k, labels.get(k, k)) for k in keys])
    for category in categories:
        table.rows.append({"category": category, "cells": [metric_table[k].get(category) for k in keys]})
    return table
