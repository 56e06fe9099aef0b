"""The training loop: one readable function for both systems and every ablation.

``train(config, train_examples, val_examples, out_dir)`` runs, per step: the generator's forward, a
discriminator step on the detached output, then a generator step (the order of RegNet's and
VarietySound's GAN training). Around that loop:

- **seeded**: ``config.seed`` fixes initialisation, batches, crops and the random transforms;
- **resumable**: the latest ``out_dir/checkpoints/step_*.pt`` is picked up with its optimisers,
  schedulers, discriminators and RNG state; a finished run returns at once, so a redelivered task
  is harmless; other data or another architecture than the checkpoint's are refused;
- **logged** (``run_log.py``): a tqdm bar with losses and steps/s, the optional ``progress``
  callback, ``log.csv`` and ``val.csv``, and TensorBoard when asked for and installed;
- **validated and previewed**: validation mel L1 every ``val_every`` steps; every ``preview_every``
  steps a generated mel (.npy) and its audio (.wav) for an original and a swapped validation pair;
- **checkpointed** every ``checkpoint_every`` steps and at the end (``inference.models.checkpoint``);
- **stoppable**: ``should_stop()`` is asked between steps; a stopped run saves a checkpoint first;
- **accelerated on CUDA**: autocast (bf16, or fp16 with a gradient scaler) and ``torch.compile``
  when the config asks; both stay off on the CPU.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader

from inference.models.checkpoint import read_payload, save_checkpoint
from inference.models.config_io import to_dict
from inference.models.varietysound import VarietySoundConfig
from inference.training.config import TrainConfig
from inference.training.data import ClipDataset, ClipExample, StepBatchSampler, collate, dataset_fingerprint
from inference.training.run_log import RunLog, TrainingError, TrainProgress
from inference.training.systems import Batch, System, build_system

CHECKPOINT_DIR = "checkpoints"


@dataclass(frozen=True)
class TrainResult:
    step: int
    total_steps: int
    checkpoint_path: Path
    losses: dict[str, float]  # mean training losses of the last logging window
    val_losses: dict[str, float]  # the last validation; empty if none ran
    stopped: bool  # should_stop() ended the run early
    resumed_from: int | None
    elapsed_s: float  # training time over all calls, resumed ones included
    out_dir: Path
    history: list[dict[str, float]] = field(default_factory=list, repr=False)  # this call's log rows


def train(
    config: TrainConfig,
    train_examples: Sequence[ClipExample],
    val_examples: Sequence[ClipExample],
    out_dir: str | Path,
    *,
    progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    device: str | torch.device = "auto",
    data_meta: dict[str, Any] | None = None,
) -> TrainResult:
    """Train ``config.system`` on ``train_examples`` into ``out_dir``, resuming if it holds checkpoints.

    ``data_meta`` (JSON-like) is stored in each checkpoint's ``data`` beside the dataset fingerprint.
    """
    run = _Run.start(config, train_examples, val_examples, Path(out_dir), resolve_device(device), data_meta)
    log = RunLog(run.out_dir, config, run.total_steps, run.step, run.elapsed_before, progress)
    system, optimizers, autocast, scaler = run.system, run.optimizers, run.autocast, run.scaler
    clip = config.optim.grad_clip_norm
    stopped = False
    system.train()
    try:
        for batch in run.batches():
            if should_stop is not None and should_stop():
                stopped = True
                break
            with autocast():
                outputs = system.forward_generator(batch)

            # 1. Discriminator step, on the generator's output cut from its graph.
            d_losses: dict[str, torch.Tensor] = {}
            if optimizers["discriminator"]:
                system.set_discriminators_trainable(True)
                with autocast():
                    d_losses = system.discriminator_losses(batch, outputs)
                _optimizer_step(optimizers["discriminator"], d_losses["total"], scaler, clip)
                system.set_discriminators_trainable(False)  # the generator step needs no D gradients

            # 2. Generator step, against the freshly updated discriminators.
            with autocast():
                g_losses = system.generator_losses(batch, outputs)
            _optimizer_step(optimizers["generator"], g_losses["total"], scaler, clip)

            if scaler is not None:
                scaler.update()
            for scheduler in run.schedulers:
                scheduler.step()
            run.step += 1
            log.step_done(run.step, g_losses, d_losses, lr=optimizers["generator"][0].param_groups[0]["lr"])
            run.periodic(log)
    finally:
        log.close()
    checkpoint = run.save(log.elapsed()) if run.saved_step != run.step else run.last_saved
    assert checkpoint is not None
    log.done(run.step, checkpoint)
    return TrainResult(
        step=run.step,
        total_steps=run.total_steps,
        checkpoint_path=checkpoint,
        losses=log.last_losses,
        val_losses=log.val_losses,
        stopped=stopped,
        resumed_from=run.resumed_from,
        elapsed_s=log.elapsed(),
        out_dir=run.out_dir,
        history=log.history,
    )


def resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device='cuda' was asked for but CUDA is not available")
    return resolved


def checkpoint_paths(out_dir: Path) -> list[Path]:
    return sorted((out_dir / CHECKPOINT_DIR).glob("step_*.pt"))


def lr_factor(step: int, *, constant_steps: int, total_steps: int) -> float:
    """RegNet's schedule: 1 for ``constant_steps``, then linear decay towards 0 at ``total_steps``."""
    return 1.0 - max(0, step - constant_steps) / float(total_steps - constant_steps + 1)


def _optimizer_step(
    optimizers: list[Optimizer], loss: torch.Tensor, scaler: torch.amp.GradScaler | None, clip: float | None
) -> None:
    for optimizer in optimizers:
        optimizer.zero_grad(set_to_none=True)
    (scaler.scale(loss) if scaler else loss).backward()
    for optimizer in optimizers:
        if clip is not None:
            if scaler:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], clip)
        if scaler:
            scaler.step(optimizer)
        else:
            optimizer.step()


def _mixed_precision(
    device: torch.device, config: TrainConfig
) -> tuple[Callable[[], Any], torch.amp.GradScaler | None]:
    if device.type != "cuda" or not config.optim.mixed_precision:
        return contextlib.nullcontext, None
    if torch.cuda.is_bf16_supported():  # bf16 keeps fp32's range: no loss scaling needed
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16), None
    return lambda: torch.autocast("cuda", dtype=torch.float16), torch.amp.GradScaler("cuda")


@dataclass
class _Run:
    """The state of one training call: what the loop reads and the bookkeeping it delegates."""

    config: TrainConfig
    out_dir: Path
    device: torch.device
    system: System
    optimizers: dict[str, list[Optimizer]]
    schedulers: list[LambdaLR]
    autocast: Callable[[], Any]
    scaler: torch.amp.GradScaler | None
    train_set: ClipDataset
    val_set: ClipDataset | None
    data_info: dict[str, Any]
    total_steps: int
    step: int = 0
    elapsed_before: float = 0.0
    resumed_from: int | None = None
    last_saved: Path | None = None
    saved_step: int = -1
    val_batches: list[Batch] = field(default_factory=list)
    vocoder: Any = None

    @classmethod
    def start(
        cls,
        config: TrainConfig,
        train_examples: Sequence[ClipExample],
        val_examples: Sequence[ClipExample],
        out_dir: Path,
        device: torch.device,
        data_meta: dict[str, Any] | None,
    ) -> _Run:
        out_dir.mkdir(parents=True, exist_ok=True)
        model = config.model
        video_dim = (
            model.temporal.input_dim if isinstance(model, VarietySoundConfig) else model.regnet.video_dim
        )
        train_set = ClipDataset(
            train_examples, video_dim=video_dim, crop_video_frames=config.data.crop_video_frames
        )
        train_set.validate()
        val_set = ClipDataset(val_examples, video_dim=video_dim) if val_examples else None
        if val_set is not None:
            val_set.validate()
        data_info = {
            "dataset_fingerprint": dataset_fingerprint(train_examples),
            "val_fingerprint": dataset_fingerprint(val_examples) if val_examples else None,
            "categories": sorted({e.category for e in train_examples}),
            "train_clips": len(train_examples),
            "val_clips": len(val_examples),
            "system": config.system,
            "preset": config.preset,
            "seed": config.seed,
            **(data_meta or {}),
        }
        # Everything is built from the seed; a checkpoint then overwrites what it saved.
        random.seed(config.seed)
        np.random.seed(config.seed)
        torch.manual_seed(config.seed)
        system = build_system(config).to(device)
        optimizers = system.optimizers(config)
        steps_per_epoch = StepBatchSampler(
            train_set, batch_size=config.data.batch_size, seed=0, start_step=0, total_steps=0
        ).steps_per_epoch
        total = config.optim.total_steps(steps_per_epoch)
        constant = round(config.optim.lr_constant_fraction * total)
        schedulers = [
            LambdaLR(o, lambda s: lr_factor(s, constant_steps=constant, total_steps=total))
            for group in optimizers.values()
            for o in group
        ]
        autocast, scaler = _mixed_precision(device, config)
        run = cls(
            config,
            out_dir,
            device,
            system,
            optimizers,
            schedulers,
            autocast,
            scaler,
            train_set,
            val_set,
            data_info,
            total,
        )
        existing = checkpoint_paths(out_dir)
        if existing:
            run.resume(existing[-1])
        if device.type == "cuda" and config.optim.compile:
            system.compile_generator()
        run.val_batches = run._make_val_batches()
        return run

    def batches(self) -> Any:
        """The remaining steps' batches, on the device (a DataLoader over a step-seeded sampler)."""
        sampler = StepBatchSampler(
            self.train_set,
            batch_size=self.config.data.batch_size,
            seed=self.config.seed,
            start_step=self.step,
            total_steps=self.total_steps,
        )
        loader = DataLoader(
            self.train_set,
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=self.config.data.num_workers,
            pin_memory=self.device.type == "cuda",
            # Its own generator: a DataLoader otherwise draws a seed from the global RNG when it starts
            # iterating, and a resumed run would then diverge from an uninterrupted one.
            generator=torch.Generator().manual_seed(self.config.seed + self.step),
        )
        for batch in loader:
            yield {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def periodic(self, log: RunLog) -> None:
        """Validation, previews and checkpoints that fall due after the step just taken."""
        every, step = self.config.logging, self.step
        if self.val_batches and (step % every.val_every == 0 or step == self.total_steps):
            log.validation(step, self.validate())
        if step % every.preview_every == 0:
            self.preview()
        if step % every.checkpoint_every == 0:
            log.checkpoint(step, self.save(log.elapsed()))

    def validate(self) -> dict[str, float]:
        self.system.eval()
        totals: dict[str, float] = {}
        with torch.no_grad():
            for batch in self.val_batches:
                on_device = {k: v.to(self.device) for k, v in batch.items()}
                for key, value in self.system.validation_losses(on_device).items():
                    totals[key] = totals.get(key, 0.0) + value / len(self.val_batches)
        self.system.train()
        if not all(math.isfinite(v) for v in totals.values()):
            raise TrainingError(f"non-finite validation loss at step {self.step}: {totals}")
        return totals

    def preview(self) -> None:
        """A generated mel and its audio for an original pair (clip 0) and a swapped one (clip 1's audio)."""
        from inference.audio import save_wav
        from inference.models.vocoder import Vocoder

        dataset = self.val_set or self.train_set
        clip = dataset[0]
        references = {"original": clip["mel"], **({"swapped": dataset[1]["mel"]} if len(dataset) > 1 else {})}
        folder = self.out_dir / "previews"
        folder.mkdir(parents=True, exist_ok=True)
        self.system.eval()
        with torch.no_grad():
            for name, reference in references.items():
                mel = self.system.infer(clip["video"][None].to(self.device), reference[None].to(self.device))
                mel = mel.float().cpu()[0]
                stem = folder / f"step_{self.step:08d}_{dataset.examples[0].clip_id}_{name}"
                np.save(stem.with_suffix(".npy"), mel.numpy())
                if self.config.logging.preview_vocoder != "none":
                    if self.vocoder is None:
                        self.vocoder = Vocoder(
                            backend=self.config.logging.preview_vocoder, device=self.device
                        )
                    save_wav(stem.with_suffix(".wav"), self.vocoder(mel))
        self.system.train()

    def save(self, elapsed: float) -> Path:
        path = self.out_dir / CHECKPOINT_DIR / f"step_{self.step:08d}.pt"
        training = {
            "config": to_dict(self.config),
            "discriminators": {
                k: v.detach().cpu() for k, v in self.system.discriminators.state_dict().items()
            },
            "optimizers": {role: [o.state_dict() for o in group] for role, group in self.optimizers.items()},
            "schedulers": [s.state_dict() for s in self.schedulers],
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            },
            "elapsed_s": elapsed,
        }
        save_checkpoint(
            path,
            kind=self.system.kind,
            model=self.system.generator,
            step=self.step,
            data=self.data_info,
            training=training,
        )
        for old in checkpoint_paths(self.out_dir)[: -self.config.logging.keep_checkpoints]:
            old.unlink(missing_ok=True)
        self.last_saved, self.saved_step = path, self.step
        return path

    def resume(self, path: Path) -> None:
        payload = read_payload(path)
        training = payload.get("training")
        if training is None:
            raise TrainingError(f"{path}: holds no training state to resume from")
        if payload["data"].get("dataset_fingerprint") != self.data_info["dataset_fingerprint"]:
            raise TrainingError(f"{path}: was trained on other clips; use a new output folder for this data")
        ours = to_dict(self.config)
        for part in ("system", "model", "discriminators", "losses"):
            if training.get("config", {}).get(part) != ours[part]:
                raise TrainingError(
                    f"{path}: its {part} config differs from this run's; use a new output folder"
                )
        self.system.generator.load_state_dict(payload["state"])
        self.system.discriminators.load_state_dict(training["discriminators"])
        for role, states in training["optimizers"].items():
            for optimizer, state in zip(self.optimizers[role], states, strict=True):
                optimizer.load_state_dict(state)
        for scheduler, state in zip(self.schedulers, training["schedulers"], strict=True):
            scheduler.load_state_dict(state)
        if self.scaler is not None and training.get("scaler"):
            self.scaler.load_state_dict(training["scaler"])
        torch.set_rng_state(training["rng"]["torch"])
        if self.device.type == "cuda" and training["rng"].get("cuda"):
            torch.cuda.set_rng_state_all(training["rng"]["cuda"])
        self.step = self.resumed_from = self.saved_step = payload["step"]
        self.elapsed_before = float(training.get("elapsed_s", 0.0))
        self.last_saved = path

    def _make_val_batches(self) -> list[Batch]:
        """The first ``val_batches`` batches of whole validation clips, loaded once and reused.

        A batch holds clips of one length only (a new batch starts where the length changes)."""
        batches: list[Batch] = []
        current: list[dict[str, torch.Tensor]] = []
        for i in range(len(self.val_set) if self.val_set is not None else 0):
            item = self.val_set[i]  # type: ignore[index]
            if current and (
                len(current) == self.config.data.batch_size or item["mel"].shape != current[0]["mel"].shape
            ):
                batches.append(collate(current))
                current = []
                if len(batches) == self.config.data.val_batches:
                    return batches
            current.append(item)
        if current:
            batches.append(collate(current))
        return batches
