"""MOS studies: what raters are shown (Stimulus), who rates (Rater), the work they are handed
(Assignment + AssignmentItem) and what they answer (Rating), plus the MTurk HITs that bring them.

Integrity lives in the database: one rating per rater per stimulus, one position per stimulus in an
assignment, one MTurk assignment id per Assignment, scores in 1..5.
"""

from __future__ import annotations

import secrets
import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from registry.models import GenerationRun, Sample


class Kind(models.TextChoices):
    REALISM = "realism", "Audio realism"
    ALIGNMENT = "alignment", "Temporal alignment"
    TIMBRE = "timbre", "Timbre similarity"


class Study(models.Model):
    class State(models.TextChoices):
        PREPARING = "preparing", "Preparing media"
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"
        FAILED = "failed", "Failed"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    run = models.ForeignKey(GenerationRun, on_delete=models.PROTECT, related_name="studies")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PREPARING, db_index=True)
    message = models.CharField(max_length=500, blank=True)
    # The rubric raters see: {"question": str, "levels": {"1": str, ..., "5": str}}. Edits bump the
    # version (history in RubricRevision) and every rating records the version it was given under.
    instructions = models.TextField()
    rubric = models.JSONField()
    rubric_version = models.PositiveIntegerField(default=1)
    # Design.
    systems = models.JSONField(default=list, help_text="System keys of the run shown to raters.")
    reference_system = models.CharField(
        max_length=100,
        blank=True,
        help_text="Compare each system with this one (Holm over those tests); empty: all pairs of systems.",
    )
    categories = models.JSONField(default=list)
    ratings_per_stimulus = models.PositiveIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Valid ratings wanted.",
    )
    stimuli_per_assignment = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(200)]
    )
    gold_per_assignment = models.PositiveIntegerField(default=2, validators=[MaxValueValidator(10)])
    traps_per_assignment = models.PositiveIntegerField(default=1, validators=[MaxValueValidator(5)])
    seed = models.IntegerField(default=0)
    # Money and MTurk.
    reward = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("0.50"))
    bonus = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("0.00"))
    assignment_duration_s = models.PositiveIntegerField(default=3600)
    lifetime_s = models.PositiveIntegerField(default=7 * 24 * 3600)
    auto_approval_delay_s = models.PositiveIntegerField(default=3 * 24 * 3600)
    qualifications = models.JSONField(
        default=dict, blank=True, help_text="min_approval_rate, min_approved, locales, masters"
    )
    mturk_live = models.BooleanField(default=False)
    mturk_hit_type_id = models.CharField(max_length=64, blank=True)
    # Bookkeeping.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    results = models.JSONField(default=dict, blank=True, help_text="Cached results (recomputed on demand).")

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("studies:study", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.state == self.State.OPEN

    @property
    def items_per_assignment(self) -> int:
        return self.stimuli_per_assignment + self.gold_per_assignment + self.traps_per_assignment


class RubricRevision(models.Model):
    """Every rubric a study has had, so old ratings can be read against the words raters saw."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="rubric_revisions")
    version = models.PositiveIntegerField()
    instructions = models.TextField()
    rubric = models.JSONField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["study", "version"]
        constraints = [models.UniqueConstraint(fields=["study", "version"], name="rubric_version_unique")]

    def __str__(self) -> str:
        return f"{self.study_id} v{self.version}"


class Stimulus(models.Model):
    """One thing a rater scores. Test stimuli are samples of the run; checks are screening items."""

    class Role(models.TextChoices):
        TEST = "test", "Test"
        GOLD_HIGH = "gold_high", "Gold (should score high)"
        GOLD_LOW = "gold_low", "Gold (should score low)"
        TRAP = "trap", "Trap (asks for a given score)"
        # Shown with the instructions, never rated: what a clearly good and a clearly bad clip sound like.
        EXAMPLE_HIGH = "example_high", "Example (good)"
        EXAMPLE_LOW = "example_low", "Example (bad)"

    class Media(models.TextChoices):
        AUDIO = "audio", "Audio"
        VIDEO = "video", "Video with sound"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="stimuli")
    # Raters and page URLs see only this opaque id, never the system or the sample.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.TEST, db_index=True)
    sample = models.ForeignKey(
        Sample, null=True, blank=True, on_delete=models.PROTECT, related_name="stimuli"
    )
    category = models.CharField(max_length=32)
    system = models.CharField(max_length=100, blank=True)
    media = models.CharField(max_length=8, choices=Media.choices)
    file = models.CharField(max_length=500, help_text="Storage name of what is played.")
    reference = models.CharField(max_length=500, blank=True, help_text="Timbre: the reference audio.")
    # Checks: the accepted scores (gold: a range; trap: the one score the clip asks for).
    expected_min = models.PositiveSmallIntegerField(null=True, blank=True)
    expected_max = models.PositiveSmallIntegerField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)
    # Valid ratings so far (kept by rating_submit / screening, recomputed by study_recount).
    valid_ratings = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["study", "role", "category", "system", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "sample"], condition=Q(role="test"), name="stimulus_one_per_sample"
            ),
            models.CheckConstraint(
                condition=Q(role="test") | Q(expected_min__isnull=False, expected_max__isnull=False),
                name="stimulus_check_has_expected_scores",
            ),
        ]
        indexes = [models.Index(fields=["study", "role", "valid_ratings"])]

    def __str__(self) -> str:
        return f"{self.study_id}/{self.role}/{self.category}/{self.system or '-'}"

    @property
    def is_check(self) -> bool:
        return self.role in (self.Role.GOLD_HIGH, self.Role.GOLD_LOW, self.Role.TRAP)

    @property
    def is_example(self) -> bool:
        return self.role in (self.Role.EXAMPLE_HIGH, self.Role.EXAMPLE_LOW)

    def accepts(self, score: int) -> bool:
        if not self.is_check:
            return True
        return self.expected_min <= score <= self.expected_max


class Rater(models.Model):
    class Source(models.TextChoices):
        INVITE = "invite", "Invite link"
        MTURK = "mturk", "Mechanical Turk"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="raters")
    source = models.CharField(max_length=8, choices=Source.choices)
    # Invite: a random code in the signed link. MTurk: the WorkerId.
    external_id = models.CharField(max_length=64)
    label = models.CharField(
        max_length=100, blank=True, help_text="Who the invite was for (researcher's note)."
    )
    excluded = models.BooleanField(default=False)
    exclusion_reason = models.CharField(max_length=300, blank=True)
    blocked = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["study", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["study", "source", "external_id"], name="rater_unique_per_study")
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"

    @staticmethod
    def new_invite_code() -> str:
        return secrets.token_urlsafe(12)


class Hit(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="hits")
    hit_id = models.CharField(max_length=64, unique=True)
    hit_type_id = models.CharField(max_length=64)
    unique_request_token = models.CharField(max_length=64, unique=True)
    max_assignments = models.PositiveIntegerField()
    live = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    synced_at = models.DateTimeField(null=True, blank=True)
    extensions = models.PositiveIntegerField(default=0, help_text="Times assignments were added.")

    class Meta:
        ordering = ["study", "created_at"]

    def __str__(self) -> str:
        return self.hit_id


class Assignment(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", "In progress"
        SUBMITTED = "submitted", "Submitted"
        APPROVED = "approved", "Approved (MTurk)"
        REJECTED = "rejected", "Rejected (MTurk)"
        ABANDONED = "abandoned", "Abandoned"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="assignments")
    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="assignments")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE, db_index=True)
    hit = models.ForeignKey(Hit, null=True, blank=True, on_delete=models.SET_NULL, related_name="assignments")
    mturk_assignment_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    turk_submit_to = models.URLField(blank=True)
    completion_code = models.CharField(max_length=16, blank=True)
    passed_checks = models.BooleanField(null=True, blank=True)
    check_failures = models.JSONField(default=list, blank=True)
    mturk_status = models.CharField(max_length=16, blank=True, help_text="As last seen by the sync.")
    bonus_paid = models.BooleanField(default=False)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["study", "created_at"]

    def __str__(self) -> str:
        return f"{self.study_id}/{self.rater}/{self.uid.hex[:8]}"


class AssignmentItem(models.Model):
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="items")
    stimulus = models.ForeignKey(Stimulus, on_delete=models.CASCADE, related_name="assignment_items")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["assignment", "position"]
        constraints = [
            models.UniqueConstraint(fields=["assignment", "position"], name="item_position_unique"),
            models.UniqueConstraint(fields=["assignment", "stimulus"], name="item_stimulus_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.assignment_id}#{self.position}"


class Rating(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="ratings")
    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="ratings")
    stimulus = models.ForeignKey(Stimulus, on_delete=models.CASCADE, related_name="ratings")
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="ratings")
    score = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    time_spent_ms = models.PositiveIntegerField(default=0)
    play_count = models.PositiveSmallIntegerField(default=0)
    played_to_end = models.BooleanField(default=False)
    rubric_version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["study", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["rater", "stimulus"], name="rating_one_per_rater_stimulus"),
            models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="rating_score_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.rater} → {self.stimulus_id}: {self.score}"
