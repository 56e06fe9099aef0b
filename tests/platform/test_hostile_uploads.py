"""Hostile input on the checkpoint upload page and the import commands: whatever arrives gets a 4xx or
a clear refusal (on the page, as a CommandError, or as a per-file problem of the import), never a 500,
another exception type, or code execution. Property-based where the input is bytes (hypothesis)."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from inference.audio import save_wav
from inference.data.vas import AUDIO_DIR, FLOW_DIR, MEL_DIR, RGB_DIR
from inference.models import build_model, save_checkpoint
from inference.models.config_io import to_dict
from inference.training.config import load_train_config
from inference.video import write_video
from registry import tasks
from registry.models import Checkpoint, CheckpointUpload, Clip, Dataset, Status
from registry.services import uploads
from tests.fakes import write_vas_clip

pytestmark = pytest.mark.django_db

UPLOAD = "registry:checkpoint_upload"
FUZZ = fuzz_settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Bytes that look like the start of something a loader might trust: a zip (torch's format), a pickle.
LOOKALIKE = st.one_of(
    st.binary(max_size=2048),
    st.binary(max_size=1024).map(lambda b: b"PK\x03\x04" + b),
    st.binary(max_size=1024).map(lambda b: b"\x80\x02" + b),
    st.binary(max_size=1024).map(lambda b: b"\x80\x04\x95" + b),
)


class RunsACommand:
    """What an attacker pickles: unpickling it calls ``os.system``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


class ClaimsAHugeArray:
    """A pickle of allowed names only (numpy.ndarray, numpy.dtype) that asks for an 8 GB array: numpy
    allocates it lazily, and converting it would touch every page."""

    def __reduce__(self) -> tuple:
        return (np.ndarray, ((2_000_000, 1024), np.dtype(np.float32)))


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(autouse=True)
def _in_process(settings, monkeypatch, tmp_path) -> list[list[str]]:
    """Tasks run here. Without a broker the page starts `manage.py register_upload` in a background
    process, which could not see the test database: its command runs here instead, and the calls are
    kept so a test can check what the page started."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.VAR_DIR = tmp_path / "var"
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-tmp")
    (tmp_path / "upload-tmp").mkdir()
    started: list[list[str]] = []

    def run_here(*, args: list[str], log_name: str) -> int:
        started.append(args)
        try:
            call_command(*args, stdout=io.StringIO())
        except CommandError:
            pass  # the process would exit non-zero; the reason is on the upload row
        return os.getpid()

    monkeypatch.setattr(uploads, "command_detach", run_here)
    return started


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> bytes:
    """The bytes of a valid tiny VarietySound checkpoint (about 2 MB)."""
    torch.manual_seed(0)
    model = build_model("varietysound", load_train_config("varietysound_tiny").model)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    return save_checkpoint(path, kind="varietysound", model=model, step=5).read_bytes()


def edited(checkpoint: bytes, **changes: object) -> bytes:
    """The checkpoint with some of its keys replaced, saved again as a valid torch file."""
    payload = torch.load(io.BytesIO(checkpoint), weights_only=True)
    payload.update(changes)
    out = io.BytesIO()
    torch.save(payload, out)
    return out.getvalue()


def deflated(checkpoint: bytes) -> bytes:
    """The same records, compressed: torch.load would read them, inflating each."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(checkpoint)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dest,
    ):
        for info in source.infolist():
            dest.writestr(info.filename, source.read(info.filename))
    return out.getvalue()


def post(client: Client, content: bytes, *, filename: str = "model.pt", **fields: str):
    form = {"name": "uploaded", "role": "proposed", "notes": "", **fields}
    return client.post(reverse(UPLOAD), {"file": SimpleUploadedFile(filename, content), **form})


def refusal(client: Client) -> str:
    """The single upload's outcome as the researcher sees it on the page."""
    upload = CheckpointUpload.objects.get()
    page = client.get(reverse(UPLOAD)).content.decode()
    assert upload.message and escape(upload.message) in page
    return upload.message


def quarantined(settings) -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / uploads.QUARANTINE
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def assert_refused(client: Client, response, settings) -> str:
    assert response.status_code == 302, response.status_code
    upload = CheckpointUpload.objects.get()
    assert upload.status == Status.FAILED and upload.message.startswith("refused: ")
    assert not Checkpoint.objects.exists()
    assert quarantined(settings) == [], "the quarantined file is deleted once refused"
    return refusal(client)


# ------------------------------------------------------------------------------- the upload page


def test_anonymous_visitors_are_sent_to_log_in_and_nothing_is_stored(client, tiny_checkpoint):
    assert client.get(reverse(UPLOAD)).status_code == 302
    response = post(client, tiny_checkpoint)
    assert response.status_code == 302 and reverse("login") in response.url
    assert not CheckpointUpload.objects.exists() and not Checkpoint.objects.exists()


def test_a_user_who_is_not_a_researcher_cannot_upload(client, django_user_model, tiny_checkpoint):
    client.force_login(django_user_model.objects.create_user("rater", password="x-long-password-2"))
    response = post(client, tiny_checkpoint)
    assert response.status_code == 302 and reverse("login") in response.url
    assert not CheckpointUpload.objects.exists()


def test_the_upload_form_is_csrf_protected(researcher, tiny_checkpoint):
    client = Client(enforce_csrf_checks=True)
    client.force_login(researcher)
    assert post(client, tiny_checkpoint).status_code == 403
    assert not CheckpointUpload.objects.exists()
    page = client.get(reverse(UPLOAD)).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page and 'enctype="multipart/form-data"' in page


def test_the_dashboard_links_to_the_upload_page(researcher_client):
    html = researcher_client.get(reverse("registry:dashboard")).content.decode()
    assert f'href="{reverse(UPLOAD)}"' in html


def test_a_valid_checkpoint_is_validated_by_register_upload_and_registered(
    researcher_client, tiny_checkpoint, settings, _in_process
):
    response = post(researcher_client, tiny_checkpoint, name="trained-elsewhere", notes="from the cluster")
    assert response.status_code == 302
    upload = CheckpointUpload.objects.get()
    assert _in_process == [["register_upload", str(upload.pk)]], "validated outside the web process"
    assert upload.status == Status.SUCCEEDED, upload.error
    checkpoint = Checkpoint.objects.get()
    assert upload.checkpoint == checkpoint and upload.original_name == "model.pt"
    assert (checkpoint.name, checkpoint.kind, checkpoint.role, checkpoint.step) == (
        "trained-elsewhere",
        "varietysound",
        "proposed",
        5,
    )
    assert (Path(settings.MEDIA_ROOT) / checkpoint.file.name).read_bytes() == tiny_checkpoint
    assert quarantined(settings) == [] and upload.file.name == ""
    page = researcher_client.get(reverse(UPLOAD)).content.decode()
    assert f"registered as checkpoint #{checkpoint.pk}" in page


def test_a_checkpoint_whose_pickle_would_run_code_is_refused_and_the_code_never_runs(
    researcher_client, settings, tmp_path
):
    marker = tmp_path / "pwned"
    evil = io.BytesIO()
    torch.save(
        {"format": "varietysound-eval/1", "kind": "varietysound", "state": RunsACommand(f"touch {marker}")},
        evil,
    )
    response = post(researcher_client, evil.getvalue(), filename="evil.pt")
    reason = assert_refused(researcher_client, response, settings)
    assert not marker.exists(), "loading must never run code from the file"
    assert "pickle payload can run code" in reason and "system" in reason
    raw = post(researcher_client, pickle.dumps(RunsACommand(f"touch {marker}")), filename="raw.pkl")
    assert raw.status_code == 302 and not marker.exists()
    assert CheckpointUpload.objects.filter(status=Status.FAILED).count() == 2


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("paper_config", "do not fit a varietysound"),  # our format, but the weights of another size
        ("cascade_kind", "cascade config does not parse"),  # a VarietySound's weights labelled cascade
        ("unknown_kind", "unknown model kind 'wavenet'"),
        ("state_of_strings", "'state' must map parameter names to tensors"),
    ],
)
def test_a_checkpoint_of_the_wrong_architecture_is_refused_with_the_reason(
    researcher_client, tiny_checkpoint, settings, change, reason
):
    changes = {
        "paper_config": {"config": to_dict(build_model("varietysound").config)},
        "cascade_kind": {"kind": "cascade"},
        "unknown_kind": {"kind": "wavenet"},
        "state_of_strings": {"state": {"weight": "not a tensor"}},
    }[change]
    response = post(researcher_client, edited(tiny_checkpoint, **changes))
    assert reason in assert_refused(researcher_client, response, settings)


def test_a_truncated_checkpoint_is_refused(researcher_client, tiny_checkpoint, settings):
    response = post(researcher_client, tiny_checkpoint[: len(tiny_checkpoint) // 2])
    assert "not a PyTorch checkpoint" in assert_refused(researcher_client, response, settings)


def test_a_config_claiming_a_huge_network_is_refused_before_it_is_built(
    researcher_client, tiny_checkpoint, settings
):
    def claiming(**decoder: int) -> bytes:
        config = torch.load(io.BytesIO(tiny_checkpoint), weights_only=True)["config"]
        config["decoder"].update(decoder)
        return edited(tiny_checkpoint, config=config)

    wide = claiming(hidden=1 << 17, conv_channels=1 << 17)  # ~hundreds of GB if it were allocated
    reason = assert_refused(researcher_client, post(researcher_client, wide), settings)
    assert "do not fit" in reason and "of another shape" in reason
    CheckpointUpload.objects.all().delete()
    deep = claiming(fft_blocks=10**6)  # minutes of building, even with no memory behind it
    reason = assert_refused(researcher_client, post(researcher_client, deep), settings)
    assert "does not describe a network its weights fit" in reason


def test_a_zip_whose_records_would_inflate_is_refused(researcher_client, tiny_checkpoint, settings):
    response = post(researcher_client, deflated(tiny_checkpoint))
    assert "is compressed" in assert_refused(researcher_client, response, settings)


@FUZZ
@given(content=LOOKALIKE)
def test_any_bytes_are_refused_with_a_reason_never_a_500(researcher_client, settings, content):
    CheckpointUpload.objects.all().delete()
    response = post(researcher_client, content)
    if not content:
        assert response.status_code == 400, "an empty file is a form error"
        assert not CheckpointUpload.objects.exists()
        return
    assert_refused(researcher_client, response, settings)


@FUZZ
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            key: st.one_of(
                st.text(max_size=300),
                st.sampled_from(["proposed", "", "0", "-1", "99999999999999999999", "\x00", "<script>"]),
            )
            for key in ("name", "role", "dataset", "notes")
        },
    )
)
def test_any_form_fields_get_a_form_error_or_a_redirect_never_a_500(researcher_client, settings, fields):
    before = CheckpointUpload.objects.count()
    response = researcher_client.post(
        reverse(UPLOAD), {"file": SimpleUploadedFile("m.pt", b"\x00junk"), **fields}
    )
    assert response.status_code in (302, 400)
    assert CheckpointUpload.objects.count() == before + (response.status_code == 302)


def test_a_malformed_multipart_body_is_a_400(researcher_client):
    response = researcher_client.generic(
        "POST",
        reverse(UPLOAD),
        b'--boundary\r\nContent-Disposition: form-data; name="file"; filename="a.pt"\r\n\r\nxx',
        content_type="multipart/form-data",  # no boundary parameter at all
    )
    assert response.status_code == 400
    assert not CheckpointUpload.objects.exists()


def test_a_file_over_the_limit_is_refused_before_its_body_is_read(researcher_client, settings, tmp_path):
    settings.CHECKPOINT_UPLOAD_MAX_MB = 1
    response = post(researcher_client, b"\x00" * (1024 * 1024 + 200 * 1024))
    assert response.status_code == 413
    assert "larger than the upload limit of 1 MB" in response.content.decode()
    assert not CheckpointUpload.objects.exists() and quarantined(settings) == []
    assert list((tmp_path / "upload-tmp").iterdir()) == []


def test_a_file_just_over_the_limit_is_dropped_while_it_streams(researcher_client, settings, tmp_path):
    settings.CHECKPOINT_UPLOAD_MAX_MB = 1
    response = post(researcher_client, b"\x01" * (1024 * 1024 + 10), name="kept")
    assert response.status_code == 413
    html = response.content.decode()
    assert "larger than the upload limit of 1 MB" in html and 'value="kept"' in html
    assert not CheckpointUpload.objects.exists() and quarantined(settings) == []
    assert list((tmp_path / "upload-tmp").iterdir()) == [], "the partial file is deleted"
    ok = post(researcher_client, b"\x01" * (1024 * 1024))  # at the limit: accepted, then refused as junk
    assert ok.status_code == 302 and CheckpointUpload.objects.get().status == Status.FAILED


def test_with_a_broker_the_upload_is_queued_on_the_cpu_queue(
    researcher_client, tiny_checkpoint, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    queued: list[int] = []

    class Sent:
        id = "task-1"

    monkeypatch.setattr(tasks.checkpoint_upload_register, "delay", lambda pk: queued.append(pk) or Sent())
    with django_capture_on_commit_callbacks(execute=True):
        response = post(researcher_client, tiny_checkpoint)
    upload = CheckpointUpload.objects.get()
    assert response.status_code == 302 and queued == [upload.pk]
    assert upload.status == Status.QUEUED and upload.task_id == "task-1"
    assert tasks.checkpoint_upload_register.name.split(".")[0] == "cpu"
    settings.CELERY_TASK_ALWAYS_EAGER = True  # what the cpu worker then runs
    result = tasks.checkpoint_upload_register.apply(args=[upload.pk]).get()
    assert (
        result["status"] == Status.SUCCEEDED and Checkpoint.objects.filter(pk=result["checkpoint"]).exists()
    )
    again = tasks.checkpoint_upload_register.apply(args=[upload.pk]).get()
    assert again["checkpoint"] == result["checkpoint"] and Checkpoint.objects.count() == 1, "idempotent"


# ------------------------------------------------------------------------------- register_checkpoint


def hostile_checkpoints(tiny: bytes, marker: Path) -> dict[str, bytes]:
    evil = io.BytesIO()
    torch.save({"format": "varietysound-eval/1", "state": RunsACommand(f"touch {marker}")}, evil)
    payload = torch.load(io.BytesIO(tiny), weights_only=True)
    payload["config"]["decoder"]["hidden"] = 1 << 17
    return {
        "pickle-payload.pt": evil.getvalue(),
        "raw-pickle-payload.pkl": pickle.dumps(RunsACommand(f"touch {marker}")),
        "truncated.pt": tiny[: len(tiny) // 3],
        "empty.pt": b"",
        "wrong-architecture.pt": edited(tiny, config=to_dict(build_model("varietysound").config)),
        "huge-config.pt": edited(tiny, config=payload["config"]),
        "deflated.pt": deflated(tiny),
    }


def test_register_checkpoint_refuses_hostile_files_with_a_command_error(tmp_path, tiny_checkpoint):
    marker = tmp_path / "pwned"
    for name, content in hostile_checkpoints(tiny_checkpoint, marker).items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(CommandError, match=name):
            call_command("register_checkpoint", str(path), "--role", "proposed")
    sparse = tmp_path / "sparse-huge.pt"
    with sparse.open("wb") as handle:
        handle.truncate(3 * 1024**3)  # claims 3 GB, occupies nothing
    with pytest.raises(CommandError, match="sparse-huge.pt"):
        call_command("register_checkpoint", str(sparse), "--role", "proposed")
    assert not marker.exists() and not Checkpoint.objects.exists()


@FUZZ
@given(content=LOOKALIKE)
def test_register_checkpoint_refuses_any_bytes_with_a_command_error(tmp_path, content):
    path = tmp_path / "fuzz.pt"
    path.write_bytes(content)
    with pytest.raises(CommandError, match="fuzz.pt"):
        call_command("register_checkpoint", str(path), "--role", "baseline")
    assert not Checkpoint.objects.exists()


# ------------------------------------------------------------------------------- import_videos


def import_report(command: str, path: Path, name: str) -> tuple[Dataset, str]:
    """Run an import command; return the dataset and what it printed about skipped files."""
    err = io.StringIO()
    call_command(command, str(path), "--name", name, stdout=io.StringIO(), stderr=err)
    return Dataset.objects.get(name=name), err.getvalue()


def sparse_file(path: Path, size: int, head: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(head)
        handle.truncate(size)
    return path


def test_import_videos_skips_corrupt_truncated_empty_and_huge_videos_with_reasons(tmp_path):
    raw = tmp_path / "raw" / "dog"
    raw.mkdir(parents=True)
    click = np.zeros(22050, np.float32)
    click[5000:5400] = 0.5
    wav = save_wav(tmp_path / "click.wav", click)
    good = write_video(np.full((20, 64, 80, 3), 90, np.uint8), 20.0, raw / "good.mp4", wav=wav)
    (raw / "random.mp4").write_bytes(np.random.default_rng(1).bytes(4000))
    (raw / "truncated.mp4").write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    (raw / "empty.mp4").write_bytes(b"")
    sparse_file(raw / "huge.mp4", 3 * 1024**3, head=good.read_bytes()[:64])
    dataset, report = import_report("import_videos", tmp_path / "raw", "hostile-videos")
    assert dataset.status == Status.SUCCEEDED, dataset.error
    reasons = {Path(p["source"]).name: p["reason"] for p in dataset.problems}
    assert set(reasons) == {"random.mp4", "truncated.mp4", "empty.mp4", "huge.mp4"}
    assert "empty" in reasons["empty.mp4"] and "over the limit" in reasons["huge.mp4"]
    assert list(Clip.objects.filter(dataset=dataset).values_list("clip_id", flat=True)) == ["dog_good"]
    for name in reasons:
        assert f"skipped {raw / name}" in report


@fuzz_settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(min_size=1, max_size=4096))
def test_import_videos_skips_any_bytes_named_mp4(tmp_path, content):
    raw = tmp_path / "fuzz-videos" / "drum"
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "fuzz.mp4").write_bytes(content)
    dataset, _ = import_report("import_videos", tmp_path / "fuzz-videos", "fuzz-videos")
    assert dataset.status == Status.SUCCEEDED
    assert [Path(p["source"]).name for p in dataset.problems] == ["fuzz.mp4"]


def test_import_videos_of_a_missing_folder_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="not a folder"):
        call_command("import_videos", str(tmp_path / "nowhere"))


# ------------------------------------------------------------------------------- import_vas


def vas_tree(root: Path, ids: tuple[str, ...] = ("video_00001", "video_00002")) -> Path:
    for seed, vas_id in enumerate(ids):
        write_vas_clip(root / "dog", vas_id, seed)
    return root


def test_import_vas_refuses_a_features_pickle_that_would_run_code(tmp_path):
    marker = tmp_path / "pwned"
    root = vas_tree(tmp_path / "vas")
    (root / "dog" / RGB_DIR / "video_00002.pkl").write_bytes(pickle.dumps(RunsACommand(f"touch {marker}")))
    objects = np.array([RunsACommand(f"touch {marker}")], dtype=object)
    (root / "dog" / FLOW_DIR / "video_00001.pkl").write_bytes(pickle.dumps(objects))
    dataset, report = import_report("import_vas", root, "evil-vas")
    assert not marker.exists(), "a feature pickle must never run code"
    reasons = {Path(p["source"]).name: p["reason"] for p in dataset.problems}
    assert set(reasons) == {"video_00001.pkl", "video_00002.pkl"}
    assert all("refused" in r and "system" in r for r in reasons.values())
    assert dataset.status == Status.SUCCEEDED and not Clip.objects.filter(dataset=dataset).exists()
    assert "skipped" in report and "refused" in report


def test_import_vas_refuses_features_pickles_that_are_not_plain_arrays(tmp_path):
    root = vas_tree(tmp_path / "vas", ids=("video_00001", "video_00002", "video_00003", "video_00004"))
    rgb = root / "dog" / RGB_DIR
    (rgb / "video_00001.pkl").write_bytes(pickle.dumps({"features": [1.0, 2.0]}))
    (rgb / "video_00002.pkl").write_bytes(pickle.dumps(np.array([["a"] * 1024] * 3)))
    (rgb / "video_00003.pkl").write_bytes(pickle.dumps(ClaimsAHugeArray()))
    (rgb / "video_00004.pkl").write_bytes(pickle.dumps(np.zeros((215, 1024), np.float32)))  # fine
    dataset, _ = import_report("import_vas", root, "odd-pickles")
    reasons = {Path(p["source"]).name: p["reason"] for p in dataset.problems}
    assert set(reasons) == {"video_00001.pkl", "video_00002.pkl", "video_00003.pkl"}
    assert "numpy array" in reasons["video_00001.pkl"] and "numeric" in reasons["video_00002.pkl"]
    assert "claims a (2000000, 1024) array" in reasons["video_00003.pkl"]
    assert list(Clip.objects.filter(dataset=dataset).values_list("clip_id", flat=True)) == ["video_00004"]


@FUZZ
@given(content=LOOKALIKE)
def test_import_vas_skips_any_bytes_as_a_features_pickle(tmp_path, content):
    root = vas_tree(tmp_path / "fuzz-vas", ids=("video_00001",))
    (root / "dog" / FLOW_DIR / "video_00001.pkl").write_bytes(content)
    dataset, _ = import_report("import_vas", root, "fuzz-vas")
    assert dataset.status == Status.SUCCEEDED, dataset.error
    assert [Path(p["source"]).name for p in dataset.problems] == ["video_00001.pkl"]


def test_import_vas_skips_nan_and_oversized_mels_and_implausible_audio(tmp_path):
    ids = ("video_00001", "video_00002", "video_00003", "video_00004", "video_00005")
    root = vas_tree(tmp_path / "vas", ids=ids)
    mels, audio = root / "dog" / MEL_DIR, root / "dog" / AUDIO_DIR
    nan = np.random.default_rng(0).random((80, 860), dtype=np.float32)
    nan[3, 5] = np.nan
    np.save(mels / "video_00001_mel.npy", nan)
    # Sparse files with headers claiming 8 GB (as large as the file) and 320 GB (far larger than it).
    for vas_id, frames in (("video_00002", 25_000_000), ("video_00005", 10**9)):
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f4", "fortran_order": False, "shape": (80, frames)}
        )
        sparse_file(
            mels / f"{vas_id}_mel.npy", len(header.getvalue()) + 80 * 25_000_000 * 4, head=header.getvalue()
        )
    audio.mkdir()
    noise = 0.1 * np.random.default_rng(1).standard_normal(2000).astype(np.float32)
    sf.write(audio / "video_00003.wav", noise, 2, subtype="PCM_16")  # 2 Hz: resampling would explode
    sf.write(audio / "video_00004.wav", np.resize(noise, 441000), 44100, subtype="PCM_16")  # resampled
    dataset, _ = import_report("import_vas", root, "bad-mels")
    reasons = {Path(p["source"]).name: p["reason"] for p in dataset.problems}
    assert set(reasons) == {"video_00001_mel.npy", "video_00005_mel.npy", "video_00003.wav"}
    assert "NaN" in reasons["video_00001_mel.npy"] and "not a readable .npy" in reasons["video_00005_mel.npy"]
    assert "sample rate of 2 Hz" in reasons["video_00003.wav"]
    clips = {c.clip_id: c for c in Clip.objects.filter(dataset=dataset)}
    assert sorted(clips) == ["video_00002", "video_00003", "video_00004"]  # 00002: its first 860 frames
    assert clips["video_00004"].meta["mel_hifigan_source"] == "audio"
    assert clips["video_00003"].meta["mel_hifigan_source"] == "approx_from_vas"


def test_import_vas_reports_clips_with_missing_parts(tmp_path):
    root = vas_tree(tmp_path / "vas", ids=("video_00001", "video_00002", "video_00003"))
    (root / "dog" / FLOW_DIR / "video_00001.pkl").unlink()
    (root / "dog" / MEL_DIR / "video_00002_mel.npy").unlink()
    dataset, _ = import_report("import_vas", root, "gaps")
    reasons = {Path(p["source"]).name: p["reason"] for p in dataset.problems}
    assert reasons == {"video_00001.pkl": "no such file", "video_00002_mel.npy": "no such file"}
    assert list(Clip.objects.filter(dataset=dataset).values_list("clip_id", flat=True)) == ["video_00003"]


def test_import_vas_of_a_tree_without_categories_is_a_command_error(tmp_path):
    (tmp_path / "vas" / "dog" / "something-else").mkdir(parents=True)
    with pytest.raises(CommandError, match="no VAS category folders"):
        call_command("import_vas", str(tmp_path / "vas"), stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="not a folder"):
        call_command("import_vas", str(tmp_path / "nowhere"))


def test_import_vas_with_a_filelist_that_is_not_text_is_a_command_error_naming_it(tmp_path):
    root = vas_tree(tmp_path / "vas")
    (root / "vas_train.txt").write_bytes(b"\xff\xfe\x00binary\x80junk")
    with pytest.raises(CommandError, match="vas_train.txt"):
        call_command("import_vas", str(root), stdout=io.StringIO(), stderr=io.StringIO())
    dataset = Dataset.objects.get()
    assert dataset.status == Status.FAILED and "UTF-8" in dataset.message


def test_import_vas_skips_clips_whose_names_cannot_be_stored(tmp_path):
    root = vas_tree(tmp_path / "vas", ids=("video_00001",))
    write_vas_clip(root / ("c" * 40), "video_00002", 1)  # a category name longer than the column
    write_vas_clip(root / "dog", "v" * 230, 2)  # a clip id longer than the column
    bad = os.fsdecode(b"video_\xff\xfe")  # a file name that is not UTF-8
    write_vas_clip(root / "dog", bad, 3)
    broken = os.fsdecode(b"video_\xfa")  # not UTF-8 either, and its pickle is broken: a problem to store
    write_vas_clip(root / "dog", broken, 4)
    (root / "dog" / RGB_DIR / f"{broken}.pkl").write_bytes(b"\x80\x04junk")
    dataset, _ = import_report("import_vas", root, "odd-names")
    assert dataset.status == Status.SUCCEEDED, dataset.error
    reasons = [p["reason"] for p in dataset.problems]
    assert len(reasons) == 4
    assert sum("longer than" in r for r in reasons) == 2 and sum("not valid UTF-8" in r for r in reasons) == 1
    assert any(p["source"].endswith("video_\\xfa.pkl") for p in dataset.problems), dataset.problems
    assert list(Clip.objects.filter(dataset=dataset).values_list("clip_id", flat=True)) == ["video_00001"]
