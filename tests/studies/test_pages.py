"""The rater and researcher pages through HTTP (Django's test client)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from studies.models import Assignment, Hit, Rating, Study
from studies.services.studies import invite_token, invites_create, study_create, study_open
from tests.studies.factories import finished_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(settings, django_capture_on_commit_callbacks) -> Study:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    run = finished_run()
    with django_capture_on_commit_callbacks(execute=True):
        study = study_create(run=run, kind="timbre", ratings_per_stimulus=2, stimuli_per_assignment=3)
    return study_open(study=Study.objects.get(pk=study.pk))


def answer(page: str) -> dict[str, str]:
    stimulus = re.search(r'name="stimulus" value="([0-9a-f-]+)"', page).group(1)
    return {"stimulus": stimulus, "score": "4", "time_ms": "9000", "plays": "1", "ended": "1"}


def test_an_invited_rater_rates_every_clip_and_gets_a_completion_code(client, study):
    rater = invites_create(study=study, count=1)[0]
    response = client.get(reverse("studies:invite", args=[invite_token(rater)]))
    assert response.status_code == 302
    rate_url = response["Location"]
    page = client.get(rate_url)
    assert page.status_code == 200
    assert "frame-ancestors" in page["Content-Security-Policy"] and "X-Frame-Options" not in page
    html = page.content.decode()
    assert "Timbre is exactly the same as target." in html and 'id="reference"' in html
    # The media URLs are opaque: no system name, no file name.
    media = re.findall(r'src="([^"]+/media/[^"]+)"', html)
    assert media and all("proposed" not in m and "baseline" not in m and ".wav" not in m for m in media)
    assert "deserves a <strong>high</strong>" in html and "deserves a <strong>low</strong>" in html
    ranged = client.get(media[0], HTTP_RANGE="bytes=0-99")
    assert ranged.status_code == 206 and ranged["Content-Range"].startswith("bytes 0-99/")
    total = Assignment.objects.get(rater=rater).items.count()
    for _ in range(total):
        form = answer(client.get(rate_url).content.decode())
        assert client.post(rate_url, form).status_code == 302
        assert client.post(rate_url, form).status_code == 302  # a double submit is harmless
    done = client.get(rate_url).content.decode()
    assignment = Assignment.objects.get(rater=rater)
    assert assignment.completion_code in done and assignment.state == "submitted"
    assert Rating.objects.filter(rater=rater).count() == total


def test_a_forged_or_altered_link_gets_a_clear_404(client, study):
    rater = invites_create(study=study, count=1)[0]
    token = invite_token(rater)
    assert client.get(reverse("studies:invite", args=[token[:-2] + "xx"])).status_code == 404
    assert client.get(reverse("studies:rate", args=["nonsense"])).status_code == 404
    assert client.post(reverse("studies:rate", args=["nonsense"]), {"score": "5"}).status_code == 404


def test_a_rating_that_cannot_be_accepted_is_explained_on_the_page(client, study):
    rater = invites_create(study=study, count=1)[0]
    rate_url = client.get(reverse("studies:invite", args=[invite_token(rater)]))["Location"]
    form = answer(client.get(rate_url).content.decode())
    response = client.post(rate_url, {**form, "score": "9"})
    assert response.status_code == 400 and "between 1 and 5" in response.content.decode()
    assert not Rating.objects.exists()


def test_mturk_preview_is_read_only_and_forged_parameters_are_refused(client, study, settings):
    Hit.objects.create(
        study=study,
        hit_id="3AAAAAAAAAAAAAAAAAAAAA",
        hit_type_id="T1",
        unique_request_token="t",
        max_assignments=9,
    )
    url = reverse("studies:mturk", args=[study.uid])
    preview = client.get(
        url, {"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "3AAAAAAAAAAAAAAAAAAAAA"}
    )
    assert preview.status_code == 200 and "Accept the HIT to begin" in preview.content.decode()
    assert not Assignment.objects.exists()
    good = {"assignmentId": "3BBBBBBBBBBBBBBBBBB", "hitId": "3AAAAAAAAAAAAAAAAAAAAA", "workerId": "A1WORKER0001",
            "turkSubmitTo": "https://workersandbox.mturk.com"}  # fmt: skip
    for forged, message in [
        ({"hitId": "3ZZZZZZZZZZZZZZZZZZZZZ"}, "without a valid HIT"),
        ({"workerId": "<script>"}, "malformed"),
        ({"turkSubmitTo": "https://evil.example.com"}, "not MTurk"),
    ]:
        response = client.get(url, {**good, **forged})
        assert response.status_code == 400 and message in response.content.decode()
    accepted = client.get(url, good)
    assert accepted.status_code == 302
    # Another worker presenting the same assignment id does not get its work.
    other = client.get(url, {**good, "workerId": "A2OTHER00002"})
    assert other.status_code == 403
    assert Assignment.objects.get().rater.external_id == "A1WORKER0001"


def test_researcher_pages_need_a_researcher(client, study, django_user_model):
    pages = [
        reverse("studies:list"), reverse("studies:study", args=[study.pk]), reverse("studies:results", args=[study.pk]),
        reverse("studies:preview", args=[study.pk]), reverse("studies:export", args=[study.pk, "csv"]),
        reverse("studies:run_mos", args=[study.run_id]),
    ]  # fmt: skip
    for url in pages:
        assert client.get(url).status_code == 302  # to the login page
    django_user_model.objects.create_user("bob", password="a-long-test-password-2")
    client.login(username="bob", password="a-long-test-password-2")
    for url in pages:
        assert client.get(url).status_code == 302  # logged in, but not a researcher


def test_researcher_pages_show_progress_results_and_exports(researcher_client, study):
    rater = invites_create(study=study, count=1)[0]
    rate_url = researcher_client.get(reverse("studies:invite", args=[invite_token(rater)]))["Location"]
    for _ in range(Assignment.objects.get(rater=rater).items.count()):
        researcher_client.post(rate_url, answer(researcher_client.get(rate_url).content.decode()))
    detail = researcher_client.get(reverse("studies:study", args=[study.pk])).content.decode()
    assert "Progress" in detail and "invite" in detail
    results = researcher_client.get(reverse("studies:results", args=[study.pk])).content.decode()
    assert "<svg" in results and "Krippendorff" in results
    csv_text = b"".join(
        researcher_client.get(reverse("studies:export", args=[study.pk, "csv"])).streaming_content
    ).decode()
    assert csv_text.count("\n") == 1 + Rating.objects.count()
    tex = researcher_client.get(reverse("studies:export", args=[study.pk, "tex"])).content.decode()
    assert "\\begin{tabular}" in tex
    data = researcher_client.get(reverse("studies:export", args=[study.pk, "json"])).json()
    assert data["kind"] == "timbre" and data["table"][-1]["category"] == "Average"
    tables = researcher_client.get(reverse("studies:run_mos", args=[study.run_id])).content.decode()
    assert "Table 2" in tables
    preview = researcher_client.get(reverse("studies:preview", args=[study.pk]))
    assert preview.status_code == 200


def test_studies_are_created_from_the_list_page(researcher_client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    run = finished_run(name="form")
    response = researcher_client.post(
        reverse("studies:create"), {"run": run.pk, "kind": ["realism", "timbre"], "ratings_per_stimulus": "4",
                                     "stimuli_per_assignment": "5", "reward": "0.40", "seed": "1"},
    )  # fmt: skip
    assert response.status_code == 302
    assert sorted(Study.objects.values_list("kind", flat=True)) == ["realism", "timbre"]
    bad = researcher_client.post(
        reverse("studies:create"), {"run": run.pk, "ratings_per_stimulus": "x"}, follow=True
    )
    assert "whole number" in bad.content.decode()


def test_the_progress_section_refreshes_on_its_own(researcher_client, study):
    page = researcher_client.get(reverse("studies:study", args=[study.pk])).content.decode()
    assert reverse("studies:progress", args=[study.pk]) in page
    partial = researcher_client.get(reverse("studies:progress", args=[study.pk])).content.decode()
    assert partial.strip().startswith('<section class="card" id="progress">')
