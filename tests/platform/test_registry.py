"""Researcher pages, the registry's constraints and its bookkeeping."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.urls import reverse

from registry import services
from registry.models import Clip, Dataset, GenerationRun, Pair, Sample, Status

pytestmark = pytest.mark.django_db


def make_dataset(name: str = "synth", clips: dict[tuple[str, str], int] | None = None) -> Dataset:
    dataset = Dataset.objects.create(name=name, source=Dataset.Source.SYNTHVAS, root=f"datasets/{name}")
    counts = clips or {("dog", "train"): 3, ("dog", "test"): 2, ("drum", "val"): 1}
    for (category, split), n in counts.items():
        for i in range(n):
            Clip.objects.create(
                dataset=dataset, clip_id=f"{category}_{split}_{i}", category=category, split=split
            )
    return dataset


def test_researcher_pages_redirect_anonymous_visitors_to_login(client):
    response = client.get(reverse("registry:dashboard"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_a_logged_in_non_researcher_cannot_see_the_dashboard(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("rater", password="x-long-password-2"))
    response = client.get(reverse("registry:dashboard"))
    assert response.status_code == 302 and reverse("login") in response.url


def test_login_through_the_form_reaches_the_dashboard(client, researcher):
    response = client.post(
        reverse("login"), {"username": "alice", "password": "a-long-test-password-1"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("registry:dashboard")
    assert b"Dashboard" in response.content


def test_the_dashboard_lists_datasets_and_runs_with_their_status(researcher_client):
    dataset = make_dataset()
    services.dataset_refresh_stats(dataset_id=dataset.id)
    GenerationRun.objects.create(
        name="protocol-1", dataset=dataset, status=Status.RUNNING, progress_done=3, progress_total=12
    )
    html = researcher_client.get(reverse("registry:dashboard")).content.decode()
    assert "synth" in html and "protocol-1" in html
    assert "3/12" in html, "a running job shows its progress"
    assert 'http-equiv="refresh"' in html, "the page refreshes while a job is in flight"


def test_the_dataset_page_shows_splits_by_category(researcher_client):
    dataset = make_dataset()
    services.dataset_refresh_stats(dataset_id=dataset.id)
    response = researcher_client.get(reverse("registry:dataset", args=[dataset.id]))
    assert response.status_code == 200
    assert response.context["clip_count"] == 6
    filtered = researcher_client.get(reverse("registry:dataset", args=[dataset.id]), {"split": "test"})
    assert filtered.context["clip_count"] == 2


def test_refreshing_stats_counts_clips_by_split_and_category():
    dataset = make_dataset()
    stats = services.dataset_refresh_stats(dataset_id=dataset.id)
    assert stats == {
        "clips": 6,
        "by_split": {"test": 2, "train": 3, "val": 1},
        "by_category": {"dog": {"test": 2, "train": 3}, "drum": {"val": 1}},
    }
    dataset.refresh_from_db()
    assert dataset.stats == stats


def test_a_clip_id_is_unique_within_its_dataset():
    dataset = make_dataset()
    with pytest.raises(IntegrityError), transaction.atomic():
        Clip.objects.create(dataset=dataset, clip_id="dog_train_0", category="dog", split="train")


def test_a_second_sample_for_the_same_pair_and_system_is_refused():
    dataset = make_dataset()
    run = GenerationRun.objects.create(name="r", dataset=dataset)
    clip = dataset.clips.first()
    pair = Pair.objects.create(
        run=run, task=Pair.Task.REALISM, category="dog", index=0, video_clip=clip, reference_clip=clip
    )
    common = {"run": run, "task": "realism", "category": "dog", "clip": clip}
    Sample.objects.create(**common, pair=pair, system="proposed", audio="a.wav", status=Status.SUCCEEDED)
    with pytest.raises(IntegrityError), transaction.atomic():
        Sample.objects.create(**common, pair=pair, system="proposed")
    assert pair.is_original


def test_a_second_ground_truth_of_the_same_clip_and_task_is_refused():
    dataset = make_dataset()
    run = GenerationRun.objects.create(name="r", dataset=dataset)
    clip = dataset.clips.first()
    common = {"run": run, "task": "timbre", "category": "dog", "clip": clip, "system": "ground_truth"}
    Sample.objects.create(**common)
    with pytest.raises(IntegrityError), transaction.atomic():
        Sample.objects.create(**common)
    Sample.objects.create(
        **{**common, "task": "realism"}
    )  # the same clip in another task is another stimulus


def test_a_sample_cannot_succeed_without_audio():
    dataset = make_dataset()
    run = GenerationRun.objects.create(name="r", dataset=dataset)
    clip = dataset.clips.first()
    pair = Pair.objects.create(
        run=run, task=Pair.Task.TIMBRE, category="dog", index=0, video_clip=clip, reference_clip=clip
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Sample.objects.create(
            run=run,
            task="timbre",
            category="dog",
            clip=clip,
            pair=pair,
            system="proposed",
            status=Status.SUCCEEDED,
        )


def test_a_finished_job_is_not_started_again():
    dataset = make_dataset()
    assert services.job_start(job=dataset, total=4) is True
    services.job_progress(job=dataset, done=2, message="2 of 4")
    services.job_finish(job=dataset)
    dataset.refresh_from_db()
    assert dataset.status == Status.SUCCEEDED and dataset.progress_done == 4
    assert services.job_start(job=dataset, total=4) is False


def test_a_failed_job_keeps_its_error():
    dataset = make_dataset()
    services.job_start(job=dataset)
    services.job_finish(job=dataset, error="Traceback ...\nMediaError: clip.mp4 is not a video")
    dataset.refresh_from_db()
    assert dataset.status == Status.FAILED
    assert dataset.message == "MediaError: clip.mp4 is not a video"


def test_create_researcher_prints_working_credentials(capsys, client):
    call_command("create_researcher", "bob")
    out = capsys.readouterr().out
    password = out.split("password:")[1].strip()
    assert client.login(username="bob", password=password)
    assert client.get(reverse("registry:dashboard")).status_code == 200
    call_command("create_researcher", "bob")  # again: resets, does not duplicate
    new_password = capsys.readouterr().out.split("password:")[1].strip()
    assert new_password != password and client.login(username="bob", password=new_password)


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"ok": True}


def test_a_run_is_launched_from_the_dataset_page_without_generating_in_the_web_process(
    researcher_client, settings, tmp_path, monkeypatch
):
    """Embedded default: the page creates the run and starts a detached `manage.py generate --start-run`
    (the web process never loads torch). The child here gets an empty VAR_DIR, so it finds no tables
    and exits; the command itself is exercised in tests/platform/test_generation.py."""
    import subprocess
    import time

    from registry.models import Checkpoint

    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    for variable in ("DATABASE_URL", "CELERY_BROKER_URL"):  # the child must not reach a real database
        monkeypatch.delenv(variable, raising=False)
    dataset = make_dataset()
    services.dataset_refresh_stats(dataset_id=dataset.id)
    Dataset.objects.filter(pk=dataset.pk).update(status=Status.SUCCEEDED)
    proposed = Checkpoint.objects.create(
        name="vs",
        kind="varietysound",
        role="proposed",
        file="x.pt",
        sha256="a" * 64,
        size_bytes=1,
        dataset=dataset,
    )
    page = researcher_client.get(reverse("registry:dataset", args=[dataset.id])).content.decode()
    assert 'id="launch-run"' in page
    bad = researcher_client.post(
        reverse("registry:run_create", args=[dataset.id]), {"proposed": "x"}, follow=True
    )
    assert "must be numbers" in bad.content.decode() and not GenerationRun.objects.exists()
    response = researcher_client.post(
        reverse("registry:run_create", args=[dataset.id]),
        {"proposed": proposed.pk, "baseline": "", "seed": "3"},
    )
    run = GenerationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert run.seed == 3 and [s["key"] for s in run.spec["systems"]][:2] == ["ground_truth", "proposed"]
    assert run.task_id.startswith("process:")  # not run in this (web) process
    pid = int(run.task_id.split(":")[1])
    log = tmp_path / "logs" / f"generation-{run.uid}.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            finished = subprocess.run(["ps", "-p", str(pid)], capture_output=True).returncode != 0
        except OSError:
            finished = True
        if finished:
            break
        time.sleep(0.5)
    assert log.is_file() and "no such table" in log.read_text()
