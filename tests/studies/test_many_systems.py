"""A study over N systems: GT, the cascade, VarietySound and a system imported from elsewhere."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from itertools import combinations

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse
from scipy import stats as sps

from studies.models import Rating, Stimulus, Study
from studies.services.rating import NoWork, assignment_claim
from studies.services.results import run_tables, study_results
from studies.services.studies import StudyError, invites_create, study_create, study_open
from tests.studies.factories import finished_run
from tests.studies.test_rating import rate_all

pytestmark = pytest.mark.django_db
OPINION = {"ground_truth": 4.4, "baseline": 2.6, "proposed": 3.8, "foley": 3.2}


def _score(stimulus: Stimulus, rng: random.Random) -> int:
    if stimulus.is_check:
        return (
            stimulus.expected_min
            if stimulus.role == "trap"
            else rng.randint(stimulus.expected_min, stimulus.expected_max)
        )
    return int(min(5, max(1, round(OPINION[stimulus.system] + rng.gauss(0, 0.6)))))


def _four_system_study(django_capture_on_commit_callbacks, **kwargs) -> Study:
    run = finished_run(imported=("foley",))
    with django_capture_on_commit_callbacks(execute=True):
        study = study_create(
            run=run, kind="realism", ratings_per_stimulus=3, stimuli_per_assignment=8, **kwargs
        )
    return study_open(study=Study.objects.get(pk=study.pk))


def _rate_until_done(study: Study, raters: int = 24) -> None:
    rng = random.Random(3)
    for rater in invites_create(study=study, count=raters):
        for _ in range(3):
            try:
                assignment = assignment_claim(study=study, rater=rater)
            except NoWork:
                break
            rate_all(assignment, lambda s: _score(s, rng))


def test_imported_systems_join_the_default_studies_and_assignments_stay_balanced(
    settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    study = _four_system_study(django_capture_on_commit_callbacks)
    assert study.systems == ["ground_truth", "baseline", "proposed", "foley"]
    # 2 categories x 4 systems = 8 conditions, 8 clips per assignment: one of each, every time.
    for rater in invites_create(study=study, count=3):
        items = assignment_claim(study=study, rater=rater).items.filter(stimulus__role="test")
        assert Counter(items.values_list("stimulus__category", "stimulus__system")) == {
            (c, s): 1 for c in ("dog", "drum") for s in OPINION
        }


def test_a_four_system_study_is_rated_to_its_target_and_its_table_equals_a_direct_computation(
    settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    study = _four_system_study(django_capture_on_commit_callbacks)
    _rate_until_done(study)
    assert all(
        v >= 3
        for v in Stimulus.objects.filter(study=study, role="test").values_list("valid_ratings", flat=True)
    )
    result = study_results(study=study, n_boot=200)
    assert [key for key, _ in result.systems] == ["ground_truth", "baseline", "proposed", "foley"]
    direct = defaultdict(list)
    for rating in Rating.objects.filter(
        study=study, stimulus__role="test", rater__excluded=False, assignment__passed_checks=True
    ).select_related("stimulus"):
        direct[(rating.stimulus.category, rating.stimulus.system)].append(rating.score)
        direct[("Average", rating.stimulus.system)].append(rating.score)
    for key, scores in direct.items():
        x = np.asarray(scores, dtype=float)
        cell = result.cells[key]
        assert cell.n == x.size and cell.mean == pytest.approx(x.mean())
        assert cell.t_half == pytest.approx(sps.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    # All pairs of the four systems, per category and on average: 6 x 3 tests in one Holm family.
    labels = dict(result.systems)
    averaged = {frozenset((c["a"], c["b"])): c for c in result.comparisons if c["category"] == "Average"}
    assert len(result.comparisons) == 6 * 3 and len(averaged) == 6
    for a, b in combinations(OPINION, 2):
        got = averaged[frozenset((labels[a], labels[b]))]
        expected = sps.mannwhitneyu(direct[("Average", a)], direct[("Average", b)], alternative="two-sided")
        assert got["p"] == pytest.approx(expected.pvalue)
    assert all(c["p_holm"] >= c["p"] for c in result.comparisons)


def test_comparisons_against_a_chosen_reference_system_test_only_those_pairs(
    settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    study = _four_system_study(django_capture_on_commit_callbacks, reference_system="proposed")
    _rate_until_done(study)
    result = study_results(study=study, n_boot=100)
    pairs = {(c["category"], frozenset((c["a"], c["b"]))) for c in result.comparisons}
    assert len(result.comparisons) == 3 * 3
    assert all("Ours" in pair for _, pair in pairs)


def test_a_study_over_a_chosen_subset_of_systems_and_clear_errors_for_bad_choices(
    settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    run = finished_run(imported=("foley",))
    with django_capture_on_commit_callbacks(execute=True):
        study = study_create(run=run, kind="timbre", systems=["proposed", "foley"])
    assert set(study.stimuli.filter(role="test").values_list("system", flat=True)) == {"proposed", "foley"}
    with pytest.raises(StudyError, match="has no systems"):
        study_create(run=run, kind="realism", systems=["proposed", "nonesuch"])
    with pytest.raises(StudyError, match="reference system"):
        study_create(run=run, kind="realism", systems=["proposed", "foley"], reference_system="baseline")


def test_create_studies_takes_systems_and_a_reference_and_the_run_tables_show_the_imported_system(
    settings, django_capture_on_commit_callbacks, researcher_client
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    run = finished_run(imported=("foley",))
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "create_studies", "--run", str(run.pk), "--systems", "ground_truth,proposed,foley",
            "--reference", "proposed", "--invites", "0",
        )  # fmt: skip
    realism = Study.objects.get(run=run, kind="realism")
    timbre = Study.objects.get(run=run, kind="timbre")
    assert realism.systems == ["ground_truth", "proposed", "foley"] and realism.reference_system == "proposed"
    assert timbre.systems == ["proposed", "foley"]
    tables = run_tables(run=run)
    assert [label for _, label in tables["results"]["realism"].systems] == ["GT (vocoded)", "Ours", "Foley"]
    page = researcher_client.get(reverse("studies:run_mos", args=[run.pk]))
    assert page.status_code == 200 and "Foley" in page.content.decode()
