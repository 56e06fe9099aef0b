from django.contrib import admin

from registry.models import (
    Checkpoint,
    CheckpointUpload,
    Clip,
    Dataset,
    GenerationRun,
    Pair,
    Sample,
    TrainingRun,
)

_JOB_FIELDS = (
    "status",
    "progress_done",
    "progress_total",
    "message",
    "created_at",
    "started_at",
    "finished_at",
)


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "source", "status", "progress_done", "progress_total", "created_at")
    list_filter = ("source", "status")
    search_fields = ("name", "source_path")
    readonly_fields = ("created_at", "started_at", "finished_at", "task_id")


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = ("clip_id", "dataset", "category", "split", "duration_s")
    list_filter = ("dataset", "split", "category")
    search_fields = ("clip_id",)
    list_select_related = ("dataset",)


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "system", "preset", "dataset", "category", *_JOB_FIELDS[:3])
    list_filter = ("system", "preset", "status")
    readonly_fields = ("created_at", "started_at", "finished_at", "task_id")


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "role", "step", "size_bytes", "short_sha", "created_at")
    list_filter = ("kind", "role")
    search_fields = ("name", "sha256")
    readonly_fields = ("sha256", "size_bytes", "created_at")

    @admin.display(description="sha256")
    def short_sha(self, obj: Checkpoint) -> str:
        return obj.sha256[:12]


@admin.register(CheckpointUpload)
class CheckpointUploadAdmin(admin.ModelAdmin):
    list_display = ("name", "original_name", "role", "status", "message", "created_by", "created_at")
    list_filter = ("status", "role")
    search_fields = ("name", "original_name")
    readonly_fields = ("created_at", "started_at", "finished_at", "task_id", "file", "checkpoint")


class PairInline(admin.TabularInline):
    model = Pair
    extra = 0
    fields = ("task", "category", "index", "video_clip", "reference_clip")
    raw_id_fields = ("video_clip", "reference_clip")
    show_change_link = True


@admin.register(GenerationRun)
class GenerationRunAdmin(admin.ModelAdmin):
    list_display = ("name", "dataset", "seed", *_JOB_FIELDS[:3], "created_at")
    list_filter = ("status",)
    readonly_fields = ("created_at", "started_at", "finished_at", "task_id")
    inlines = [PairInline]


@admin.register(Pair)
class PairAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "task", "category", "index", "video_clip", "reference_clip")
    list_filter = ("task", "category")
    raw_id_fields = ("video_clip", "reference_clip")


@admin.register(Sample)
class SampleAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "task", "category", "system", "pair", "clip", "status")
    list_filter = ("task", "system", "status")
    raw_id_fields = ("pair", "clip", "source", "checkpoint")
