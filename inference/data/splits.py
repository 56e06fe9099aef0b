"""The paper's per-category split, scaled down for small categories.

VarietySound holds out 32 validation and 32 test clips per VAS category (VAS categories have
hundreds to thousands of clips). We read that as 20 % each at a reference size of 160 clips, which
keeps the split meaningful for the small datasets of the demo and the tests:

- ``n >= 160``: 32 val, 32 test, the rest train (the paper's split);
- ``3 <= n < 160``: ``max(1, round(0.2 * n))`` each for val and test, the rest train
  (40 clips -> 8 / 8 / 24; 3 clips -> 1 / 1 / 1);
- ``n == 2``: 1 train, 1 test; ``n == 1``: 1 train.

Clips are ordered by id and the *last* ones are test, the ones before them val, as RegNet takes the
last ids of each category for its test set.
"""

from __future__ import annotations

from collections.abc import Sequence

PAPER_HELD_OUT = 32
REFERENCE_SIZE = 160


def split_counts(n: int) -> tuple[int, int, int]:
    """(train, val, test) clip counts for a category of ``n`` clips."""
    if n < 0:
        raise ValueError("n must be non-negative")
    if n >= REFERENCE_SIZE:
        return n - 2 * PAPER_HELD_OUT, PAPER_HELD_OUT, PAPER_HELD_OUT
    if n >= 3:
        held = max(1, round(n * PAPER_HELD_OUT / REFERENCE_SIZE))
        return n - 2 * held, held, held
    if n == 2:
        return 1, 0, 1
    return n, 0, 0


def assign_splits(ids: Sequence[str]) -> dict[str, str]:
    """Map each id of one category to "train", "val" or "test" (see the module docstring)."""
    ordered = sorted(ids)
    train, val, _ = split_counts(len(ordered))
    return {
        clip_id: "train" if i < train else "val" if i < train + val else "test"
        for i, clip_id in enumerate(ordered)
    }
