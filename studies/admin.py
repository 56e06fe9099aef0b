from django.contrib import admin

from studies.models import Assignment, Hit, Rater, Rating, RubricRevision, Stimulus, Study


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ("pk", "name", "kind", "state", "run", "ratings_per_stimulus", "created_at")
    list_filter = ("kind", "state")
    readonly_fields = ("uid", "rubric_version", "results")


@admin.register(Stimulus)
class StimulusAdmin(admin.ModelAdmin):
    list_display = ("pk", "study", "role", "category", "system", "media", "valid_ratings")
    list_filter = ("role", "media", "study")
    readonly_fields = ("uid",)


@admin.register(Rater)
class RaterAdmin(admin.ModelAdmin):
    list_display = ("pk", "study", "source", "external_id", "excluded", "blocked", "exclusion_reason")
    list_filter = ("source", "excluded", "blocked")


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("pk", "study", "rater", "state", "passed_checks", "mturk_assignment_id", "mturk_status")
    list_filter = ("state", "passed_checks")
    readonly_fields = ("uid", "check_failures")


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    """Ratings are evidence: they can be read here, never edited."""

    list_display = (
        "pk",
        "study",
        "rater",
        "stimulus",
        "score",
        "played_to_end",
        "time_spent_ms",
        "created_at",
    )
    list_filter = ("study", "score")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False


admin.site.register(Hit)
admin.site.register(RubricRevision)
