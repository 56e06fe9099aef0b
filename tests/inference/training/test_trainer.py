"""The training loop at the tiny presets: one step, resume, stop, ablations, logs and previews."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import torch

from inference.models import build_model, load_checkpoint
from inference.training import TrainingError, TrainProgress, load_train_config, train
from inference.training.config import TrainConfig
from inference.training.trainer import checkpoint_paths
from tests.inference.training.helpers import write_clips

SYSTEMS = ["varietysound", "cascade"]


def tiny(system: str, steps: int, **overrides: Any) -> TrainConfig:
    logging = {
        "log_every": 1,
        "val_every": 1000,
        "preview_every": 1000,
        "checkpoint_every": 1000,
        "progress_bar": False,
    }
    return load_train_config(
        f"{system}_tiny",
        overrides={
            "optim": {"max_steps": steps},
            "logging": logging | overrides.pop("logging", {}),
            **overrides,
        },
    )


@pytest.fixture
def clips(tmp_path: Path) -> tuple[list, list]:
    return write_clips(tmp_path / "train", 4), write_clips(tmp_path / "val", 2, seed=1)


def initial_generator(config: TrainConfig) -> dict[str, torch.Tensor]:
    torch.manual_seed(config.seed)  # the trainer builds the system from the same seed
    model = build_model(config.system, config.model)
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("system", SYSTEMS)
def test_one_training_step_changes_the_weights_and_saves_a_checkpoint(
    system: str, clips: tuple, tmp_path: Path
) -> None:
    config = tiny(system, 1)
    before = initial_generator(config)
    result = train(config, *clips, tmp_path / "run", device="cpu")
    assert result.step == 1 and not result.stopped and result.resumed_from is None
    assert result.losses and all(torch.isfinite(torch.tensor(v)) for v in result.losses.values())
    assert "g_total" in result.losses and "d_total" in result.losses
    loaded = load_checkpoint(result.checkpoint_path)
    assert loaded.kind == system and loaded.step == 1
    assert loaded.data["train_clips"] == 4 and loaded.data["categories"] == ["dog"]
    after = loaded.model.state_dict()
    changed = [k for k, v in before.items() if v.is_floating_point() and not torch.equal(v, after[k])]
    assert len(changed) > len(before) // 3, "an optimizer step moves most of the generator's weights"
    with (tmp_path / "run" / "log.csv").open() as handle:
        assert [int(row["step"]) for row in csv.DictReader(handle)] == [1]


@pytest.mark.parametrize("system", SYSTEMS)
def test_a_resumed_run_continues_from_the_saved_step_as_if_never_stopped(
    system: str, clips: tuple, tmp_path: Path
) -> None:
    config = tiny(system, 4)
    whole = train(config, *clips, tmp_path / "whole", device="cpu")

    asked = iter([False, False, True])
    first = train(config, *clips, tmp_path / "parts", device="cpu", should_stop=lambda: next(asked))
    assert first.stopped and first.step == 2
    second = train(config, *clips, tmp_path / "parts", device="cpu")
    assert second.resumed_from == 2 and second.step == 4 and not second.stopped
    assert [row["step"] for row in second.history] == [3, 4]

    a = load_checkpoint(whole.checkpoint_path).model.state_dict()
    b = load_checkpoint(second.checkpoint_path).model.state_dict()
    for name, tensor in a.items():
        torch.testing.assert_close(b[name], tensor, msg=f"{name} differs after resuming")


def test_a_finished_run_returns_at_once(clips: tuple, tmp_path: Path) -> None:
    config = tiny("varietysound", 2)
    done = train(config, *clips, tmp_path / "run", device="cpu")
    again = train(config, *clips, tmp_path / "run", device="cpu")
    assert again.step == 2 and again.resumed_from == 2 and again.history == []
    assert again.checkpoint_path == done.checkpoint_path


def test_it_refuses_to_resume_on_other_data(clips: tuple, tmp_path: Path) -> None:
    config = tiny("varietysound", 1)
    train(config, *clips, tmp_path / "run", device="cpu")
    others = write_clips(tmp_path / "others", 4, seed=7)
    with pytest.raises(TrainingError, match="other clips"):
        train(config, others, [], tmp_path / "run", device="cpu")


def test_the_discriminators_can_be_switched_off_for_the_ablations(clips: tuple, tmp_path: Path) -> None:
    no_tdad = tiny("varietysound", 1, losses={"alignment_discriminator": False})
    result = train(no_tdad, *clips, tmp_path / "no_tdad", device="cpu")
    assert "d_mel" in result.losses and "d_alignment" not in result.losses
    training = load_checkpoint(result.checkpoint_path, with_training=True).training
    assert training is not None and not any(k.startswith("alignment.") for k in training["discriminators"])

    no_gan = tiny("varietysound", 1, losses={"alignment_discriminator": False, "mel_discriminator": False})
    result = train(no_gan, *clips, tmp_path / "no_gan", device="cpu")
    assert not any(k.startswith("d_") for k in result.losses) and "g_adv" not in result.losses

    cascade = train(
        tiny("cascade", 1, losses={"discriminator": False}), *clips, tmp_path / "cascade", device="cpu"
    )
    assert "d_total" not in cascade.losses and "g_converter_mse" in cascade.losses


def test_it_validates_previews_checkpoints_and_reports_progress(clips: tuple, tmp_path: Path) -> None:
    config = tiny(
        "varietysound",
        4,
        logging={
            "log_every": 2,
            "val_every": 2,
            "preview_every": 4,
            "checkpoint_every": 2,
            "keep_checkpoints": 1,
        },
    )
    events: list[TrainProgress] = []
    result = train(config, *clips, tmp_path / "run", device="cpu", progress=events.append)
    phases = [(e.phase, e.step) for e in events]
    assert (
        ("train", 2) in phases
        and ("val", 2) in phases
        and ("checkpoint", 4) in phases
        and phases[-1] == ("done", 4)
    )
    assert all(e.steps_per_s > 0 for e in events if e.phase == "train")
    assert set(result.val_losses) == {"mel_l1"}
    assert [p.name for p in checkpoint_paths(tmp_path / "run")] == ["step_00000004.pt"]  # keeps the last one
    previews = sorted(p.name for p in (tmp_path / "run" / "previews").iterdir())
    clip = clips[1][0].clip_id
    assert previews == [
        f"step_00000004_{clip}_{pair}{ext}" for pair in ("original", "swapped") for ext in (".npy", ".wav")
    ]
    with (tmp_path / "run" / "val.csv").open() as handle:
        assert [int(row["step"]) for row in csv.DictReader(handle)] == [2, 4]


def test_asking_for_cuda_without_it_is_a_clear_error(clips: tuple, tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(TrainingError, match="CUDA"):
        train(tiny("varietysound", 1), *clips, tmp_path / "run", device="cuda")


def test_a_failing_compiler_falls_back_to_eager_execution() -> None:
    from inference.training.systems import CompiledOrEager

    module = torch.nn.Linear(3, 2)
    wrapped = CompiledOrEager(module)

    def broken(*args: Any) -> Any:
        raise RuntimeError("no C++ compiler on this worker")

    wrapped.compiled = broken
    x = torch.randn(4, 3)
    with pytest.warns(UserWarning, match="running eagerly"):
        assert torch.equal(wrapped(x), module(x))
    assert wrapped.compiled is None
