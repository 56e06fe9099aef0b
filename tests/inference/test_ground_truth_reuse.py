"""Ground truth is vocoded once per mel and vocoder: later tasks copy the cached file, byte for byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.generate import (
    GROUND_TRUTH,
    GenerationItem,
    GenerationJob,
    GroundTruthCache,
    ModelCache,
    run_job,
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> ModelCache:
    return ModelCache("cpu", cache_dir=tmp_path_factory.mktemp("inference-cache"))


def mels(folder: Path) -> list[Path]:
    """Three reference mels: the first two hold the same values (one clip used by two tasks)."""
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal((80, 24)) * 2 - 5).astype(np.float32), (rng.standard_normal((80, 24)) * 2 - 5)
    paths = []
    for name, mel in (("a", a), ("a-again", a.copy()), ("b", b.astype(np.float32))):
        np.save(folder / f"{name}.npy", mel)
        paths.append(folder / f"{name}.npy")
    return paths


def job(folder: Path, references: list[Path], out: str) -> GenerationJob:
    items = tuple(
        GenerationItem(str(i), "", str(ref), str(folder / out / f"{i}.wav"), str(folder / out / f"{i}.npy"))
        for i, ref in enumerate(references)
    )
    return GenerationJob(GROUND_TRUTH, items)


def test_a_mel_is_vocoded_once_across_batches_and_runs(cache, tmp_path):
    references = mels(tmp_path)
    first = run_job(job(tmp_path, references, "run1"), cache)
    assert not first.failed
    assert (first.vocoded, first.reused) == (2, 1), "the repeated mel was vocoded once in its batch"
    assert [o.reused for o in first.outcomes] == [False, True, False]
    assert all("HiFi-GAN" in o.vocoder for o in first.outcomes)
    run1 = [(tmp_path / "run1" / f"{i}.wav").read_bytes() for i in range(3)]
    assert run1[0] == run1[1] != run1[2]

    second = run_job(job(tmp_path, references, "run2"), cache)  # another task, another run
    assert (second.vocoded, second.reused) == (0, 3)
    assert [(tmp_path / "run2" / f"{i}.wav").read_bytes() for i in range(3)] == run1
    for i in range(3):
        assert np.array_equal(np.load(tmp_path / "run2" / f"{i}.npy"), np.load(references[i]))


def test_a_damaged_cache_entry_is_vocoded_again_and_replaced(cache, tmp_path):
    references = mels(tmp_path)
    run_job(job(tmp_path, references[2:], "before"), cache)
    digest = GroundTruthCache.mel_sha256(np.load(references[2]))
    entry = cache.ground_truth.path(cache.vocoder().key, digest)
    good = entry.read_bytes()
    entry.write_bytes(b"not a wav at all")
    again = run_job(job(tmp_path, references[2:], "after"), cache)
    assert (again.vocoded, again.reused) == (1, 0)
    assert (tmp_path / "after" / "0.wav").read_bytes() == good
    assert entry.read_bytes() == good


def test_the_key_separates_vocoders_and_mel_shapes():
    mel = np.zeros((80, 10), np.float32)
    assert GroundTruthCache.mel_sha256(mel) != GroundTruthCache.mel_sha256(np.zeros((10, 80), np.float32))
    cache = GroundTruthCache("/nonexistent")
    digest = GroundTruthCache.mel_sha256(mel)
    assert cache.path("hifigan-universal-f32", digest) != cache.path("hifigan-universal-bf16", digest)
