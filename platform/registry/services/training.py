"""Training runs and checkpoints.

`training_run_create` is safe in the web process (it stores the preset and overrides; nothing imports
torch); `training_run_execute` and `checkpoint_register` run in a worker or a CLI, where torch lives.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import IntegrityError, transaction

from inference.systems import system_kind, trainable_kinds
from registry.models import Checkpoint, Clip, Dataset, Split, Status, TrainingRun, checkpoint_kind_choices
from registry.services.jobs import job_finish, job_progress, job_start

PRESETS = ("tiny", "paper")
# Train-time ablations of the paper (Table 7): retrain without one discriminator.
DISCRIMINATOR_SWITCHES = {
    "mel": "without the multi-window mel discriminator",
    "alignment": "without the TDAD",
}


def _role_of(system: str) -> str:
    """A trained model's role by default, as its system kind declares it (else: an ablation)."""
    return system_kind(system).role or Checkpoint.Role.ABLATION


def training_run_create(
    *,
    system: str,
    preset: str,
    dataset: Dataset,
    category: str = "",
    seed: int | None = None,
    max_steps: int | None = None,
    disable_discriminators: tuple[str, ...] = (),
    role: str = "",
    user=None,
) -> TrainingRun:
    trainable = [kind.name for kind in trainable_kinds()]
    if system not in trainable:
        raise ValueError(f"unknown system {system!r}; expected one of {trainable}")
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {PRESETS}")
    if dataset.status != Status.SUCCEEDED:
        raise ValueError(f"dataset {dataset.name!r} is {dataset.status}, not imported yet")
    if category and category not in (dataset.stats.get("by_category") or {}):
        raise ValueError(f"dataset {dataset.name!r} has no category {category!r}")
    unknown = sorted(set(disable_discriminators) - set(DISCRIMINATOR_SWITCHES))
    if unknown:
        raise ValueError(
            f"unknown discriminator {unknown[0]!r}; expected one of {sorted(DISCRIMINATOR_SWITCHES)}"
        )
    if disable_discriminators and system != "varietysound":
        raise ValueError("discriminator ablations apply to VarietySound only")
    if max_steps is not None and max_steps < 1:
        raise ValueError("max_steps must be at least 1")
    overrides: dict[str, Any] = {}
    if seed is not None:
        overrides["seed"] = seed
    if max_steps is not None:
        overrides["optim"] = {"max_steps": max_steps, "epochs": None}
    for name in disable_discriminators:  # losses.mel_discriminator / losses.alignment_discriminator
        overrides.setdefault("losses", {})[f"{name}_discriminator"] = False
    role = role or (Checkpoint.Role.ABLATION if disable_discriminators else _role_of(system))
    return TrainingRun.objects.create(
        system=system,
        preset=preset,
        dataset=dataset,
        category=category,
        seed=seed or 0,
        config={"preset": f"{system}_{preset}", "overrides": overrides, "role": role},
        created_by=user,
        status=Status.QUEUED,
    )


def _examples(dataset: Dataset, split: str, category: str) -> list:
    from inference.training.data import ClipExample

    clips = Clip.objects.filter(dataset=dataset, split=split).exclude(features="").exclude(mel_hifigan="")
    if category:
        clips = clips.filter(category=category)
    return [
        ClipExample(
            clip_id=clip.clip_id,
            category=clip.category,
            features_path=default_storage.path(clip.features.name),
            mel_path=default_storage.path(clip.mel_hifigan.name),
        )
        for clip in clips.order_by("category", "clip_id")
    ]


def training_run_workdir(run: TrainingRun) -> Path:
    """Checkpoints, logs and previews of a run. Kept on the worker's local disk (resuming needs it);
    the final checkpoint is copied into media storage when it is registered."""
    return Path(settings.VAR_DIR) / "training" / str(run.uid)


def training_run_execute(*, run_id: int, progress: Callable[[Any], None] | None = None) -> TrainingRun:
    """Train, then register the final checkpoint. Resumes from the run's last checkpoint if a worker
    died mid-run (the task is acked late, so it is delivered again)."""
    run = TrainingRun.objects.select_related("dataset").get(pk=run_id)
    if run.status == Status.CANCELLED or not job_start(job=run, message="preparing"):
        return run
    if not isinstance(default_storage, FileSystemStorage):
        job_finish(
            job=run, error="training reads clip files from local media storage; S3 datasets need a local copy"
        )
        return run
    from inference.training.config import config_to_dict, load_train_config
    from inference.training.trainer import train

    last_write = 0.0

    def report(update) -> None:
        nonlocal last_write
        now = time.monotonic()
        if progress:
            progress(update)
        if now - last_write < 2.0 and update.phase == "train":
            return  # the page polls; a row update per step would be waste
        last_write = now
        losses = {k: round(float(v), 5) for k, v in update.losses.items()}
        message = f"{update.phase} step {update.step}/{update.total_steps} · {update.steps_per_s:.2f} steps/s"
        job_progress(job=run, done=update.step, total=update.total_steps, message=message)
        TrainingRun.objects.filter(pk=run.pk).update(
            metrics={"losses": losses, "steps_per_s": update.steps_per_s}
        )

    def should_stop() -> bool:
        return TrainingRun.objects.filter(pk=run.pk, status=Status.CANCELLED).exists()

    try:
        overrides = dict(run.config.get("overrides") or {})
        # The command draws the progress bar and workers report to the database: no second bar.
        overrides["logging"] = {**overrides.get("logging", {}), "progress_bar": False}
        config = load_train_config(run.config["preset"], overrides=overrides)
        train_examples = _examples(run.dataset, Split.TRAIN, run.category)
        val_examples = _examples(run.dataset, Split.VAL, run.category)
        if not train_examples:
            raise ValueError(
                f"dataset {run.dataset.name!r} has no training clips"
                + (f" of {run.category}" if run.category else "")
            )
        TrainingRun.objects.filter(pk=run.pk).update(
            config={**run.config, "resolved": config_to_dict(config)}
        )
        result = train(
            config,
            train_examples,
            val_examples,
            training_run_workdir(run),
            progress=report,
            should_stop=should_stop,
            device=settings.INFERENCE_DEVICE,
            data_meta={
                "dataset": run.dataset.name,
                "category": run.category or "all",
                "training_run": run.pk,
            },
        )
    except Exception:
        job_finish(job=run, error=traceback.format_exc())
        raise
    if result.stopped:
        TrainingRun.objects.filter(pk=run.pk).update(message=f"cancelled at step {result.step}")
        run.refresh_from_db()
        return run
    suffix = f"-{run.category}" if run.category else ""
    checkpoint = checkpoint_register(
        path=result.checkpoint_path,
        name=f"{run.system}-{run.preset}-{run.dataset.name}{suffix}-step{result.step}",
        role=run.config.get("role") or _role_of(run.system),
        training_run=run,
        dataset=run.dataset,
    )
    TrainingRun.objects.filter(pk=run.pk).update(
        metrics={"losses": result.losses, "val_losses": result.val_losses, "elapsed_s": result.elapsed_s}
    )
    job_finish(job=run, message=f"step {result.step}: checkpoint {checkpoint.name}")
    return run


def checkpoint_register(
    *,
    path: Path,
    name: str,
    role: str,
    training_run: TrainingRun | None = None,
    dataset: Dataset | None = None,
    notes: str = "",
) -> Checkpoint:
    """Validate a checkpoint file (weights_only: a pickle payload never runs), copy it into media
    storage under its hash, and record it. Registering the same bytes twice returns the first row."""
    from inference.models.checkpoint import checkpoint_sha256, load_checkpoint

    if role not in Checkpoint.Role.values:
        raise ValueError(f"unknown role {role!r}; expected one of {Checkpoint.Role.values}")
    path = Path(path)
    loaded = load_checkpoint(path)  # raises CheckpointError, naming the file, for anything not ours
    if loaded.kind not in dict(checkpoint_kind_choices()):
        raise ValueError(f"{path}: a {loaded.kind} checkpoint cannot be registered")
    sha256 = checkpoint_sha256(path)
    existing = Checkpoint.objects.filter(sha256=sha256).first()
    if existing:
        return existing
    from inference.models.config_io import to_dict

    storage_name = f"checkpoints/{sha256[:2]}/{sha256}.pt"
    if not default_storage.exists(storage_name):
        with path.open("rb") as handle:
            saved = default_storage.save(storage_name, File(handle))
        if saved != storage_name:
            raise RuntimeError(f"storage renamed {storage_name} to {saved}")
    try:
        with transaction.atomic():
            return Checkpoint.objects.create(
                name=name,
                kind=loaded.kind,
                role=role,
                config=to_dict(loaded.config),
                file=storage_name,
                sha256=sha256,
                size_bytes=path.stat().st_size,
                step=loaded.step,
                dataset=dataset,
                training_run=training_run,
                notes=notes,
            )
    except IntegrityError:  # registered concurrently by another worker
        return Checkpoint.objects.get(sha256=sha256)


def checkpoint_local_path(checkpoint: Checkpoint) -> tuple[Path, bool]:
    """A local file for the checkpoint: its path on local storage, or a temporary download (the bool
    says the caller must delete it)."""
    return storage_local_path(checkpoint.file.name)


def storage_local_path(name: str) -> tuple[Path, bool]:
    """A local file for a name in media storage, as `checkpoint_local_path`."""
    if isinstance(default_storage, FileSystemStorage):
        return Path(default_storage.path(name)), False
    handle, local = tempfile.mkstemp(suffix=".pt")
    with open(handle, "wb") as out, default_storage.open(name, "rb") as source:
        shutil.copyfileobj(source, out)
    return Path(local), True
