"""The training data: clips from .npy files, aligned crops, batches that are a function of (seed, step)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inference.training.data import ClipDataset, ClipItem, DataError, StepBatchSampler, dataset_fingerprint
from tests.inference.training.helpers import write_clips


def test_a_clip_loads_as_features_and_mel_of_four_times_the_frames(tmp_path: Path) -> None:
    examples = write_clips(tmp_path, 2, video_frames=50)
    dataset = ClipDataset(examples)
    dataset.validate()
    item = dataset[0]
    assert item["video"].shape == (50, 2048) and item["mel"].shape == (80, 200)
    assert item["video"].dtype == item["mel"].dtype == torch.float32


def test_a_crop_takes_the_same_stretch_of_time_from_video_and_mel(tmp_path: Path) -> None:
    examples = write_clips(tmp_path, 1, video_frames=50)
    dataset = ClipDataset(examples, crop_video_frames=10)
    item = dataset[ClipItem(0, 7)]
    features, mel = np.load(examples[0].features_path), np.load(examples[0].mel_path)
    assert np.array_equal(item["video"].numpy(), features[7:17])
    assert np.array_equal(item["mel"].numpy(), mel[:, 28:68])


def test_batches_are_a_function_of_seed_and_step(tmp_path: Path) -> None:
    dataset = ClipDataset(write_clips(tmp_path, 10, video_frames=50), crop_video_frames=20)
    whole = StepBatchSampler(dataset, batch_size=3, seed=1, start_step=0, total_steps=9)
    resumed = StepBatchSampler(dataset, batch_size=3, seed=1, start_step=5, total_steps=9)
    assert list(whole)[5:] == list(resumed)
    assert whole.steps_per_epoch == 3
    epoch = [item.index for batch in list(whole)[:3] for item in batch]
    assert len(set(epoch)) == 9, "no clip repeats within an epoch"
    assert list(StepBatchSampler(dataset, batch_size=3, seed=2, start_step=0, total_steps=9)) != list(whole)


def test_a_file_of_the_wrong_shape_is_named(tmp_path: Path) -> None:
    examples = write_clips(tmp_path, 2, video_frames=50)
    np.save(examples[1].mel_path, np.zeros((80, 100), dtype=np.float32))
    with pytest.raises(DataError, match=examples[1].mel_path):
        ClipDataset(examples).validate()


def test_a_missing_or_float64_file_is_named(tmp_path: Path) -> None:
    examples = write_clips(tmp_path, 1, video_frames=50)
    np.save(examples[0].features_path, np.zeros((50, 2048)))
    with pytest.raises(DataError, match="float32"):
        ClipDataset(examples).validate()
    Path(examples[0].features_path).unlink()
    with pytest.raises(DataError, match="cannot read"):
        ClipDataset(examples).validate()


def test_no_clips_is_refused() -> None:
    with pytest.raises(DataError, match="no clips"):
        ClipDataset([])


def test_the_fingerprint_changes_with_the_clips_not_their_order(tmp_path: Path) -> None:
    examples = write_clips(tmp_path, 3, video_frames=20)
    assert dataset_fingerprint(examples) == dataset_fingerprint(list(reversed(examples)))
    assert dataset_fingerprint(examples) != dataset_fingerprint(examples[:2])
