"""A study on Mechanical Turk end to end, offline: publish through boto3 to our fake endpoint, workers
take assignments through the ExternalQuestion URL and submit to turkSubmitTo, and the sync approves,
rejects, bonuses, blocks and extends until every clip has its valid ratings."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import requests
from django.urls import reverse

from studies.models import Assignment, Hit, Rater, Stimulus, Study
from studies.services import mturk_ops
from studies.services.studies import study_create
from tests.studies.factories import finished_run
from tests.studies.fake_mturk import WorkerRefused

pytestmark = pytest.mark.django_db


@pytest.fixture
def mturk_settings(settings, fake_mturk, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    settings.MTURK_ENDPOINT_URL = fake_mturk.endpoint_url
    settings.MTURK_EXTERNAL_BASE_URL = "https://testserver"
    settings.MTURK_SUBMIT_ORIGINS = [fake_mturk.endpoint_url]
    settings.MTURK_LIVE = False
    settings.CELERY_TASK_ALWAYS_EAGER = True
    return settings


@pytest.fixture
def study(mturk_settings, django_capture_on_commit_callbacks) -> Study:
    run = finished_run(categories=("dog",))
    with django_capture_on_commit_callbacks(execute=True):
        study = study_create(
            run=run, kind="realism", ratings_per_stimulus=1, stimuli_per_assignment=3, reward="0.30"
        )
    Study.objects.filter(pk=study.pk).update(bonus=Decimal("0.10"), auto_approval_delay_s=3600)
    return Study.objects.get(pk=study.pk)


def work(client, fake, hit_id: str, worker: str, answer) -> str:
    """A worker accepts on MTurk, opens the framed page, rates every clip and submits the HIT."""
    assignment_id = fake.worker_accept(hit_id, worker)
    url = urlsplit(fake.frame_url(hit_id, assignment_id))
    response = client.get(url.path + "?" + url.query)
    assert response.status_code == 302, response.content.decode()[:300]
    rate_url = response["Location"]
    while True:
        page = client.get(rate_url).content.decode()
        match = re.search(r'name="stimulus" value="([0-9a-f-]+)"', page)
        if match is None:
            break
        stimulus = Stimulus.objects.get(uid=match.group(1))
        client.post(
            rate_url, {"stimulus": match.group(1), "score": answer(stimulus), "plays": "1", "ended": "1"}
        )
    action = re.search(r'<form method="post" action="([^"]+)" id="mturk-submit">', page).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))
    assert action == fake.external_submit_url and fields["assignmentId"] == assignment_id
    assert requests.post(action, data=fields, timeout=5).status_code == 200  # the worker's browser
    return assignment_id


def careful(stimulus: Stimulus) -> str:
    return str(stimulus.expected_min if stimulus.is_check else 4)


def test_a_study_runs_on_mturk_until_every_clip_has_its_valid_ratings(client, fake_mturk, study):
    preview = mturk_ops.publish_preview(study=study, hits=1, assignments_per_hit=2)
    assert preview["total"] == "0.96"  # 2 x (0.30 + 0.10 bonus) + 20 % fees (0.06 + 0.02 each)
    for _ in range(2):  # a double click publishes once
        mturk_ops.study_publish(study=study, hits=1, assignments_per_hit=2, request_id="r1")
    assert len(fake_mturk.hits) == 1 and Hit.objects.count() == 1
    study.refresh_from_db()
    assert study.state == Study.State.OPEN
    hit_id = Hit.objects.get().hit_id
    # Preview: read-only.
    url = urlsplit(fake_mturk.frame_url(hit_id))
    assert "Accept the HIT to begin" in client.get(url.path + "?" + url.query).content.decode()

    good = work(client, fake_mturk, hit_id, "AGOODWORKER1", careful)
    cheat = work(client, fake_mturk, hit_id, "ACHEATER0001", lambda s: "3")
    summary = mturk_ops.study_sync(study_id=study.pk)
    assert summary["approved"] == 1 and summary["rejected"] == 1 and summary["bonuses"] == 1
    assert fake_mturk.assignments[good]["AssignmentStatus"] == "Approved"
    assert fake_mturk.assignments[cheat]["AssignmentStatus"] == "Rejected"
    assert "gold" in fake_mturk.assignments[cheat]["RequesterFeedback"]
    assert len(fake_mturk.bonuses) == 1
    # Six clips need one valid rating each: the good worker gave three, so the sync added places.
    assert summary["extended"] >= 1
    assert sum(h["MaxAssignments"] for h in fake_mturk.hits.values()) > 2

    # A worker who submits on MTurk without doing the work is rejected, not paid.
    hit_id = max(fake_mturk.hits, key=lambda h: fake_mturk.hits[h]["CreationTime"])
    ghost = fake_mturk.worker_accept(hit_id, "AGHOSTWORKER")
    fake_mturk.worker_submit(ghost, {"completionCode": "FAKE"})
    # The cheater comes back to a second HIT (one assignment per worker per HIT), fails again, and is
    # blocked after a second rejection.
    mturk_ops.study_publish(study=study, hits=1, assignments_per_hit=2, request_id="r2")
    second = Hit.objects.latest("created_at").hit_id
    cheat_again = work(client, fake_mturk, second, "ACHEATER0001", lambda s: "3")
    mturk_ops.study_sync(study_id=study.pk)
    assert fake_mturk.assignments[ghost]["AssignmentStatus"] == "Rejected"
    assert fake_mturk.assignments[cheat_again]["AssignmentStatus"] == "Rejected"
    assert "ACHEATER0001" in fake_mturk.blocks
    assert Rater.objects.get(external_id="ACHEATER0001").blocked

    # Careful workers finish the job; the sync then expires the HITs.
    n = 2
    while Stimulus.objects.filter(study=study, role="test", valid_ratings__lt=1).exists():
        for hit_id in list(fake_mturk.hits):
            try:
                work(client, fake_mturk, hit_id, f"ACAREFUL{n:04d}", careful)
                break
            except WorkerRefused:  # that HIT is full or expired: try the next one
                continue
        else:
            pytest.fail("no HIT has a place left although clips still lack ratings")
        mturk_ops.study_sync(study_id=study.pk)
        n += 1
        assert n < 12
    summary = mturk_ops.study_sync(study_id=study.pk)
    assert all(h["Expiration"] <= fake_mturk.now() for h in fake_mturk.hits.values())
    assert not Assignment.objects.filter(state="submitted").exists()  # every submission reviewed
    approved = Assignment.objects.filter(state="approved").count()
    assert len(fake_mturk.bonuses) == approved  # each approved assignment bonused exactly once


def test_live_publishing_needs_the_live_setting_and_the_typed_cost(study, mturk_settings, fake_mturk):
    assert mturk_ops.publish_preview(study=study, hits=1, assignments_per_hit=9)["live"] is False
    mturk_settings.MTURK_LIVE = True
    with pytest.raises(mturk_ops.PublishError, match=r"LIVE marketplace costs \$"):
        mturk_ops.study_publish(study=study, hits=1, assignments_per_hit=9, request_id="x")
    assert not fake_mturk.hits
    total = mturk_ops.publish_preview(study=study, hits=1, assignments_per_hit=9)["total"]
    mturk_ops.study_publish(study=study, hits=1, assignments_per_hit=9, request_id="x", confirm_total=total)
    assert len(fake_mturk.hits) == 1 and Hit.objects.get().live


def test_publishing_without_a_public_https_address_is_refused(study, mturk_settings):
    mturk_settings.MTURK_EXTERNAL_BASE_URL = None
    with pytest.raises(mturk_ops.PublishError, match="MTURK_EXTERNAL_BASE_URL"):
        mturk_ops.study_publish(study=study, hits=1, assignments_per_hit=2)


def test_the_researcher_page_shows_the_cost_and_publishes(researcher_client, study, fake_mturk):
    page = researcher_client.get(reverse("studies:study", args=[study.pk])).content.decode()
    assert "sandbox" in page and "MTurk fees" in page
    request_id = re.search(r'name="request_id" value="(\w+)"', page).group(1)
    form = {"hits": "1", "assignments_per_hit": "3", "request_id": request_id}
    for _ in range(2):
        researcher_client.post(reverse("studies:action", args=[study.pk, "publish"]), form)
    assert len(fake_mturk.hits) == 1


def test_beat_syncs_every_open_study_with_hits(study, fake_mturk, settings):
    from studies.tasks import mturk_sync_all

    assert settings.CELERY_BEAT_SCHEDULE["mturk-sync"]["task"] == "default.mturk_sync_all"
    assert mturk_sync_all.delay().get() == {"studies": []}  # nothing published yet
    mturk_ops.study_publish(study=study, hits=1, assignments_per_hit=2, request_id="beat")
    assert mturk_sync_all.delay().get() == {"studies": [study.pk]}
    assert Hit.objects.get().synced_at is not None
