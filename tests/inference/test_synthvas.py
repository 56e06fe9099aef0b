"""SynthVAS: complete, deterministic, idempotent clips whose ground truth is exactly what one sees and hears."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from inference.data import synthvas as synthvas_module
from inference.data.records import ROLES, ClipRecord, ImportProblem
from inference.data.synth_events import CATEGORIES
from inference.data.synthvas import SynthVASConfig, synthvas_generate
from inference.video import probe, read_frames

FRAME = 1 / 21.5


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _energy_onset(samples: np.ndarray, sr: int, onset: float, offset: float) -> tuple[float, float]:
    """(time at which short-time RMS first rises 10 % of the way from background to the event's
    peak, peak / background ratio), searched from 0.15 s before the true onset."""
    hop, window = 32, 128
    power = np.concatenate([[0.0], np.cumsum(samples.astype(np.float64) ** 2)])
    rms = np.sqrt((power[window::hop] - power[:-window:hop][: len(power[window::hop])]) / window)
    times = (np.arange(len(rms)) * hop + window / 2) / sr
    background = np.median(rms[(times > onset - 0.2) & (times < onset - 0.02)])
    peak = rms[(times >= onset) & (times <= offset)].max()
    search = (times > onset - 0.15) & (times < offset)
    rises = rms[search] > background + 0.1 * (peak - background)
    return float(times[search][np.argmax(rises)]), float(peak / background)


def _ground_truth(tiny, record: ClipRecord) -> dict:
    return json.loads(tiny.path(record, "ground_truth").read_text())


def test_every_clip_has_all_its_files_with_relative_paths_and_the_right_shapes(tiny_synthvas) -> None:
    assert len(tiny_synthvas.records) == 8 * 3
    for record in tiny_synthvas.records:
        assert set(record.files) == set(ROLES)
        for relative in record.files.values():
            assert not Path(relative).is_absolute() and (tiny_synthvas.root / relative).is_file()
        assert np.load(tiny_synthvas.path(record, "mel_hifigan")).shape == (80, 172)  # 2 s: 43 frames x 4
        assert np.load(tiny_synthvas.path(record, "mel_vas")).shape == (80, 172)
        assert np.load(tiny_synthvas.path(record, "features")).shape == (43, 2048)
        info = sf.info(str(tiny_synthvas.path(record, "audio")))
        assert (info.samplerate, info.channels, info.frames) == (22050, 1, 44100)
        json.dumps(record.meta)  # JSON-serialisable, for the registry


def test_clip_ids_and_splits_follow_the_documented_rule(tiny_synthvas) -> None:
    for category in CATEGORIES:
        splits = [tiny_synthvas.record(category, i).split for i in range(3)]
        assert splits == ["train", "val", "test"]
        assert _ground_truth(tiny_synthvas, tiny_synthvas.record(category, 2))["split"] == "test"


def test_ground_truth_records_events_timbre_background_and_seed(tiny_synthvas) -> None:
    record = tiny_synthvas.record("dog", 1)
    truth = _ground_truth(tiny_synthvas, record)
    assert truth["seed"] == 7 and truth["category"] == "dog" and truth["clip_id"] == "dog_00001"
    assert {"f0", "formants", "decay_s"} <= set(truth["timbre"])
    assert -55 <= truth["background"]["level_dbfs"] <= -35
    assert truth["events"] and all(0 < e["onset_s"] < e["offset_s"] <= 2.0 for e in truth["events"])
    assert record.meta["events"] == truth["events"] and record.meta["timbre"] == truth["timbre"]


def test_clips_of_one_category_have_distinct_timbres(tiny_synthvas) -> None:
    for category in CATEGORIES:
        timbres = [
            json.dumps(tiny_synthvas.record(category, i).meta["timbre"], sort_keys=True) for i in range(3)
        ]
        assert len(set(timbres)) == 3


def test_ground_truth_onsets_coincide_with_audio_onsets_within_one_video_frame(tiny_synthvas) -> None:
    checked = 0
    for record in tiny_synthvas.records:
        samples, sr = sf.read(str(tiny_synthvas.path(record, "audio")), dtype="float32")
        for event in record.meta["events"]:
            detected, contrast = _energy_onset(samples, sr, event["onset_s"], event["offset_s"])
            assert abs(detected - event["onset_s"]) <= FRAME, (record.clip_id, event, detected)
            assert contrast > 3, (record.clip_id, event, contrast)
            checked += 1
    assert checked >= 24


def test_ground_truth_onsets_are_motion_peaks_of_the_features_and_nothing_moves_between_events(
    tiny_synthvas,
) -> None:
    for record in tiny_synthvas.records:
        motion = np.load(tiny_synthvas.path(record, "features"))[:, 1024:].sum(axis=1)
        moving = np.zeros(len(motion), bool)
        for event in record.meta["events"]:
            k = event["onset_frame"]
            assert k == round(event["onset_s"] * 21.5)  # onsets sit on frame times
            assert motion[k] == motion[max(k - 2, 0) : k + 3].max() > 0, (record.clip_id, event)
            moving[k : math.ceil(event["offset_s"] * 21.5 - 1e-9) + 1] = True
        assert np.all(motion[~moving] == 0), record.clip_id


def test_ground_truth_onsets_are_the_biggest_changes_of_the_decoded_video(tiny_synthvas) -> None:
    for category in CATEGORIES:
        record = tiny_synthvas.record(category)
        frames = read_frames(tiny_synthvas.path(record, "video"), max_seconds=2.0).astype(np.int16)
        change = np.concatenate([[0.0], np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))])
        for event in record.meta["events"]:
            k = event["onset_frame"]
            window = change[max(k - 2, 0) : k + 3]
            assert abs(int(np.argmax(window)) + max(k - 2, 0) - k) <= 1, (record.clip_id, event, window)


def test_the_mp4_carries_the_sound_and_lasts_the_clip(tiny_synthvas) -> None:
    info = probe(tiny_synthvas.path(tiny_synthvas.record("baby"), "video"))
    assert info.has_audio and info.duration_s == pytest.approx(2.0, abs=FRAME)


def test_the_same_seed_gives_identical_files_whatever_the_number_of_workers(tmp_path: Path) -> None:
    config = SynthVASConfig(clips_per_category=2, duration_s=1.0, categories=("dog", "gun", "hammer"), seed=3)
    one = list(synthvas_generate(tmp_path / "one", config=config))
    two = list(
        synthvas_generate(tmp_path / "two", config=SynthVASConfig(**{**config.__dict__, "workers": 2}))
    )
    assert all(isinstance(item, ClipRecord) for item in one + two)
    assert [r.clip_id for r in one] == [r.clip_id for r in two]
    hashes = _hashes(tmp_path / "one")
    assert len(hashes) == 6 * 6 and hashes == _hashes(tmp_path / "two")
    other = list(
        synthvas_generate(tmp_path / "other", config=SynthVASConfig(**{**config.__dict__, "seed": 4}))
    )
    assert _hashes(tmp_path / "other")["dog/audio/dog_00000.wav"] != hashes["dog/audio/dog_00000.wav"]
    assert len(other) == 6


def test_rerunning_is_idempotent_and_rebuilds_only_what_is_missing_or_broken(tmp_path: Path) -> None:
    config = SynthVASConfig(clips_per_category=2, duration_s=1.0, categories=("drum",), seed=5)
    first = list(synthvas_generate(tmp_path, config=config))
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert list(synthvas_generate(tmp_path, config=config)) == first
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == mtimes

    broken = tmp_path / first[1].files["features"]
    broken.write_bytes(b"not an npy file")
    (tmp_path / first[0].files["video"]).unlink()
    hashes_before = _hashes(tmp_path)
    assert list(synthvas_generate(tmp_path, config=config)) == first
    hashes_after = _hashes(tmp_path)
    assert hashes_after[first[1].files["features"]] != hashes_before[first[1].files["features"]]
    assert hashes_after.keys() == {k for k in hashes_before} | {first[0].files["video"]}


def test_growing_a_dataset_moves_only_splits(tmp_path: Path) -> None:
    small = SynthVASConfig(clips_per_category=3, duration_s=1.0, categories=("cough",), seed=1)
    list(synthvas_generate(tmp_path, config=small))
    audio = _hashes(tmp_path)["cough/audio/cough_00002.wav"]
    bigger = list(
        synthvas_generate(tmp_path, config=SynthVASConfig(**{**small.__dict__, "clips_per_category": 5}))
    )
    assert [r.split for r in bigger] == ["train", "train", "train", "val", "test"]
    assert _hashes(tmp_path)["cough/audio/cough_00002.wav"] == audio


def test_progress_is_reported_for_every_clip(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    config = SynthVASConfig(clips_per_category=2, duration_s=1.0, categories=("sneeze",), seed=2)
    list(synthvas_generate(tmp_path, config=config, progress=lambda done, total: calls.append((done, total))))
    assert calls == [(1, 2), (2, 2)]


def test_a_failing_clip_is_reported_and_the_others_are_built(tmp_path: Path, monkeypatch) -> None:
    real = synthvas_module.synthesize

    def flaky(category, *args, **kwargs):
        if category == "gun":
            raise RuntimeError("synthesiser exploded")
        return real(category, *args, **kwargs)

    monkeypatch.setattr(synthvas_module, "synthesize", flaky)
    config = SynthVASConfig(clips_per_category=1, duration_s=1.0, categories=("dog", "gun"), seed=2)
    items = list(synthvas_generate(tmp_path, config=config))
    assert isinstance(items[0], ClipRecord)
    assert isinstance(items[1], ImportProblem) and items[1].source == "gun_00000"
    assert "exploded" in items[1].reason


def test_it_refuses_unknown_categories() -> None:
    with pytest.raises(ValueError, match="unicorn"):
        SynthVASConfig(categories=("dog", "unicorn"))
