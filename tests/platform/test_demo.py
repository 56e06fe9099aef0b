"""`make demo`'s pipeline, small: it builds, trains, generates, and a second run redoes nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from registry.models import Checkpoint, Dataset, GenerationRun, Status, TrainingRun
from studies.models import Study

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_the_demo_pipeline_runs_end_to_end_and_is_idempotent(
    settings, tmp_path, capsys, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.VAR_DIR = tmp_path / "var"
    args = ["--clips-per-category", "10", "--seconds", "2.2", "--steps", "1", "--categories", "gun"]
    with django_capture_on_commit_callbacks(execute=True):  # as outside a test's transaction
        call_command("demo", *args)
    dataset = Dataset.objects.get(name="synthvas-demo")
    assert dataset.status == Status.SUCCEEDED and len(dataset.stats["by_category"]) == 8
    assert set(Checkpoint.objects.values_list("kind", flat=True)) == {"varietysound", "cascade"}
    run = GenerationRun.objects.get()
    assert run.status == Status.SUCCEEDED and run.summary["metrics"]
    out = capsys.readouterr().out
    assert f"/runs/{run.pk}/" in out
    studies = Study.objects.filter(run=run)
    assert sorted(studies.values_list("kind", flat=True)) == ["alignment", "realism", "timbre"]
    assert set(studies.values_list("state", flat=True)) == {"open"}
    # A third system made outside the platform (examples/onset_foley.py), in the run and its studies.
    assert [s["key"] for s in run.spec["systems"]][-1] == "foley"
    assert "foley" in run.summary["metrics"]["timbre"]["cosine"]
    assert all("foley" in s.systems for s in studies)
    assert studies.get(kind="realism").systems == ["ground_truth", "baseline", "proposed", "foley"]
    assert out.count("rater link") == 6 and "/i/" in out and f"/runs/{run.pk}/mos/" in out

    call_command("demo", *args)
    assert TrainingRun.objects.count() == 2 and GenerationRun.objects.count() == 1, "nothing is redone"
    assert Study.objects.count() == 3
    from registry.models import SystemImport

    assert SystemImport.objects.count() == 1
