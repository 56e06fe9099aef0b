"""Video features: shapes, non-negativity, timing, and validation of precomputed pickles."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from inference.data.features import (
    FeatureExtractor,
    MotionAppearanceExtractor,
    load_precomputed,
)
from inference.errors import FeatureError


def _scene(event_frame: int, n: int = 60) -> np.ndarray:
    """A still textured scene in which a red square jumps into view at ``event_frame``, then stays."""
    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(60, 120, (1, 128, 170, 3), dtype=np.uint8), n, axis=0)
    frames[event_frame:, 40:80, 50:90] = (220, 40, 40)
    return frames


def test_the_default_extractor_fits_the_protocol_and_gives_2048_non_negative_dims() -> None:
    extractor = MotionAppearanceExtractor()
    assert isinstance(extractor, FeatureExtractor)
    features = extractor.extract(_scene(30))
    assert features.shape == (60, 2048) and features.dtype == np.float32
    assert features.min() >= 0 and np.all(np.isfinite(features))


def test_a_visual_event_produces_a_motion_peak_at_its_frame() -> None:
    features = MotionAppearanceExtractor().extract(_scene(30))
    motion = features[:, 1024:].sum(axis=1)
    assert int(np.argmax(motion)) == 30
    assert np.all(motion[np.arange(60) != 30] == 0)  # nothing else moves in the scene


def test_appearance_follows_what_is_on_screen() -> None:
    appearance = MotionAppearanceExtractor().extract(_scene(30))[:, :1024]
    assert np.allclose(appearance[0], appearance[29]) and np.allclose(appearance[30], appearance[59])
    assert np.abs(appearance[29] - appearance[30]).sum() > 1.0


def test_the_projection_is_fixed_so_features_are_reproducible() -> None:
    frames = _scene(10, n=20)
    assert np.array_equal(
        MotionAppearanceExtractor().extract(frames), MotionAppearanceExtractor().extract(frames)
    )


def _pickle(path: Path, value: object) -> Path:
    path.write_bytes(pickle.dumps(value))
    return path


def test_precomputed_features_are_concatenated_and_fitted_to_215_frames(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = _pickle(tmp_path / "rgb.pkl", rng.random((216, 1024), dtype=np.float32))
    flow = _pickle(tmp_path / "flow.pkl", rng.random((214, 1024)).astype(np.float64))
    features = load_precomputed(rgb, flow)
    assert features.shape == (215, 2048) and features.dtype == np.float32
    assert np.all(features[214, 1024:] == 0)  # the short flow sequence is zero-padded
    assert np.allclose(features[:, :1024], pickle.loads(rgb.read_bytes())[:215])


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (np.full((215, 1024), np.nan, np.float32), "NaN"),
        (np.zeros((215, 1024, 1), np.float32), "2-D"),
        (np.zeros((215, 512), np.float32), "1024"),
        (np.array([["a"] * 1024] * 215), "numeric"),
        ({"features": [1, 2, 3]}, "numpy array"),
        (np.zeros((0, 1024), np.float32), "non-empty"),
    ],
    ids=["nan", "3-d", "width", "strings", "dict", "empty"],
)
def test_it_rejects_feature_pickles_that_are_not_finite_2d_numeric_arrays(
    tmp_path: Path, value, reason
) -> None:
    good = _pickle(tmp_path / "good.pkl", np.zeros((215, 1024), np.float32))
    bad = _pickle(tmp_path / "bad.pkl", value)
    with pytest.raises(FeatureError, match=rf"bad.pkl.*{reason}"):
        load_precomputed(good, bad)


def test_it_rejects_a_pickle_that_is_not_a_pickle(tmp_path: Path) -> None:
    good = _pickle(tmp_path / "good.pkl", np.zeros((215, 1024), np.float32))
    (tmp_path / "broken.pkl").write_bytes(b"\x80\x05garbage")
    with pytest.raises(FeatureError, match="broken.pkl"):
        load_precomputed(tmp_path / "broken.pkl", good)
