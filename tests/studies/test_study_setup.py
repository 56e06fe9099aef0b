"""Studies are made from a finished run: the paper's stimuli, its rubric word for word, real checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.core.files.storage import default_storage

from studies.models import Kind, RubricRevision, Stimulus, Study
from studies.rubrics import RUBRICS
from studies.services.studies import StudyError, study_create, study_rubric_update
from tests.studies.factories import finished_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    return finished_run()


def test_the_three_studies_hold_the_papers_stimuli(run, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        studies = {kind: study_create(run=run, kind=kind) for kind in Kind.values}
    tests = {k: Stimulus.objects.filter(study=s, role="test") for k, s in studies.items()}
    # 2 categories x 3 clips x (GT, baseline, proposed) for realism and alignment; timbre has no GT.
    assert tests["realism"].count() == 18
    assert set(tests["realism"].values_list("system", flat=True)) == {"ground_truth", "baseline", "proposed"}
    assert tests["alignment"].count() == 18
    assert set(tests["alignment"].values_list("media", flat=True)) == {"video"}
    assert tests["timbre"].count() == 12
    for stimulus in tests["timbre"].select_related("sample__pair"):
        gt = stimulus.sample.pair.reference_clip
        assert stimulus.reference == gt.audio.name  # its reference is the reference clip's vocoded GT
    for study in studies.values():
        study.refresh_from_db()
        assert study.state == Study.State.DRAFT, study.message


def test_the_rubric_is_the_papers_word_for_word_and_edits_are_versioned(run, researcher):
    study = study_create(run=run, kind="realism", prepare=False)
    assert study.rubric["levels"]["5"] == "Completely real sound."
    assert (
        RUBRICS["alignment"]["levels"]["1"]
        == "Completely misalignment, no events in audio can match the video ."
    )
    assert RUBRICS["timbre"]["levels"]["2"] == (
        "Timbre has a large gap with the target, but share the same category of the sound."
    )
    edited = {**study.rubric, "question": "How natural is it?"}
    study = study_rubric_update(study=study, instructions="Listen.", rubric=edited, user=researcher)
    assert study.rubric_version == 2
    assert list(RubricRevision.objects.filter(study=study).values_list("version", flat=True)) == [1, 2]
    with pytest.raises(ValueError, match="each score"):
        study_rubric_update(study=study, instructions="x", rubric={"question": "q", "levels": {"1": "a"}})


def test_checks_are_real_media_a_trap_speaks_and_a_broken_clip_is_noise(
    run, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        study = study_create(run=run, kind="realism")
    checks = Stimulus.objects.filter(study=study).exclude(role="test")
    assert set(checks.values_list("role", flat=True)) == {
        "gold_high",
        "gold_low",
        "trap",
        "example_high",
        "example_low",
    }
    for trap in checks.filter(role="trap"):
        assert trap.expected_min == trap.expected_max and 1 <= trap.expected_min <= 5
        audio, rate = sf.read(default_storage.path(trap.file))
        assert rate == 22050 and np.abs(audio).max() > 0.3  # speech, not silence
    for broken in checks.filter(role="gold_low"):
        assert (broken.expected_min, broken.expected_max) == (1, 2)
        assert Path(default_storage.path(broken.file)).is_file()


def test_alignment_checks_are_videos(run, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        study = study_create(run=run, kind="alignment")
    assert set(Stimulus.objects.filter(study=study).values_list("media", flat=True)) == {"video"}


def test_it_refuses_an_unfinished_run_and_unknown_systems(run):
    with pytest.raises(StudyError, match="no systems"):
        study_create(run=run, kind="realism", systems=["nope"])
    run.status = "running"
    run.save()
    with pytest.raises(StudyError, match="finished run"):
        study_create(run=run, kind="realism")


@pytest.mark.parametrize("reward", ["-1", "abc", "0.005", "1000", "NaN"])
def test_a_bad_reward_is_refused_with_a_clear_error(run, reward):
    with pytest.raises(StudyError, match="reward"):
        study_create(run=run, kind="realism", reward=reward, prepare=False)


def test_a_local_study_without_a_reward_shows_its_progress(run, researcher_client):
    from django.urls import reverse

    study = study_create(run=run, kind="realism", reward="0.00", prepare=False)
    assert researcher_client.get(reverse("studies:study", args=[study.pk])).status_code == 200
