"""Where a training run reports: tqdm bar, progress callback, CSV files, optional TensorBoard.

Losses stay tensors between logging steps (no ``.item()`` per step, which would synchronise a GPU)
and are averaged over the window when a row is written. ``log.csv`` gets one row per ``log_every``
steps (step, elapsed time, steps/s, learning rate, ``g_*`` generator and ``d_*`` discriminator loss
terms); ``val.csv`` one row per validation. A resumed run appends to both.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from inference.training.config import TrainConfig


@dataclass(frozen=True)
class TrainProgress:
    phase: str  # "train" | "val" | "checkpoint" | "done"
    step: int
    total_steps: int
    losses: dict[str, float]
    steps_per_s: float
    elapsed_s: float
    checkpoint_path: Path | None = None


class TrainingError(RuntimeError):
    """Training cannot start or continue: no CUDA, a checkpoint from other data, diverged losses."""


class NonFiniteLossError(TrainingError):
    """A logged loss is NaN or infinite: training has diverged."""


class _CsvFile:
    """Appends rows, writing the header when the file is new (a resumed run keeps the old header)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fields: list[str] | None = None
        if path.exists():
            with path.open(newline="") as handle:
                self.fields = next(csv.reader(handle), None)

    def write(self, row: dict[str, Any]) -> None:
        if self.fields is None:
            self.fields = list(row)
            with self.path.open("w", newline="") as handle:
                csv.DictWriter(handle, self.fields).writeheader()
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, self.fields, extrasaction="ignore").writerow(row)


class RunLog:
    def __init__(
        self,
        out_dir: Path,
        config: TrainConfig,
        total_steps: int,
        start_step: int,
        elapsed_before: float,
        progress: Callable[[TrainProgress], None] | None,
    ) -> None:
        self.config = config.logging
        self.total_steps = total_steps
        self.progress = progress
        self.elapsed_before = elapsed_before
        self.started = time.perf_counter()
        self.train_csv = _CsvFile(out_dir / "log.csv")
        self.val_csv = _CsvFile(out_dir / "val.csv")
        self.board = _tensorboard(out_dir) if self.config.tensorboard else None
        self.bar = None
        if self.config.progress_bar:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total_steps, initial=start_step, desc=f"{config.system} {config.preset}", unit="step"
            )
        self.window: dict[str, list[torch.Tensor]] = {}
        self.window_start, self.window_steps = time.perf_counter(), 0
        self.last_losses: dict[str, float] = {}
        self.val_losses: dict[str, float] = {}
        self.history: list[dict[str, float]] = []

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def _report(self, event: TrainProgress) -> None:
        if self.progress is not None:
            self.progress(event)

    def step_done(
        self, step: int, g_losses: dict[str, torch.Tensor], d_losses: dict[str, torch.Tensor], *, lr: float
    ) -> None:
        for prefix, terms in (("g", g_losses), ("d", d_losses)):
            for name, value in terms.items():
                self.window.setdefault(f"{prefix}_{name}", []).append(value.detach().float())
        self.window_steps += 1
        if self.bar is not None:
            self.bar.update(1)
        if step % self.config.log_every == 0 or step == self.total_steps:
            self._flush(step, lr)

    def _flush(self, step: int, lr: float) -> None:
        now = time.perf_counter()
        self.last_losses = {k: float(torch.stack(v).mean()) for k, v in self.window.items()}
        if not all(math.isfinite(v) for v in self.last_losses.values()):
            raise NonFiniteLossError(f"non-finite loss at step {step}: {self.last_losses}")
        rate = self.window_steps / max(now - self.window_start, 1e-9)
        row = {"step": step, "elapsed_s": round(self.elapsed(), 3), "steps_per_s": round(rate, 4), "lr": lr}
        row |= self.last_losses
        self.train_csv.write(row)
        self.history.append(row)
        if self.board is not None:
            for key, value in self.last_losses.items():
                self.board.add_scalar(f"train/{key}", value, step)
        if self.bar is not None:
            shown = {
                k: f"{v:.4g}" for k, v in self.last_losses.items() if k in ("g_total", "g_mel_l1", "d_total")
            }
            self.bar.set_postfix(shown | {"steps/s": f"{rate:.2f}"})
        self._report(TrainProgress("train", step, self.total_steps, self.last_losses, rate, self.elapsed()))
        self.window, self.window_start, self.window_steps = {}, now, 0

    def validation(self, step: int, losses: dict[str, float]) -> None:
        self.val_losses = losses
        self.val_csv.write({"step": step} | losses)
        if self.board is not None:
            for key, value in losses.items():
                self.board.add_scalar(f"val/{key}", value, step)
        self._report(TrainProgress("val", step, self.total_steps, losses, 0.0, self.elapsed()))

    def checkpoint(self, step: int, path: Path) -> None:
        self._report(
            TrainProgress("checkpoint", step, self.total_steps, self.last_losses, 0.0, self.elapsed(), path)
        )

    def done(self, step: int, path: Path) -> None:
        self._report(
            TrainProgress("done", step, self.total_steps, self.last_losses, 0.0, self.elapsed(), path)
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.board is not None:
            self.board.close()


def _tensorboard(out_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # the tensorboard package is optional; log.csv always exists
        return None
    return SummaryWriter(str(out_dir / "tensorboard"))
