"""Importing the real VAS layout: feature pickles, VAS mels, optional wav/mp4, SpecVQGAN filelists."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from inference.data.records import ClipRecord, ImportProblem
from inference.data.vas import FLOW_DIR, MEL_DIR, RGB_DIR, vas_scan
from inference.mel import HifiganMel
from tests.fakes import DOG, DRUM, write_fake_vas, write_vas_clip


def _split(items: list) -> tuple[dict[str, ClipRecord], list[ImportProblem]]:
    return (
        {i.clip_id: i for i in items if isinstance(i, ClipRecord)},
        [i for i in items if isinstance(i, ImportProblem)],
    )


def test_a_fake_vas_tree_imports_with_the_right_shapes_splits_and_categories(tmp_path: Path) -> None:
    write_fake_vas(tmp_path / "vas", filelists_in=tmp_path / "vas")
    records, problems = _split(list(vas_scan(tmp_path / "vas", out_root=tmp_path / "out")))
    assert problems == []
    assert sorted(records) == sorted(DOG + DRUM)
    assert {r.category for r in records.values()} == {"dog", "drum"}
    assert [records[i].split for i in DOG] == ["train", "train", "train", "val", "test"]
    assert [records[i].split for i in DRUM] == ["train", "train", "val", "test"]
    for record in records.values():
        assert record.duration_s == 10.0
        assert not any(Path(p).is_absolute() for p in record.files.values())
        out = {role: tmp_path / "out" / path for role, path in record.files.items()}
        assert np.load(out["features"]).shape == (215, 2048) and np.load(out["features"]).dtype == np.float32
        assert np.load(out["mel_vas"]).shape == np.load(out["mel_hifigan"]).shape == (80, 860)
        source = tmp_path / "vas" / record.category / MEL_DIR / f"{record.clip_id}_mel.npy"
        assert out["mel_vas"].read_bytes() == source.read_bytes()


def test_features_are_the_concatenated_pickles_zero_padded_to_215_frames(tmp_path: Path) -> None:
    write_fake_vas(tmp_path / "vas", filelists_in=None)
    records, _ = _split(list(vas_scan(tmp_path / "vas", out_root=tmp_path / "out")))

    def load(vas_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        features = np.load(tmp_path / "out" / records[vas_id].files["features"])
        rgb = pickle.loads((tmp_path / "vas" / "dog" / RGB_DIR / f"{vas_id}.pkl").read_bytes())
        flow = pickle.loads((tmp_path / "vas" / "dog" / FLOW_DIR / f"{vas_id}.pkl").read_bytes())
        return features, rgb, flow

    features, rgb, flow = load("video_00002")  # rgb 216 frames (trimmed), flow 215
    assert np.array_equal(features, np.concatenate([rgb[:215], flow], axis=1))
    features, rgb, flow = load("video_00001")  # rgb 214 frames, flow 213: zero-padded
    assert np.array_equal(features[:214, :1024], rgb) and np.array_equal(features[:213, 1024:], flow)
    assert np.all(features[214, :1024] == 0) and np.all(features[213:, 1024:] == 0)


def test_the_hifigan_mel_is_recomputed_from_audio_when_it_exists_and_approximated_otherwise(
    tmp_path: Path,
) -> None:
    write_fake_vas(tmp_path / "vas", filelists_in=None)
    records, _ = _split(list(vas_scan(tmp_path / "vas", out_root=tmp_path / "out")))
    with_audio = records["video_00001"]
    assert with_audio.meta["mel_hifigan_source"] == "audio" and "audio" in with_audio.files
    samples, _ = sf.read(str(tmp_path / "out" / with_audio.files["audio"]), dtype="float32")
    expected = HifiganMel()(torch.from_numpy(samples)).numpy()
    assert np.abs(np.load(tmp_path / "out" / with_audio.files["mel_hifigan"]) - expected).max() < 1e-5
    assert records["video_00002"].meta["mel_hifigan_source"] == "approx_from_vas"
    assert "video" in records["video_00010"].files and "video" not in records["video_00011"].files


def test_without_filelists_the_papers_split_is_scaled_to_the_category(tmp_path: Path) -> None:
    write_fake_vas(tmp_path / "root" / "features", filelists_in=None)  # the <root>/features/<category> layout
    records, problems = _split(list(vas_scan(tmp_path / "root", out_root=tmp_path / "out")))
    assert problems == [] and len(records) == 9
    assert [records[i].split for i in DOG] == ["train", "train", "train", "val", "test"]
    assert [records[i].split for i in DRUM] == ["train", "train", "val", "test"]
    assert records["video_00001"].meta["split_source"].startswith("paper")


def test_a_broken_pickle_is_reported_while_the_others_import(tmp_path: Path) -> None:
    write_fake_vas(tmp_path / "vas", filelists_in=tmp_path / "vas" / "filelists")
    (tmp_path / "vas" / "dog" / RGB_DIR / "video_00002.pkl").write_bytes(b"\x80\x04truncated")
    records, problems = _split(list(vas_scan(tmp_path / "vas", out_root=tmp_path / "out")))
    assert len(problems) == 1 and problems[0].source.endswith("dog/" + RGB_DIR + "/video_00002.pkl")
    assert "pickle" in problems[0].reason
    assert "video_00002" not in records and len(records) == 8


def test_bad_mels_wavs_and_videos_are_reported(tmp_path: Path) -> None:
    write_fake_vas(tmp_path / "vas", filelists_in=None)
    dog = tmp_path / "vas" / "dog"
    np.save(dog / MEL_DIR / "video_00003_mel.npy", np.full((80, 860), 3.0, np.float32))  # not in [0, 1]
    np.save(dog / MEL_DIR / "video_00004_mel.npy", np.zeros((80, 100), np.float32))  # too short
    (dog / "audio_10s_22050hz" / "video_00001.wav").write_bytes(b"RIFF garbage")
    (tmp_path / "vas" / "drum" / "videos_10s_21.5fps" / "video_00010.mp4").write_bytes(b"\x00" * 100)
    records, problems = _split(list(vas_scan(tmp_path / "vas", out_root=tmp_path / "out")))
    reported = {Path(p.source).name for p in problems}
    assert reported == {"video_00003_mel.npy", "video_00004_mel.npy", "video_00001.wav", "video_00010.mp4"}
    assert "video_00003" not in records and "video_00004" not in records
    assert records["video_00001"].meta["mel_hifigan_source"] == "approx_from_vas"  # imported, without audio
    assert "audio" not in records["video_00001"].files and "video" not in records["video_00010"].files


def test_listed_clips_missing_on_disk_are_reported(tmp_path: Path) -> None:
    write_fake_vas(tmp_path / "vas", filelists_in=tmp_path / "vas")
    with (tmp_path / "vas" / "vas_train.txt").open("a") as handle:
        handle.write("dog/video_09999\nbaby/video_00001\n")  # baby is not in this tree: not reported
    _, problems = _split(list(vas_scan(tmp_path / "vas", out_root=tmp_path / "out")))
    assert [p.source.split("/")[-2:] for p in problems] == [["dog", "video_09999"]]


def test_ids_repeated_across_categories_are_prefixed_to_stay_unique(tmp_path: Path) -> None:
    write_vas_clip(tmp_path / "vas" / "dog", "video_00001", 1)
    write_vas_clip(tmp_path / "vas" / "gun", "video_00001", 2)
    records, _ = _split(list(vas_scan(tmp_path / "vas", out_root=tmp_path / "out")))
    assert sorted(records) == ["dog_video_00001", "gun_video_00001"]


def test_reimporting_is_idempotent(tmp_path: Path) -> None:
    write_fake_vas(tmp_path / "vas", filelists_in=tmp_path / "vas")
    first = list(vas_scan(tmp_path / "vas", out_root=tmp_path / "out"))
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*") if p.is_file()}
    calls: list[tuple[int, int]] = []
    assert (
        list(
            vas_scan(tmp_path / "vas", out_root=tmp_path / "out", progress=lambda d, t: calls.append((d, t)))
        )
        == first
    )
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*") if p.is_file()} == mtimes
    assert calls[-1] == (9, 9)


def test_a_folder_without_vas_data_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no VAS category folders"):
        list(vas_scan(tmp_path, out_root=tmp_path / "out"))
