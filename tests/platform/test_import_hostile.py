"""Hostile imports through the run page and the worker: every bad archive or file gets a clear
reason or a 4xx, never a 500, never a partial import, never a file outside the run's folder."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from registry.models import Clip, GenerationRun, Sample, Status, SystemImport
from registry.services import systems
from tests.studies.factories import finished_run

pytestmark = pytest.mark.django_db
SR = 22050
SECONDS = 2.2


def tone(seconds: float, freq: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)


@pytest.fixture
def run(settings, tmp_path, monkeypatch) -> GenerationRun:
    """A finished run of 1-s clips (realism, alignment and timbre pairs), and the page's background
    process replaced by running its command here, and the validation task run in-process."""
    settings.CELERY_TASK_ALWAYS_EAGER = True  # what the cpu worker runs, here (also in the services pass)
    settings.VAR_DIR = tmp_path / "var"
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)

    def run_here(*, args: list[str], log_name: str) -> int:
        try:
            call_command(*args, stdout=io.StringIO())
        except Exception as exc:  # noqa: BLE001 - the process would exit non-zero; the row says why
            assert "import #" in str(exc), exc
        return os.getpid()

    monkeypatch.setattr(systems, "command_detach", run_here)
    made = finished_run(categories=("dog",), clips=2, name="hostile-imports")
    for clip in Clip.objects.filter(dataset=made.dataset):  # clips long enough for every metric
        sf.write(default_storage.path(clip.audio.name), tone(SECONDS, 200 + clip.pk), SR)
    Clip.objects.filter(dataset=made.dataset).update(duration_s=SECONDS)
    return made


def pair_ids(run: GenerationRun) -> list[str]:
    return sorted(systems.run_pairs_by_id(run))


def wav(seconds: float = SECONDS) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, tone(seconds, 500), SR, format="WAV")
    return buffer.getvalue()


def targz(members: dict[str, bytes], *extra: tarfile.TarInfo) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        for info in extra:
            tar.addfile(info)
    return buffer.getvalue()


def upload(client: Client, run: GenerationRun, body: bytes, name: str = "outputs.tar.gz", **fields):
    file = io.BytesIO(body)
    file.name = name
    return client.post(
        reverse("registry:run_import", args=[run.pk]), {"system": "mine", "file": file, **fields}
    )


def untouched(run: GenerationRun) -> None:
    """No sample, no spec entry, no file of the refused system; the quarantine emptied."""
    run.refresh_from_db()
    assert "mine" not in [s["key"] for s in run.spec["systems"]]
    assert not Sample.objects.filter(run=run, system="mine").exists()
    media = Path(settings.MEDIA_ROOT)
    assert not any(media.glob(f"runs/{run.uid}/*/*/mine"))
    quarantine = media / ".quarantine" / "outputs"
    assert not quarantine.exists() or not any(quarantine.iterdir())
    # Only the places a hostile member could reach: inside media (quarantine included), the folders a
    # "../" climbs to, and the absolute path one names. (media's parent is pytest's shared temp base.)
    assert not any(media.rglob("evil*"))
    escapes = [media.parent / "evil.wav", media.parent.parent / "evil.wav", Path("/tmp/evil-abs.wav")]
    assert not [p for p in escapes if p.exists()]


def test_only_researchers_may_import(client, django_user_model, run):
    assert upload(client, run, targz({})).status_code == 302  # to the login page
    django_user_model.objects.create_user("bob", password="a-long-test-password-2")
    client.login(username="bob", password="a-long-test-password-2")
    assert upload(client, run, targz({})).status_code in (302, 403)
    assert not SystemImport.objects.exists()


def test_the_form_needs_its_csrf_token(researcher, run):
    client = Client(enforce_csrf_checks=True)
    client.force_login(researcher)
    assert upload(client, run, targz({})).status_code == 403
    assert not SystemImport.objects.exists()


def test_an_upload_over_the_limit_is_a_413_and_nothing_is_stored(researcher_client, run, settings):
    settings.OUTPUTS_UPLOAD_MAX_MB = 1
    response = upload(researcher_client, run, os.urandom(2 * 1024 * 1024))
    assert response.status_code == 413 and "OUTPUTS_UPLOAD_MAX_MB" in response.content.decode()
    assert not SystemImport.objects.exists()
    untouched(run)


@pytest.mark.parametrize(
    "system, message",
    [("Bad Name!", "lower-case letters"), ("proposed", "already has a system"), ("", "required")],
)
def test_a_bad_or_taken_system_name_is_a_400_with_the_reason(researcher_client, run, system, message):
    response = upload(researcher_client, run, targz({}), system=system)
    assert response.status_code == 400 and message in response.content.decode()
    assert not SystemImport.objects.exists()


@pytest.mark.parametrize(
    "body, reason",
    [
        (targz({"../evil.wav": wav()}), "climbs out"),
        (targz({"/tmp/evil-abs.wav": wav()}), "absolute path"),
        (b"\x1f\x8b" + os.urandom(500), "cannot be read"),
        (os.urandom(700), "not a folder, a .zip or a .tar"),
    ],
)
def test_a_hostile_archive_is_refused_with_its_reason_and_imports_nothing(
    researcher_client, run, body, reason
):
    page = upload(researcher_client, run, body)
    assert page.status_code == 302
    row = SystemImport.objects.get()
    assert row.status == Status.FAILED and reason in row.message, row.message
    untouched(run)
    html = researcher_client.get(reverse("registry:run", args=[run.pk])).content.decode()
    assert reason in html


def test_an_empty_file_is_a_400_with_the_reason(researcher_client, run):
    response = upload(researcher_client, run, b"")
    assert response.status_code == 400 and "empty" in response.content.decode()
    assert not SystemImport.objects.exists()


def test_links_in_an_archive_are_refused_by_name(researcher_client, run):
    link = tarfile.TarInfo(f"{pair_ids(run)[0]}.wav")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    body = targz({f"{p}.wav": wav() for p in pair_ids(run)[1:]}, link)
    upload(researcher_client, run, body)
    row = SystemImport.objects.get()
    assert row.status == Status.FAILED
    assert row.report["refused_members"][0]["reason"] == "a symbolic link, not a regular file"
    assert pair_ids(run)[0] in row.report["missing"]
    untouched(run)


def test_an_archive_inflating_past_the_limit_is_refused(researcher_client, run, settings):
    settings.OUTPUTS_MAX_UNPACKED_MB = 1
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{pair_ids(run)[0]}.wav", b"\0" * (8 * 1024 * 1024))
    upload(researcher_client, run, buffer.getvalue(), name="bomb.zip")
    row = SystemImport.objects.get()
    assert row.status == Status.FAILED and "over the limit of 1048576" in row.message
    untouched(run)


def test_a_set_with_one_bad_file_imports_nothing_and_a_partial_import_takes_the_rest(researcher_client, run):
    ids = pair_ids(run)
    files = {f"{p}.wav": wav() for p in ids}
    files[f"{ids[0]}.wav"] = wav(4.0)  # wrong duration
    upload(researcher_client, run, targz(files))
    refused = SystemImport.objects.get()
    assert refused.status == Status.FAILED and "nothing imported" in refused.message
    untouched(run)
    upload(researcher_client, run, targz(files), partial="on")
    done = SystemImport.objects.exclude(pk=refused.pk).get()
    assert done.status == Status.SUCCEEDED, done.error
    samples = Sample.objects.filter(run=run, system="mine")
    assert samples.exclude(task="alignment").count() == len(ids) - 1
    assert not samples.exclude(status=Status.SUCCEEDED).exists(), list(
        samples.values_list("task", "status", "error")
    )
    media = Path(settings.MEDIA_ROOT).resolve()
    for sample in samples:
        assert (media / sample.audio.name).resolve().is_relative_to(media / "runs" / str(run.uid))


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.dictionaries(
        st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30),
        st.sampled_from([b"", b"junk", b"RIFF\x00\x00\x00\x00WAVE", b"\x00" * 64]),
        max_size=5,
    )
)
def test_arbitrary_member_names_and_bodies_never_crash_and_never_import(run, researcher, names):
    """Through the service layer (a client per example would not fit hypothesis): arbitrary names and
    unreadable bodies are refused, nothing is imported, nothing lands outside."""
    try:
        body = targz(names)
    except (ValueError, UnicodeError):
        return  # tarfile itself cannot write such a name
    file = io.BytesIO(body)
    file.name = "x.tar.gz"
    from django.core.files.uploadedfile import SimpleUploadedFile

    row = systems.system_import_create(
        run=run, system_key="mine", upload=SimpleUploadedFile("x.tar.gz", body), user=researcher
    )
    row = systems.system_import_execute(import_id=row.pk)
    assert row.status == Status.FAILED and row.message.startswith("refused")
    untouched(run)
