"""The pretrained HiFi-GAN served by OpenVINO on the CPU: same weights, same output, less time.

Why OpenVINO: measured in docs/benchmarks.md (``bench/bench_vocoder.py``), on the generator with its
weight norm already folded, a 10-s clip at batch 1 on 2 cores took 3.23 s in PyTorch eager, 3.03 s
with ``torch.compile``, 3.05 s in ONNX Runtime and 2.31 s in OpenVINO (f32): the network is a stack
of 1-D convolutions (about 520 GFLOP per 10-s clip), and OpenVINO fuses each leaky ReLU into its
convolution and keeps the activations blocked between layers. Its output differs from PyTorch's by
about 5e-6 (max abs, on the waveform).

``precision="bf16"`` runs the convolutions in bfloat16 on CPUs that have it (AMX / AVX-512 BF16):
about 3x faster again, but the waveform then differs by about 5e-2, so it is a choice a researcher
makes for drafts, recorded with the run, never the default.

The converted model (OpenVINO IR: an .xml graph and a .bin of weights) is kept under
``cache_dir/openvino/<weights sha256>-v<converter>-<openvino version>/`` (the IR is the same for
both precisions: the precision is chosen when it is compiled) so that a worker converts once
(about 25 s) and later processes compile it in a fraction of a second. A cached IR is checked against
PyTorch on a short mel before use; one that fails (a truncated or altered file) is rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from inference.models.hifigan import HifiganGenerator

log = logging.getLogger(__name__)

CONVERTER_VERSION = 1  # bump when the conversion below changes what it writes
CHECK_FRAMES = 32
# Max abs difference on the waveform between OpenVINO and PyTorch allowed at load, per precision.
CHECK_TOLERANCE = {"f32": 1e-4, "bf16": 0.25}
PRECISIONS = tuple(CHECK_TOLERANCE)


class RuntimeUnavailable(RuntimeError):
    """The runtime cannot be used here (not installed, or it failed to build the model)."""


def import_openvino():
    """OpenVINO, with its usage telemetry left out: its converter would otherwise try to report each
    conversion over the network. Marking the telemetry package absent before the first import makes
    OpenVINO fall back to its own no-op stub."""
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    return importlib.import_module("openvino")


def available() -> bool:
    try:
        import_openvino()
    except ImportError:
        return False
    return True


def version() -> str:
    return import_openvino().get_version().split("-")[0]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_mel() -> np.ndarray:
    """A fixed, plausible log-mel (values around HiFi-GAN's silence to loud range) for the load check."""
    rng = np.random.default_rng(0)
    return (rng.standard_normal((1, 80, CHECK_FRAMES)) * 2.0 - 5.0).astype(np.float32)


class OpenvinoHifigan:
    """Callable (B, 80, F) float32 mel -> (B, F * 256) float32 waveform, compiled for this CPU."""

    def __init__(
        self,
        generator: HifiganGenerator,
        *,
        weights_sha256: str,
        cache_dir: Path | None,
        precision: str = "f32",
        threads: int | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r} (known: {', '.join(PRECISIONS)})")
        if not available():
            raise RuntimeUnavailable("OpenVINO is not installed (pip install openvino)")
        ov = import_openvino()

        self.precision = precision
        self.threads = threads or torch.get_num_threads()
        self._core = ov.Core()
        folder = None
        if cache_dir is not None:
            folder = Path(cache_dir) / "openvino" / f"{weights_sha256[:16]}-v{CONVERTER_VERSION}-{version()}"
        reference = self._reference(generator)
        compiled = None
        if folder is not None and (folder / "hifigan.xml").is_file():
            try:
                compiled = self._compile(self._core.read_model(str(folder / "hifigan.xml")))
                self._check(compiled, reference)
            except Exception as exc:  # noqa: BLE001 - any unreadable or wrong IR is rebuilt
                log.warning("rebuilding the cached OpenVINO HiFi-GAN in %s: %s", folder, exc)
                compiled = None
        if compiled is None:
            model = self._convert(generator)
            if folder is not None:
                self._store(model, folder)
            compiled = self._compile(model)
            self._check(compiled, reference)  # raises: a fresh conversion that disagrees is a bug
        self._compiled = compiled
        self.cached_in = folder

    @staticmethod
    def _reference(generator: HifiganGenerator) -> tuple[np.ndarray, np.ndarray]:
        mel = _check_mel()
        with torch.inference_mode():
            wave = generator(torch.from_numpy(mel)).float().numpy()
        return mel, wave

    def _convert(self, generator: HifiganGenerator):
        ov = import_openvino()

        example = torch.from_numpy(_check_mel())
        try:
            with torch.inference_mode():
                return ov.convert_model(
                    generator.eval(), example_input=example, input=[ov.PartialShape([-1, 80, -1])]
                )
        except Exception as exc:  # noqa: BLE001 - the caller falls back to PyTorch with this reason
            raise RuntimeUnavailable(f"OpenVINO could not convert the HiFi-GAN: {exc}") from exc

    @staticmethod
    def _store(model, folder: Path) -> None:
        """Write the IR into a temporary sibling and rename it into place: a reader never sees half."""
        ov = import_openvino()

        tmp = None
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
            ov.save_model(model, str(tmp / "hifigan.xml"), compress_to_fp16=False)
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)
        except OSError as exc:  # a read-only or full cache: serve from memory, convert again next time
            log.warning("cannot cache the OpenVINO HiFi-GAN in %s: %s", folder, exc)
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)

    def _compile(self, model):
        config = {
            "INFERENCE_NUM_THREADS": self.threads,
            "INFERENCE_PRECISION_HINT": self.precision,
            "PERFORMANCE_HINT": "LATENCY",
            # Pinning puts every process's threads on the same first cores: two worker processes of
            # one thread each would share core 0 (measured: 2 x 1 ran at 40 % of 1 x 2).
            "ENABLE_CPU_PINNING": False,
        }
        return self._core.compile_model(model, "CPU", config)

    def _check(self, compiled, reference: tuple[np.ndarray, np.ndarray]) -> None:
        mel, expected = reference
        got = compiled(mel)[0]
        if got.shape != expected.shape:
            raise RuntimeUnavailable(f"OpenVINO HiFi-GAN gives shape {got.shape}, PyTorch {expected.shape}")
        diff = float(np.abs(got - expected).max()) if np.isfinite(got).all() else float("inf")
        if diff > CHECK_TOLERANCE[self.precision]:
            raise RuntimeUnavailable(
                f"OpenVINO HiFi-GAN ({self.precision}) differs from PyTorch by {diff:.2e} "
                f"(allowed {CHECK_TOLERANCE[self.precision]:.0e})"
            )
        self.check_diff = diff

    @property
    def actual_precision(self) -> str:
        """What OpenVINO runs (a bf16 request falls back to f32 on a CPU without bfloat16)."""
        return self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        mel = np.ascontiguousarray(mel, dtype=np.float32)
        return np.asarray(self._compiled(mel)[0], dtype=np.float32)


def build(
    generator: HifiganGenerator,
    *,
    weights_path: Path,
    cache_dir: Path | None,
    precision: str,
    threads: int | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    return OpenvinoHifigan(
        generator,
        weights_sha256=file_sha256(weights_path),
        cache_dir=cache_dir,
        precision=precision,
        threads=threads,
    )
