"""Any system under evaluation: a run's inputs out as a pack, a system made elsewhere imported back.

The researcher here is played by `examples/onset_foley.py`, a program that is not part of the
platform: it reads only the pack and writes one wav per pair."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.urls import reverse

from registry.models import GenerationRun, Sample, Status, SystemImport
from tests.platform.pipeline import small_trained_dataset

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PROTOCOL = ["--realism", "2", "--timbre-references", "2", "--timbre-videos", "1", "--ablation-pairs", "1"]


@pytest.fixture(scope="module")
def shared_media(tmp_path_factory):
    return tmp_path_factory.mktemp("import-media")


@pytest.fixture
def finished_run(settings, shared_media, tmp_path) -> GenerationRun:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.MEDIA_ROOT = shared_media
    storages = dict(settings.STORAGES)
    storages["default"] = {
        **storages["default"],
        "OPTIONS": {**storages["default"]["OPTIONS"], "location": str(shared_media)},
    }
    settings.STORAGES = storages
    settings.VAR_DIR = tmp_path / "var"
    small_trained_dataset("imp")
    call_command("generate", "--dataset", "imp", "--no-variants", *PROTOCOL)
    run = GenerationRun.objects.get()
    assert run.status == Status.SUCCEEDED, run.error
    return run


def _outside_program(pack: Path, out: Path, rate: int = 22050) -> None:
    subprocess.run(
        [sys.executable, str(REPO / "examples" / "onset_foley.py"), str(pack), str(out), "--rate", str(rate)],
        check=True,
        capture_output=True,
    )


def test_a_researcher_exports_the_pack_runs_their_model_and_finds_it_in_the_tables(finished_run, tmp_path):
    run = finished_run
    archive = tmp_path / "pack.tar.gz"
    call_command("export_inputs", "--run", str(run.pk), "-o", str(archive))
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    (pack,) = (tmp_path / "unpacked").iterdir()  # one top folder
    assert pack.name == f"inputs-run-{run.pk}"
    manifest = json.loads((pack / "manifest.json").read_text())
    # realism 2 + timbre 2x1 + ablation 1; alignment reuses the realism outputs
    assert sorted(p["task"] for p in manifest["pairs"]) == [
        "ablation",
        "realism",
        "realism",
        "timbre",
        "timbre",
    ]
    for pair in manifest["pairs"]:
        for role in ("video", "features", "reference_audio", "reference_mel"):
            assert (pack / pair[role]).is_file()
            assert manifest["files"][pair[role]] == pair[f"{role}_sha256"]
        assert np.load(pack / pair["features"]).shape[1] == 2048
        assert sf.info(str(pack / pair["reference_audio"])).samplerate == 22050
    assert "one audio file per pair" in (pack / "README.md").read_text().lower()
    assert (pack / "manifest.csv").read_text().splitlines()[0].startswith("pair_id,task,category")
    from inference.probe import probe

    assert not probe(pack / manifest["pairs"][0]["video"]).has_audio

    outputs = tmp_path / "outputs"
    _outside_program(pack, outputs, rate=44100)  # at 44.1 kHz: the import resamples and says so
    call_command(
        "import_outputs", "--run", str(run.pk), "--system", "foley", "--label", "Onset foley", str(outputs)
    )

    row = SystemImport.objects.get()
    assert row.status == Status.SUCCEEDED, row.error
    run.refresh_from_db()
    assert [s["key"] for s in run.spec["systems"]][-1] == "foley"
    samples = Sample.objects.filter(run=run, system="foley")
    assert not samples.exclude(status=Status.SUCCEEDED).exists()
    assert (
        samples.filter(task="alignment").count() == 2
        and samples.filter(task="alignment", video="").count() == 0
    )
    for sample in samples.exclude(task="alignment"):
        assert sample.provenance["sample_rate"] == 44100
        assert any("resampled 44100 Hz -> 22050 Hz" in note for note in sample.provenance["processing"])
    # The tables hold the new system, with values equal to a direct computation on the files.
    from inference.audio import load_audio
    from inference.metrics.onsets import detect_onsets, score_against_times
    from inference.metrics.timbre import TimbreEncoder, cosine_similarity

    table = run.summary["metrics"]
    encoder = TimbreEncoder("cpu")
    for pair in manifest["pairs"]:
        sample = samples.get(task=pair["task"], pair__index=pair["index"], pair__category=pair["category"])
        wave = load_audio(outputs / pair["output"])  # resampled to 22050 Hz
        events = sample.clip.meta["events"]
        score = score_against_times(detect_onsets(wave), [e["onset_s"] for e in events])
        assert sample.metrics["onset_acc_true"] == pytest.approx(score.accuracy, abs=0.02)
        if pair["task"] != "ablation":
            reference = Sample.objects.get(run=run, task=pair["task"], system="ground_truth", pair=None,
                                           clip__clip_id=pair["reference_clip"])  # fmt: skip
            ref_wave = load_audio(default_storage.path(reference.audio.name))
            direct = cosine_similarity(*encoder.embed_many([wave, ref_wave]))
            assert sample.metrics["cosine"] == pytest.approx(direct, abs=0.02)
    timbre = [s.metrics["cosine"] for s in samples.filter(task="timbre")]
    assert table["timbre"]["cosine"]["foley"]["Average"]["mean"] == pytest.approx(np.mean(timbre))
    assert "mcd" in samples.get(task="ablation").metrics
    # The built-in systems' numbers were not redone.
    assert table["timbre"]["cosine"]["proposed"]["Average"]["n"] == 2


def test_the_run_page_offers_the_pack_and_shows_the_imported_system(
    finished_run, researcher_client, tmp_path, monkeypatch
):
    from registry.services import systems

    started: list[list[str]] = []

    def run_here(*, args: list[str], log_name: str) -> int:  # the detached process, in this process
        started.append(args)
        call_command(*args, stdout=io.StringIO())
        return os.getpid()

    monkeypatch.setattr(systems, "command_detach", run_here)
    run = finished_run
    response = researcher_client.get(reverse("registry:run_inputs", args=[run.pk]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path / "web", filter="data")
    assert any(n.endswith("/manifest.json") for n in names)
    pack = next((tmp_path / "web").iterdir())
    outputs = tmp_path / "outputs"
    _outside_program(pack, outputs)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(outputs, arcname="outputs")
    buffer.seek(0)
    buffer.name = "outputs.tar.gz"
    page = researcher_client.post(
        reverse("registry:run_import", args=[run.pk]),
        {"system": "foley", "label": "Onset foley", "file": buffer},
    )
    assert page.status_code == 302
    row = SystemImport.objects.get()
    assert started == [["import_outputs", "--execute", str(row.pk)]]
    assert row.status == Status.SUCCEEDED, row.error
    assert not Path(default_storage.path(".quarantine/outputs")).exists() or not any(
        Path(default_storage.path(".quarantine/outputs")).iterdir()
    )
    html = researcher_client.get(reverse("registry:run", args=[run.pk])).content.decode()
    assert "Onset foley" in html and "mel of the waveform" in html


def test_a_set_with_a_refused_file_imports_nothing_unless_partial_is_asked(finished_run, tmp_path):
    run = finished_run
    pack = tmp_path / "pack"
    call_command("export_inputs", "--run", str(run.pk), "-o", str(pack))
    outputs = tmp_path / "outputs"
    _outside_program(pack, outputs)
    victim = sorted(outputs.iterdir())[0]
    sf.write(victim, np.zeros(22050 * 2, dtype=np.float32), 22050)  # silent
    with pytest.raises(CommandError, match="refused"):
        call_command("import_outputs", "--run", str(run.pk), "--system", "foley", str(outputs))
    assert not Sample.objects.filter(system="foley").exists()
    run.refresh_from_db()
    assert "foley" not in [s["key"] for s in run.spec["systems"]]
    refused = SystemImport.objects.get()
    lines = {f["name"]: f for f in refused.report["files"]}
    assert lines[victim.name]["status"] == "refused" and "silent" in lines[victim.name]["problems"][0]
    # The name is free again after a refusal; a partial import takes the rest.
    call_command("import_outputs", "--run", str(run.pk), "--system", "foley", "--partial", str(outputs))
    assert Sample.objects.filter(system="foley").exclude(task="alignment").count() == 4
    with pytest.raises(CommandError, match="already has a system"):
        call_command("import_outputs", "--run", str(run.pk), "--system", "foley", str(outputs))
