"""Video features: (T, 2048) float32 at 21.5 fps, RGB (appearance) || flow (motion), 1024 dims each.

The paper uses BN-Inception features of RGB frames and optical flow from TSN; their pretrained weights
cannot be fetched here, so precomputed VAS features are imported as they are (``load_precomputed``)
and raw videos go through a ``FeatureExtractor``. Any object with ``name``, ``dim`` and ``extract``
fits the protocol, so a BN-Inception extractor can be dropped in where its weights exist.

``MotionAppearanceExtractor``, the default, needs no weights and keeps what the generator needs most,
timing:

- appearance (dims 0-1023): per frame, colour means on a 12x16 grid of blocks, the gray level
  standard deviation per block, per-channel global mean and spread, and a 16-bin gray histogram;
- motion (dims 1024-2047): per frame t, the change from frame t-1 (frame 0 has none, so zeros): mean
  absolute frame difference per block and a block Lucas-Kanade flow estimate split into its four
  signed directions (right, left, down, up), on frames downsampled by 2.

Each half is mapped to 1024 dims by a fixed random projection (seeded, so identical for every clip
and every run) followed by ReLU. ReLU keeps the features non-negative like BN-Inception's pooled
activations, and because the projection is positively homogeneous, a still scene gives exactly zero
motion features and a sudden visual event gives a peak at its frame.
"""

from __future__ import annotations

import io
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from inference.errors import FeatureError

FEATURE_FRAMES = 215
FEATURE_DIM = 2048
HALF_DIM = FEATURE_DIM // 2
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 gray


@runtime_checkable
class FeatureExtractor(Protocol):
    """Turns decoded frames into per-frame features."""

    name: str
    dim: int

    def extract(self, frames: np.ndarray) -> np.ndarray:
        """uint8 RGB frames (T, H, W, 3) at 21.5 fps -> float32 (T, dim), non-negative."""
        ...


@dataclass(frozen=True)
class MotionAppearanceConfig:
    seed: int = 20230207  # the projection's seed: changing it changes every feature
    grid: tuple[int, int] = (12, 16)  # (rows, cols) of blocks
    histogram_bins: int = 16
    # Statistics over blocks and histograms barely change with subsampling, and it is 16x cheaper.
    appearance_downsample: int = 4
    motion_downsample: int = 2
    # Regularises the 2x2 Lucas-Kanade system where a block has no texture (flat colour).
    flow_regulariser: float = 1e-2
    chunk_frames: int = 32  # frames converted to float at a time, bounding memory


def _block_mean(values: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(T, H, W, ...) -> (T, rows, cols, ...): means over a grid of equal blocks (edges cropped)."""
    rows, cols = grid
    t, h, w = values.shape[:3]
    bh, bw = max(h // rows, 1), max(w // cols, 1)
    cropped = values[:, : bh * rows, : bw * cols]
    return cropped.reshape(t, rows, bh, cols, bw, *values.shape[3:]).mean(axis=(2, 4))


class MotionAppearanceExtractor:
    """Weight-free features that carry appearance and timing; see the module docstring."""

    name = "motion-appearance-v1"
    dim = FEATURE_DIM

    def __init__(self, config: MotionAppearanceConfig | None = None) -> None:
        self.config = config or MotionAppearanceConfig()
        rows, cols = self.config.grid
        blocks = rows * cols
        self.appearance_inputs = blocks * 3 + blocks + 6 + self.config.histogram_bins
        self.motion_inputs = blocks * 5
        rng = np.random.default_rng(self.config.seed)
        # Scaled so that unit-sized inputs give unit-sized outputs.
        self.appearance_projection = (
            rng.standard_normal((self.appearance_inputs, HALF_DIM)) / np.sqrt(self.appearance_inputs)
        ).astype(np.float32)
        self.motion_projection = (
            rng.standard_normal((self.motion_inputs, HALF_DIM)) / np.sqrt(self.motion_inputs)
        ).astype(np.float32)

    def extract(self, frames: np.ndarray) -> np.ndarray:
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
        appearance = np.concatenate(
            [
                self._appearance(frames[i : i + self.config.chunk_frames])
                for i in range(0, len(frames), self.config.chunk_frames)
            ]
        )
        motion = self._motion(frames)
        rgb = np.maximum(appearance @ self.appearance_projection, 0.0)
        flow = np.maximum(motion @ self.motion_projection, 0.0)
        return np.concatenate([rgb, flow], axis=1).astype(np.float32)  # (T, 2048)

    def _appearance(self, frames: np.ndarray) -> np.ndarray:
        t = len(frames)
        step = self.config.appearance_downsample
        rgb = frames[:, ::step, ::step].astype(np.float32) / 255.0  # (t, h, w, 3)
        gray = rgb @ _LUMA
        colour = _block_mean(rgb, self.config.grid).reshape(t, -1)
        spread = np.sqrt(
            np.maximum(_block_mean(gray**2, self.config.grid) - _block_mean(gray, self.config.grid) ** 2, 0)
        )
        channel_stats = np.concatenate([rgb.mean(axis=(1, 2)), rgb.std(axis=(1, 2))], axis=1)
        bins = self.config.histogram_bins
        index = np.minimum((gray * bins).astype(np.int64), bins - 1).reshape(t, -1)
        histogram = np.stack([np.bincount(row, minlength=bins) for row in index]) / index.shape[1]
        return np.concatenate([colour, spread.reshape(t, -1), channel_stats, histogram], axis=1)

    def _motion(self, frames: np.ndarray) -> np.ndarray:
        step = self.config.motion_downsample
        gray = frames[:, ::step, ::step].astype(np.float32) @ (_LUMA / 255.0)  # (T, h, w)
        features = np.zeros((len(frames), self.motion_inputs), dtype=np.float32)
        if len(frames) < 2:
            return features
        for start in range(1, len(frames), self.config.chunk_frames):
            stop = min(start + self.config.chunk_frames, len(frames))
            features[start:stop] = self._motion_chunk(gray[start - 1 : stop])
        return features

    def _motion_chunk(self, gray: np.ndarray) -> np.ndarray:
        """gray (n + 1, h, w) -> (n, blocks * 5): the change into each of the last n frames."""
        previous, current = gray[:-1], gray[1:]
        it = current - previous
        mean = 0.5 * (current + previous)
        ix = np.zeros_like(mean)
        iy = np.zeros_like(mean)
        ix[:, :, 1:-1] = 0.5 * (mean[:, :, 2:] - mean[:, :, :-2])
        iy[:, 1:-1, :] = 0.5 * (mean[:, 2:, :] - mean[:, :-2, :])
        grid = self.config.grid
        sxx, syy, sxy = _block_mean(ix * ix, grid), _block_mean(iy * iy, grid), _block_mean(ix * iy, grid)
        sxt, syt = _block_mean(ix * it, grid), _block_mean(iy * it, grid)
        reg = self.config.flow_regulariser * (sxx + syy).mean() + 1e-6
        a, d, b = sxx + reg, syy + reg, sxy
        det = a * d - b * b
        # Lucas-Kanade: [sxx sxy; sxy syy] [u v]^T = -[sxt syt]^T, solved per block in closed form.
        u = -(d * sxt - b * syt) / det
        v = -(a * syt - b * sxt) / det
        n = len(it)
        magnitude = _block_mean(np.abs(it), grid)
        parts = [magnitude, np.maximum(u, 0), np.maximum(-u, 0), np.maximum(v, 0), np.maximum(-v, 0)]
        return np.stack([p.reshape(n, -1) for p in parts], axis=2).reshape(n, -1)


def fit_frames(features: np.ndarray, n_frames: int = FEATURE_FRAMES) -> np.ndarray:
    """Zero-pad or trim along time to ``n_frames`` rows, as RegNet does with its feature pickles."""
    if len(features) >= n_frames:
        return features[:n_frames]
    return np.pad(features, ((0, n_frames - len(features)), (0, 0)))


def validate_features(array: object, *, path: str | Path | None, dim: int | None = None) -> np.ndarray:
    """Accept a 2-D finite real numeric array (optionally ``dim`` wide); return it as float32."""
    if not isinstance(array, np.ndarray):
        raise FeatureError(path, f"expected a numpy array, found {type(array).__name__}")
    if array.dtype.kind not in "fiu":
        raise FeatureError(path, f"expected a numeric array, found dtype {array.dtype}")
    if array.ndim != 2 or array.shape[0] == 0:
        raise FeatureError(path, f"expected a non-empty 2-D array (frames, dims), found shape {array.shape}")
    if dim is not None and array.shape[1] != dim:
        raise FeatureError(path, f"expected {dim} feature dimensions, found {array.shape[1]}")
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise FeatureError(path, "the features contain NaN or infinite values")
    return array


# The globals a pickled numpy array names (numpy 1.x and 2.x, protocols 0-5) and nothing else.
_ARRAY_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocols 0-2 write bytes
    }
)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays only. A pickle names every callable it wants to call, and any name
    outside ``_ARRAY_GLOBALS`` is refused before it is looked up: a payload whose ``__reduce__``
    would run code (``os.system``, ``eval``, ...) fails instead of running."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ARRAY_GLOBALS:
            raise pickle.UnpicklingError(
                f"refused: it asks to call {module}.{name}; a pickle payload can run code when loaded, "
                "so only numpy arrays are accepted"
            )
        with warnings.catch_warnings():  # numpy 2 warns on the numpy.core names old pickles use
            warnings.simplefilter("ignore", DeprecationWarning)
            return super().find_class(module, name)


def load_feature_pickle(path: str | Path, *, dim: int = HALF_DIM) -> np.ndarray:
    """One RegNet feature pickle -> float32 (T, dim).

    Dataset files come from elsewhere, so the pickle is read by ``_ArrayUnpickler``: a plain numpy
    array loads, anything else (a code-running payload included) is refused with the reason.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise FeatureError(path, "no such file") from exc
    except OSError as exc:
        raise FeatureError(path, f"cannot read the file ({exc})") from exc
    try:
        array = _ArrayUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as exc:
        raise FeatureError(path, f"not a plain numpy pickle: {exc}") from None
    except Exception as exc:  # a truncated or foreign pickle can raise almost anything
        raise FeatureError(path, f"not a readable pickle ({type(exc).__name__}: {exc})") from None
    # An array's bytes are inside the pickle; a shape claiming more (an empty array "of" 10^12
    # elements) would only allocate memory on conversion.
    if isinstance(array, np.ndarray) and array.nbytes > len(data):
        raise FeatureError(path, f"the pickle claims a {array.shape} array but holds {len(data)} bytes")
    return validate_features(array, path=path, dim=dim)


def load_precomputed(
    rgb_pkl: str | Path, flow_pkl: str | Path, *, n_frames: int = FEATURE_FRAMES
) -> np.ndarray:
    """RegNet's RGB and flow pickles -> float32 (n_frames, 2048): each fitted to n_frames, then rgb || flow."""
    rgb = fit_frames(load_feature_pickle(rgb_pkl), n_frames)
    flow = fit_frames(load_feature_pickle(flow_pkl), n_frames)
    return np.concatenate([rgb, flow], axis=1)
