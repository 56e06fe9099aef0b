"""The evaluation protocol through the registry: selection, generation, mux, metrics, the run page."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse

from inference.generate import ModelCache
from inference.selection import Protocol
from inference.video import probe
from registry import services
from registry.models import Checkpoint, Dataset, GenerationRun, Pair, Sample, Status
from tests.platform.pipeline import small_trained_dataset

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

PROTOCOL = ["--realism", "2", "--timbre-references", "2", "--timbre-videos", "1", "--ablation-pairs", "1"]


@pytest.fixture(scope="module")
def shared_media(tmp_path_factory):
    return tmp_path_factory.mktemp("generation-media")


@pytest.fixture
def trained(settings, shared_media, tmp_path) -> Dataset:
    """One category of 10 short clips (2 of them test clips) and 1-step checkpoints of both systems.
    Files persist for the module (re-importing finds them), rows are per test."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.MEDIA_ROOT = shared_media
    storages = dict(settings.STORAGES)
    storages["default"] = {
        **storages["default"],
        "OPTIONS": {**storages["default"]["OPTIONS"], "location": str(shared_media)},
    }
    settings.STORAGES = storages
    settings.VAR_DIR = tmp_path / "var"
    return small_trained_dataset("gen")


def test_the_protocol_generates_every_set_with_ground_truth_and_metrics(trained, researcher_client, settings):
    call_command("generate", "--dataset", "gen", "--no-variants", *PROTOCOL)
    run = GenerationRun.objects.get()
    assert run.status == Status.SUCCEEDED, run.error
    samples = Sample.objects.filter(run=run)
    assert not samples.exclude(status=Status.SUCCEEDED).exists()
    per_category = {
        # realism: 2 pairs; alignment reuses them; timbre 2 refs x 1 video; ablation 1 original pair
        ("realism", "proposed"): 2,
        ("realism", "baseline"): 2,
        ("realism", "ground_truth"): 2,
        ("alignment", "proposed"): 2,
        ("alignment", "baseline"): 2,
        ("alignment", "ground_truth"): 2,
        ("timbre", "proposed"): 2,
        ("timbre", "baseline"): 2,
        ("timbre", "ground_truth"): 2,
        ("ablation", "proposed"): 1,
        ("ablation", "ground_truth"): 1,
    }
    for category in ("dog",):
        for (task, system), n in per_category.items():
            assert samples.filter(category=category, task=task, system=system).count() == n, (
                category,
                task,
                system,
            )
    assert (
        Pair.objects.filter(run=run, task="realism").exclude(video_clip=models_f("reference_clip")).count()
        == 2
    ), "realism pairs are swapped: no clip keeps its own audio"
    aligned = samples.filter(task="alignment", system="proposed").first()
    assert aligned.audio == aligned.source.audio, "alignment reuses the realism audio"
    info = probe(settings.MEDIA_ROOT / aligned.video.name)
    assert info.has_audio and info.width == 340
    for sample in samples.filter(task__in=["realism", "timbre", "ablation"]).exclude(system="ground_truth"):
        assert -1.0 <= sample.metrics["cosine"] <= 1.0
    ablation = samples.get(task="ablation", system="proposed", category="dog")
    assert ablation.metrics["mcd"] > 0 and ablation.metrics["mcd_dtw"] <= ablation.metrics["mcd"] + 1e-6
    for sample in samples.exclude(task="alignment"):  # alignment samples carry their source's audio
        assert "HiFi-GAN V1 universal" in sample.provenance["vocoder"], sample.provenance
    table = run.summary["metrics"]["timbre"]["cosine"]
    assert set(table) == {"proposed", "baseline"}, table
    assert table["proposed"]["Average"]["n"] == 2, table["proposed"]

    page = researcher_client.get(
        reverse("registry:run", args=[run.pk]), {"task": "alignment", "category": "dog"}
    )
    html = page.content.decode()
    assert "Table 2" in html and "<video" in html and aligned.video.url in html
    rows = list(
        csv.DictReader(
            io.StringIO(researcher_client.get(reverse("registry:run_csv", args=[run.pk])).content.decode())
        )
    )
    assert len(rows) == samples.count()
    assert researcher_client.get(reverse("registry:run_json", args=[run.pk])).json()["summary"]["metrics"]


def test_a_second_run_of_the_dataset_vocodes_no_ground_truth_again(trained):
    """Ground truth is vocoded once per clip: a later run copies it (same bytes) from the cache."""
    call_command("generate", "--dataset", "gen", "--no-variants", *PROTOCOL)
    call_command("generate", "--dataset", "gen", "--no-variants", *PROTOCOL)
    first, second = GenerationRun.objects.order_by("pk")
    assert first.status == second.status == Status.SUCCEEDED, (first.error, second.error)
    later = Sample.objects.filter(run=second, system="ground_truth").exclude(task="alignment")
    assert later.exists() and all(s.provenance["reused"] for s in later), [s.provenance for s in later]
    for sample in later:
        earlier = Sample.objects.filter(run=first, system="ground_truth", clip=sample.clip).first()
        with earlier.audio.open("rb") as a, sample.audio.open("rb") as b:
            assert a.read() == b.read()


def models_f(name):
    from django.db.models import F

    return F(name)


def test_the_same_seed_selects_the_same_pairs(trained):
    call_command("generate", "--dataset", "gen", "--no-variants", "--baseline", "none", *PROTOCOL)
    call_command("generate", "--dataset", "gen", "--no-variants", "--baseline", "none", *PROTOCOL)
    first, second = GenerationRun.objects.order_by("pk")
    key = ("task", "category", "index", "video_clip__clip_id", "reference_clip__clip_id")
    assert list(first.pairs.values_list(*key)) == list(second.pairs.values_list(*key))


def test_a_batch_delivered_twice_leaves_one_result_and_loads_the_model_once(trained, settings):
    proposed = Checkpoint.objects.get(role="proposed")
    run = services.generation_run_create(
        dataset=trained,
        systems=[services.generation.SystemSpec("proposed", "Ours", proposed.pk, tasks=("ablation",))],
        protocol=Protocol(realism=0, timbre_references=0, timbre_videos=0, ablation=1),
    )
    services.generation_run_plan(run=run)
    ids = list(Sample.objects.filter(run=run).values_list("pk", flat=True))
    cache = ModelCache("cpu")
    first = services.generation_batch_run(run_id=run.pk, system_key="proposed", sample_ids=ids, cache=cache)
    audio = {s.pk: (settings.MEDIA_ROOT / s.audio.name).read_bytes() for s in Sample.objects.filter(run=run)}
    Sample.objects.filter(run=run).update(status=Status.PENDING)  # as if the message came again
    second = services.generation_batch_run(run_id=run.pk, system_key="proposed", sample_ids=ids, cache=cache)
    assert first["generated"] == second["generated"] == len(ids)
    assert Sample.objects.filter(run=run).count() == len(ids)
    assert {
        s.pk: (settings.MEDIA_ROOT / s.audio.name).read_bytes() for s in Sample.objects.filter(run=run)
    } == audio
    assert cache.loads == 1, "the model is loaded once per worker process"


def test_a_broken_input_fails_its_samples_with_the_reason_and_the_run_still_finishes(
    trained, settings, researcher_client
):
    call_command(
        "generate",
        "--dataset",
        "gen",
        "--no-variants",
        "--baseline",
        "none",
        *PROTOCOL,
        "--categories",
        "dog",
    )
    first = GenerationRun.objects.get()
    victim = first.pairs.get(task="ablation").video_clip
    features = settings.MEDIA_ROOT / victim.features.name
    original = features.read_bytes()
    try:
        np.save(features, np.full((10, 2048), np.nan, dtype=np.float32))
        call_command(
            "generate",
            "--dataset",
            "gen",
            "--no-variants",
            "--baseline",
            "none",
            *PROTOCOL,
            "--categories",
            "dog",
        )
    finally:
        features.write_bytes(original)
    run = GenerationRun.objects.latest("pk")
    assert run.status == Status.SUCCEEDED and "failed" in run.message
    failed = Sample.objects.filter(run=run, status=Status.FAILED, clip=victim).exclude(system="ground_truth")
    assert failed.exists() and all("NaN" in s.error for s in failed)
    assert Sample.objects.filter(run=run, status=Status.SUCCEEDED).exists(), (
        "the other samples were generated"
    )
    assert "Failed samples" in researcher_client.get(reverse("registry:run", args=[run.pk])).content.decode()


def test_a_run_created_on_the_page_is_started_by_generate_start_run(trained):
    proposed = Checkpoint.objects.get(kind="varietysound")
    run = services.generation_run_create(
        dataset=trained,
        systems=services.protocol_systems(proposed=proposed, baseline=None, variants=False),
        protocol=Protocol(realism=2, timbre_references=1, timbre_videos=1, ablation=1),
    )
    call_command("generate", "--start-run", str(run.pk))
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED, run.error
    assert not Sample.objects.filter(run=run).exclude(status=Status.SUCCEEDED).exists()
