"""The random resampling transform R: segment, stretch/shrink, swap; same length; training only."""

from __future__ import annotations

import torch

from inference.models.resampling import RandomResampling, ResamplingConfig, plan_resampling, random_resample


def ramp(batch: int = 2, channels: int = 3, frames: int = 860) -> torch.Tensor:
    """Each channel counts frames 0, 1, 2, ...: the output shows where every frame was read from."""
    return torch.arange(frames, dtype=torch.float32).expand(batch, channels, frames).clone()


def test_it_preserves_the_shape_of_the_sequence() -> None:
    x = ramp()
    assert random_resample(x, ResamplingConfig()).shape == x.shape
    assert random_resample(x[..., :7], ResamplingConfig()).shape == (2, 3, 7)  # shorter than a segment


def test_it_scrambles_time_by_swapping_segments() -> None:
    out = random_resample(ramp(), ResamplingConfig(), torch.Generator().manual_seed(0))[0, 0]
    assert not torch.equal(out, ramp()[0, 0])
    backward_jumps = int((out.diff() < 0).sum())
    assert backward_jumps >= 5, "swapped segments make the read position jump back several times"
    assert out.min() >= 0 and out.max() <= 859  # it reads only frames that exist


def test_without_swapping_it_only_stretches_and_shrinks_in_order() -> None:
    config = ResamplingConfig(swap=False)
    out = random_resample(ramp(frames=400), config, torch.Generator().manual_seed(3))[0, 0]
    steps = out.diff()
    assert (steps >= 0).sum() > 0.9 * len(steps)  # monotonic within segments ...
    assert not torch.allclose(steps, torch.ones_like(steps)), "... but not at the original speed"
    speeds = {round(float(s), 2) for s in steps if 0 < s < 1.99}
    assert len(speeds) > 3, "each segment has its own factor in [0.5, 1.5)"


def test_every_sequence_of_a_batch_gets_its_own_draw() -> None:
    out = random_resample(ramp(batch=2), ResamplingConfig(), torch.Generator().manual_seed(4))
    assert not torch.equal(out[0], out[1])
    assert torch.equal(out[0, 0], out[0, 2]), "channels of one sequence move together"


def test_the_same_generator_seed_gives_the_same_plan() -> None:
    a = plan_resampling(2, 100, ResamplingConfig(), generator=torch.Generator().manual_seed(9))
    b = plan_resampling(2, 100, ResamplingConfig(), generator=torch.Generator().manual_seed(9))
    assert torch.equal(a.low, b.low) and torch.equal(a.weight, b.weight)


def test_the_module_is_the_identity_in_eval_mode() -> None:
    module = RandomResampling(ResamplingConfig())
    x = ramp()
    assert not torch.equal(module.train()(x), x)
    assert torch.equal(module.eval()(x), x)
