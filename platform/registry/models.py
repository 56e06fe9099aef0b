"""The registry: what a researcher has (datasets, checkpoints) and what the workers made of it (runs,
pairs, samples). Rows hold persistence and state computed from their own columns; workflows live in
services.py."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

CATEGORIES = ("baby", "cough", "dog", "drum", "fireworks", "gun", "hammer", "sneeze")


class Split(models.TextChoices):
    TRAIN = "train", "train"
    VAL = "val", "validation"
    TEST = "test", "test"


class Status(models.TextChoices):
    PENDING = "pending", "pending"
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    FINALIZING = "finalizing", "finalizing"  # every item is done; summaries are being computed
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)


class Job(models.Model):
    """State every long-running piece of work shows on the dashboard: status, progress, error."""

    # Names the job's files. Database ids repeat when a database is recreated over an old media
    # folder; a run must never pick up another run's outputs or checkpoints as its own.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True, help_text="Latest progress line or error summary.")
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def progress_percent(self) -> int:
        if self.progress_total <= 0:
            return 100 if self.status == Status.SUCCEEDED else 0
        return min(100, round(100 * self.progress_done / self.progress_total))

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class Dataset(Job):
    """A collection of clips imported from one source. Its files live in storage under `root`."""

    class Source(models.TextChoices):
        SYNTHVAS = "synthvas", "SynthVAS (generated, exact ground truth)"
        VAS = "vas", "VAS layout (precomputed features and mels)"
        VIDEOS = "videos", "raw videos, one folder per category"

    name = models.CharField(max_length=100, unique=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    source_path = models.CharField(max_length=1000, blank=True, help_text="Where the import read from.")
    root = models.CharField(max_length=500, help_text="Folder in media storage holding the clip files.")
    config = models.JSONField(default=dict, blank=True, help_text="Import parameters (seed, sizes, ...).")
    stats = models.JSONField(default=dict, blank=True, help_text="Clip counts by split and category.")
    problems = models.JSONField(default=list, blank=True, help_text="Files that could not be imported.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("registry:dataset", args=[self.pk])


class Clip(models.Model):
    """One 10-s video with its sound and derived features. Paths are relative to media storage."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="clips")
    clip_id = models.CharField(max_length=200)
    category = models.CharField(max_length=32, db_index=True)
    split = models.CharField(max_length=8, choices=Split.choices, db_index=True)
    duration_s = models.FloatField(default=10.0)
    video = models.FileField(max_length=500, blank=True)
    audio = models.FileField(max_length=500, blank=True)
    mel_hifigan = models.FileField(max_length=500, blank=True, help_text="(80, 860) HiFi-GAN format")
    mel_vas = models.FileField(max_length=500, blank=True, help_text="(80, 860) RegNet/VAS format in [0,1]")
    features = models.FileField(max_length=500, blank=True, help_text="(215, 2048) rgb ‖ flow")
    meta = models.JSONField(default=dict, blank=True, help_text="Ground truth and provenance.")

    class Meta:
        ordering = ["dataset", "category", "clip_id"]
        constraints = [models.UniqueConstraint(fields=["dataset", "clip_id"], name="clip_unique_per_dataset")]
        indexes = [models.Index(fields=["dataset", "split", "category"])]

    def __str__(self) -> str:
        return f"{self.dataset.name}:{self.clip_id}"

    def get_absolute_url(self) -> str:
        return reverse("registry:clip", args=[self.pk])


VOCODER_KIND = "hifigan"


def trainable_system_choices() -> list[tuple[str, str]]:
    """The system kinds the trainer can train (``inference.systems``; imports no torch)."""
    from inference.systems import trainable_kinds

    return [(kind.name, kind.label) for kind in trainable_kinds()]


def checkpoint_kind_choices() -> list[tuple[str, str]]:
    """What a checkpoint may hold: a generating system kind, or the vocoder."""
    from inference.systems import generating_kinds

    return [(kind.name, kind.label) for kind in generating_kinds()] + [(VOCODER_KIND, "HiFi-GAN vocoder")]


class TrainingRun(Job):
    """Training one system on a dataset; produces checkpoints."""

    system = models.CharField(max_length=32, choices=trainable_system_choices)
    preset = models.CharField(max_length=32, default="tiny")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="training_runs")
    category = models.CharField(max_length=32, blank=True, help_text="Empty: all categories.")
    config = models.JSONField(default=dict, blank=True)
    seed = models.IntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True, help_text="Latest losses and validation figures.")
    log_file = models.FileField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        target = self.category or "all categories"
        return f"{self.get_system_display()} · {self.preset} · {self.dataset.name} · {target}"


class Checkpoint(models.Model):
    """A self-describing model file. `sha256` identifies it: workers cache loaded models by it."""

    class Role(models.TextChoices):
        PROPOSED = "proposed", "proposed"
        BASELINE = "baseline", "baseline"
        ABLATION = "ablation", "ablation"
        VOCODER = "vocoder", "vocoder"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=checkpoint_kind_choices)
    role = models.CharField(max_length=16, choices=Role.choices)
    config = models.JSONField(default=dict, blank=True)
    file = models.FileField(max_length=500)
    sha256 = models.CharField(max_length=64, unique=True)
    size_bytes = models.BigIntegerField()
    step = models.PositiveIntegerField(default=0)
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="checkpoints"
    )
    training_run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="checkpoints"
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()}, step {self.step})"


class CheckpointUpload(Job):
    """A checkpoint file sent from the upload page. The web process only stores it in quarantine
    (a dot-folder of media storage, never served); a worker validates it and either registers a
    Checkpoint or records why it was refused (``message``). The quarantined file is then deleted."""

    name = models.CharField(max_length=200)
    role = models.CharField(max_length=16, choices=Checkpoint.Role.choices)
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    notes = models.TextField(blank=True)
    original_name = models.CharField(max_length=255, help_text="The file name the browser sent.")
    size_bytes = models.BigIntegerField(default=0)
    file = models.FileField(max_length=500, blank=True, help_text="Quarantined file; emptied once validated.")
    checkpoint = models.ForeignKey(
        Checkpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="uploads"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.original_name})"


class GenerationRun(Job):
    """One application of the paper's evaluation protocol: selection, generation, metrics."""

    name = models.CharField(max_length=200)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="generation_runs")
    spec = models.JSONField(default=dict, help_text="Systems, categories, seed, counts: the whole job spec.")
    seed = models.IntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True, help_text="Metric tables by category × system.")
    warnings = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("registry:run", args=[self.pk])


class Pair(models.Model):
    """A (video, reference audio) input of the protocol, recorded so a run can be audited."""

    class Task(models.TextChoices):
        REALISM = "realism", "audio realism"
        ALIGNMENT = "alignment", "temporal alignment"
        TIMBRE = "timbre", "timbre similarity"
        ABLATION = "ablation", "ablation"

    run = models.ForeignKey(GenerationRun, on_delete=models.CASCADE, related_name="pairs")
    task = models.CharField(max_length=16, choices=Task.choices)
    category = models.CharField(max_length=32)
    index = models.PositiveIntegerField(help_text="Position within (run, task, category).")
    video_clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="pairs_as_video")
    reference_clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="pairs_as_reference")

    class Meta:
        ordering = ["run", "task", "category", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "task", "category", "index"], name="pair_unique_position"),
        ]

    def __str__(self) -> str:
        kind = "original" if self.is_original else "swapped"
        return f"{self.task}/{self.category}#{self.index} ({kind})"

    @property
    def is_original(self) -> bool:
        """The reference is the video's own audio (ablation, MCD), not a swapped one."""
        return self.video_clip_id == self.reference_clip_id


class Sample(models.Model):
    """What one system produced for one input, or a vocoded ground truth.

    Model samples belong to a pair; ground-truth samples to a clip (the vocoded ground-truth mel of that
    clip, never the raw recording). Alignment samples reuse the audio of their realism `source` muxed
    onto the video. Uniqueness is in the database, so a task that runs twice finds the existing row.
    """

    run = models.ForeignKey(GenerationRun, on_delete=models.CASCADE, related_name="samples")
    task = models.CharField(max_length=16, choices=Pair.Task.choices)
    category = models.CharField(max_length=32)
    system = models.CharField(max_length=100, help_text="'ground_truth' or a system key of the run spec.")
    pair = models.ForeignKey(Pair, null=True, blank=True, on_delete=models.CASCADE, related_name="samples")
    clip = models.ForeignKey(
        Clip,
        on_delete=models.PROTECT,
        related_name="samples",
        help_text="The video clip (ground truth: its clip).",
    )
    source = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="derived",
        help_text="For alignment samples: the realism sample whose audio is muxed onto the video.",
    )
    checkpoint = models.ForeignKey(
        Checkpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="samples"
    )
    variant = models.CharField(max_length=64, blank=True, help_text="Inference-time variant (ablations).")
    audio = models.FileField(max_length=500, blank=True)
    mel = models.FileField(
        max_length=500, blank=True, help_text="The generated (or ground-truth) HiFi-GAN mel."
    )
    video = models.FileField(max_length=500, blank=True, help_text="The video muxed with this audio.")
    metrics = models.JSONField(default=dict, blank=True)
    provenance = models.JSONField(
        default=dict,
        blank=True,
        help_text="Imported samples: the file, its sha256, the processing, who, when. Generated "
        "ones: the vocoder that made the waveform, and whether it was reused from the cache.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["run", "task", "category", "system", "pair__index", "clip__clip_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["pair", "system"],
                condition=Q(pair__isnull=False),
                name="sample_unique_per_pair_system",
            ),
            models.UniqueConstraint(
                fields=["run", "task", "clip", "system"],
                condition=Q(pair__isnull=True),
                name="sample_unique_ground_truth_per_task_clip",
            ),
            models.CheckConstraint(
                condition=~Q(status=Status.SUCCEEDED) | ~Q(audio=""), name="sample_succeeded_has_audio"
            ),
        ]
        indexes = [models.Index(fields=["run", "task", "status"])]

    def __str__(self) -> str:
        target = str(self.pair) if self.pair_id else f"{self.task}/{self.clip.clip_id}"
        return f"{self.system} · {target}"

    @property
    def is_ground_truth(self) -> bool:
        return self.pair_id is None


class SystemImport(Job):
    """A system trained elsewhere, brought into a run as its outputs for the run's pairs.

    What arrived (an upload or a folder or archive named on the command line) is copied into
    quarantine (a dot-folder of media storage, never served); a ``cpu`` worker unpacks it safely,
    checks every file against the run's pairs (``report``: one line per file) and, if the set is
    complete or a partial import was asked for, adds the system to the run with one Sample per pair.
    A system key is taken while its import is not refused, and never twice in one run."""

    run = models.ForeignKey(GenerationRun, on_delete=models.CASCADE, related_name="system_imports")
    system_key = models.CharField(max_length=64)
    label = models.CharField(max_length=100)
    partial = models.BooleanField(
        default=False, help_text="Import the accepted files even if some are refused."
    )
    original_name = models.CharField(
        max_length=255, help_text="What the researcher sent (file or folder name)."
    )
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(
        max_length=64, blank=True, help_text="Of the archive as it arrived (files: per sample)."
    )
    quarantine = models.CharField(
        max_length=500, blank=True, help_text="Storage name; emptied once processed."
    )
    report = models.JSONField(default=dict, blank=True, help_text="Per-file validation report.")
    imported = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "system_key"],
                condition=~Q(status="failed") & ~Q(status="cancelled"),
                name="system_import_key_unique_per_run",
            )
        ]

    def __str__(self) -> str:
        return f"{self.label} → run #{self.run_id}"
