"""The paper's split (32 val + 32 test per category), scaled down for small categories."""

from __future__ import annotations

import pytest

from inference.data.splits import assign_splits, split_counts


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1000, (936, 32, 32)),
        (160, (96, 32, 32)),
        (159, (95, 32, 32)),
        (40, (24, 8, 8)),
        (10, (6, 2, 2)),
        (3, (1, 1, 1)),
        (2, (1, 0, 1)),
        (1, (1, 0, 0)),
        (0, (0, 0, 0)),
    ],
)
def test_split_counts_follow_the_paper_and_scale_down(n: int, expected: tuple[int, int, int]) -> None:
    assert split_counts(n) == expected


def test_every_category_of_three_or_more_clips_has_a_clip_in_each_split() -> None:
    for n in range(3, 400):
        train, val, test = split_counts(n)
        assert min(train, val, test) >= 1 and train + val + test == n
        assert val == test <= 32


def test_the_last_ids_are_test_and_the_ones_before_them_val() -> None:
    ids = [f"video_{i:05d}" for i in range(10)][::-1]  # order of arrival does not matter
    splits = assign_splits(ids)
    assert [splits[f"video_{i:05d}"] for i in range(10)] == ["train"] * 6 + ["val"] * 2 + ["test"] * 2
