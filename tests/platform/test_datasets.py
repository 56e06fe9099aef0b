"""Dataset import through the management commands, and the pages that show the result."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from inference.audio import save_wav
from inference.data.vas import FLOW_DIR, RGB_DIR
from inference.video import write_video
from registry.models import Clip, Dataset, Status
from tests.fakes import DOG, DRUM, write_fake_vas

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_process(settings):
    # These tests are about the import itself; the services pass covers the same command on a worker.
    settings.CELERY_TASK_ALWAYS_EAGER = True


TINY = ["--clips-per-category", "3", "--seconds", "1.5", "--categories", "dog,drum", "--workers", "1"]


@pytest.fixture
def synth(settings) -> Dataset:
    call_command("make_synthvas", *TINY, "--name", "tiny")
    return Dataset.objects.get(name="tiny")


def test_make_synthvas_imports_clips_with_splits_and_files(synth, settings):
    assert synth.status == Status.SUCCEEDED
    assert synth.stats["by_category"] == {c: {"train": 1, "val": 1, "test": 1} for c in ("dog", "drum")}
    clip = Clip.objects.filter(dataset=synth, category="dog").first()
    for field in ("video", "audio", "mel_hifigan", "mel_vas", "features"):
        name = getattr(clip, field).name
        assert name.startswith("datasets/tiny/"), name
        assert (settings.MEDIA_ROOT / name).is_file(), f"{field} file missing"
    assert clip.meta["ground_truth_file"].endswith(".json")
    assert clip.meta, "ground truth travels with the clip"


def test_re_running_an_import_is_idempotent(synth):
    ids = sorted(Clip.objects.filter(dataset=synth).values_list("pk", flat=True))
    call_command("make_synthvas", *TINY, "--name", "tiny")
    synth.refresh_from_db()
    assert synth.status == Status.SUCCEEDED
    assert sorted(Clip.objects.filter(dataset=synth).values_list("pk", flat=True)) == ids


def test_make_synthvas_refuses_unknown_categories():
    with pytest.raises(CommandError, match="unknown categories"):
        call_command("make_synthvas", "--categories", "dog,lion")


def test_importing_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="not a folder"):
        call_command("import_vas", str(tmp_path / "nowhere"))


def test_the_clip_page_plays_the_video_with_sound_and_seeks(synth, researcher_client):
    clip = Clip.objects.filter(dataset=synth).first()
    html = researcher_client.get(reverse("registry:clip", args=[clip.pk])).content.decode()
    assert f'src="{clip.video.url}"' in html and "<video" in html
    full = researcher_client.get(clip.video.url)
    assert full.status_code == 200 and full["Content-Type"] == "video/mp4"
    size = int(full["Content-Length"])
    part = researcher_client.get(clip.video.url, HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-199/{size}"
    assert b"".join(part.streaming_content) == b"".join(full.streaming_content)[100:200]
    tail = researcher_client.get(clip.video.url, HTTP_RANGE="bytes=-10")
    assert tail["Content-Range"] == f"bytes {size - 10}-{size - 1}/{size}"
    assert researcher_client.get(clip.video.url, HTTP_RANGE=f"bytes={size}-").status_code == 416


def test_media_paths_cannot_escape_the_media_folder(researcher_client, settings):
    (settings.MEDIA_ROOT.parent / "secret.txt").write_text("no")
    assert researcher_client.get("/media/../secret.txt").status_code == 404
    assert researcher_client.get("/media/%2e%2e/secret.txt").status_code == 404


def test_media_files_are_for_researchers_only(synth, client):
    clip = Clip.objects.filter(dataset=synth).first()
    response = client.get(clip.video.url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_dataset_page_lists_splits_and_clips(synth, researcher_client):
    response = researcher_client.get(reverse("registry:dataset", args=[synth.pk]))
    html = response.content.decode()
    assert response.context["clip_count"] == 6
    assert "Splits by category" in html and "drum" in html


def test_import_vas_builds_clips_with_the_right_shapes_splits_and_categories(tmp_path, settings):
    tree = tmp_path / "vas" / "data" / "features"
    write_fake_vas(tree, filelists_in=tmp_path / "vas" / "filelists")
    (tree / "dog" / RGB_DIR / "video_00099.pkl").write_bytes(b"not a pickle")  # one broken clip
    (tree / "dog" / FLOW_DIR / "video_00099.pkl").write_bytes(b"not a pickle")
    call_command("import_vas", str(tmp_path / "vas"), "--name", "fake-vas")
    dataset = Dataset.objects.get(name="fake-vas")
    assert dataset.status == Status.SUCCEEDED
    assert set(dataset.stats["by_category"]) == {"dog", "drum"}
    assert dataset.stats["clips"] == len(DOG) + len(DRUM)
    assert dataset.stats["by_split"]["train"] == 5, "the training filelist decides the train split"
    assert any("video_00099" in p["source"] for p in dataset.problems), "the broken clip is reported"
    clip = Clip.objects.get(dataset=dataset, clip_id="video_00001")
    assert (clip.category, clip.split) == ("dog", "train")
    assert np.load(settings.MEDIA_ROOT / clip.features.name).shape == (215, 2048)
    mel = np.load(settings.MEDIA_ROOT / clip.mel_vas.name)
    assert mel.shape == (80, 860) and 0.0 <= mel.min() and mel.max() <= 1.0
    assert np.load(settings.MEDIA_ROOT / clip.mel_hifigan.name).shape == (80, 860)


def test_import_videos_imports_good_videos_and_reports_a_corrupt_one(tmp_path, settings):
    folder = tmp_path / "raw" / "hammer"
    folder.mkdir(parents=True)
    frames = np.zeros((43, 64, 80, 3), np.uint8)
    frames[20:23] = 255  # a flash: something for the features to see
    wav = (0.2 * np.sin(np.linspace(0, 2000, 44100))).astype(np.float32)
    save_wav(tmp_path / "strike.wav", wav)
    write_video(frames, 21.5, folder / "strike.mp4", wav=tmp_path / "strike.wav")
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 definitely not a video")
    call_command("import_videos", str(tmp_path / "raw"), "--name", "raw")
    dataset = Dataset.objects.get(name="raw")
    assert dataset.stats["clips"] == 1
    assert [p["source"].endswith("broken.mp4") for p in dataset.problems] == [True]
    clip = Clip.objects.get(dataset=dataset)
    assert clip.clip_id == "hammer_strike" and clip.video and clip.audio
