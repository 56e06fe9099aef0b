"""Sample selection (paper, Appendix D): what each task's pairs must satisfy, for any split and seed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference.selection import (
    SHARES_GENERATION_WITH,
    Protocol,
    random_derangement,
    select,
    select_category,
)

PAPER_SPLIT = [f"video_{i:05d}" for i in range(32)]  # the paper takes 32 test clips per category

clip_lists = st.lists(st.from_regex(r"[a-z]{1,3}_[0-9]{1,3}", fullmatch=True), max_size=40, unique=True)
seeds = st.integers(min_value=0, max_value=2**32 - 1)
protocols = st.builds(
    Protocol,
    realism=st.sampled_from([0, 2, 3, 10]),
    timbre_references=st.integers(0, 6),
    timbre_videos=st.integers(0, 4),
    ablation=st.integers(0, 12),
)


def test_the_paper_protocol_gives_10_realism_10_alignment_15_timbre_10_ablation_pairs() -> None:
    chosen = select_category("dog", PAPER_SPLIT, seed=1)
    counts = {task: len(chosen.pairs_for(task)) for task in ("realism", "alignment", "timbre", "ablation")}
    assert counts == {"realism": 10, "alignment": 10, "timbre": 15, "ablation": 10}
    assert chosen.warnings == ()


def test_realism_pairs_use_ten_distinct_clips_each_with_another_clips_audio() -> None:
    realism = select_category("dog", PAPER_SPLIT, seed=3).pairs_for("realism")
    videos = [p.video_clip_id for p in realism]
    references = [p.reference_clip_id for p in realism]
    assert len(set(videos)) == 10
    assert sorted(references) == sorted(videos)  # a permutation of the same clips...
    assert not any(p.original for p in realism)  # ...in which no clip keeps its own audio


def test_alignment_reuses_the_realism_pairs_so_the_same_generated_audio_is_muxed() -> None:
    chosen = select_category("drum", PAPER_SPLIT, seed=5)
    realism, alignment = chosen.pairs_for("realism"), chosen.pairs_for("alignment")
    assert [p.generation_key for p in alignment] == [p.generation_key for p in realism]
    assert [p.index for p in alignment] == [p.index for p in realism]
    assert SHARES_GENERATION_WITH["alignment"] == "realism"


def test_timbre_has_five_references_with_three_distinct_videos_from_other_clips() -> None:
    timbre = select_category("baby", PAPER_SPLIT, seed=9).pairs_for("timbre")
    by_reference: dict[str, list[str]] = {}
    for pair in timbre:
        by_reference.setdefault(pair.reference_clip_id, []).append(pair.video_clip_id)
    assert len(by_reference) == 5
    for reference, videos in by_reference.items():
        assert len(set(videos)) == 3 and reference not in videos
    assert [p.index for p in timbre] == list(range(15))


def test_ablation_uses_original_pairs() -> None:
    ablation = select_category("gun", PAPER_SPLIT, seed=2).pairs_for("ablation")
    assert len({p.video_clip_id for p in ablation}) == 10
    assert all(p.original for p in ablation)


def test_ground_truth_clips_are_the_selected_clips_the_references_and_the_ablation_clips() -> None:
    chosen = select_category("cough", PAPER_SPLIT, seed=4)
    realism_videos = tuple(p.video_clip_id for p in chosen.pairs_for("realism"))
    assert chosen.ground_truth_clip_ids("realism") == realism_videos
    assert chosen.ground_truth_clip_ids("alignment") == realism_videos
    assert len(chosen.ground_truth_clip_ids("timbre")) == 5
    assert set(chosen.ground_truth_clip_ids("timbre")) == {
        p.reference_clip_id for p in chosen.pairs_for("timbre")
    }
    assert chosen.ground_truth_clip_ids("ablation") == tuple(
        p.video_clip_id for p in chosen.pairs_for("ablation")
    )


def test_a_category_with_seven_clips_scales_down_with_warnings() -> None:
    chosen = select_category("sneeze", PAPER_SPLIT[:7], seed=0)
    assert len(chosen.pairs_for("realism")) == 7
    assert len(chosen.pairs_for("timbre")) == 15  # 5 references x 3 of the 6 other clips still fit
    assert len(chosen.pairs_for("ablation")) == 7
    assert {(w.task, w.wanted, w.got) for w in chosen.warnings} == {("realism", 10, 7), ("ablation", 10, 7)}


def test_a_category_with_one_clip_has_only_its_original_pair() -> None:
    chosen = select_category("hammer", ["only"], seed=0)
    assert [p.task for p in chosen.pairs] == ["ablation"]
    assert {w.task for w in chosen.warnings} == {"realism", "timbre", "ablation"}
    assert all(w.got == 0 for w in chosen.warnings if w.task != "ablation")


def test_timbre_with_three_clips_uses_two_videos_per_reference() -> None:
    chosen = select_category("dog", ["a", "b", "c"], seed=0)
    assert len(chosen.pairs_for("timbre")) == 3 * 2
    assert any(w.task == "timbre" and w.got == 6 for w in chosen.warnings)


def test_the_input_order_of_clip_ids_does_not_matter() -> None:
    shuffled = list(np.random.default_rng(0).permutation(PAPER_SPLIT))
    assert select_category("dog", shuffled, seed=8) == select_category("dog", PAPER_SPLIT, seed=8)


def test_changing_the_timbre_count_leaves_the_realism_draw_alone() -> None:
    base = select_category("dog", PAPER_SPLIT, seed=8)
    other = select_category("dog", PAPER_SPLIT, seed=8, protocol=Protocol(timbre_references=2))
    assert base.pairs_for("realism") == other.pairs_for("realism")
    assert base.pairs_for("ablation") == other.pairs_for("ablation")


def test_bad_inputs_are_rejected_with_clear_errors() -> None:
    with pytest.raises(ValueError, match="repeated"):
        select_category("dog", ["a", "a"], seed=0)
    with pytest.raises(ValueError, match="seed"):
        select_category("dog", ["a", "b"], seed=-1)
    with pytest.raises(TypeError, match="one string"):
        select_category("dog", "abc", seed=0)
    with pytest.raises(ValueError, match="realism"):
        Protocol(realism=1)
    with pytest.raises(ValueError, match="non-negative"):
        Protocol(ablation=-2)
    with pytest.raises(ValueError, match="unknown task"):
        select_category("dog", ["a", "b"], seed=0).pairs_for("realsm")  # type: ignore[arg-type]


@given(n=st.integers(2, 60), seed=seeds)
def test_a_derangement_is_a_permutation_without_fixed_points(n: int, seed: int) -> None:
    perm = random_derangement(n, np.random.default_rng(seed))
    assert sorted(perm.tolist()) == list(range(n))
    assert not np.any(perm == np.arange(n))


def test_every_derangement_of_three_is_drawn() -> None:
    rng = np.random.default_rng(0)
    drawn = {tuple(random_derangement(3, rng).tolist()) for _ in range(200)}
    assert drawn == {(1, 2, 0), (2, 0, 1)}


@settings(max_examples=150, deadline=None)
@given(ids=clip_lists, seed=seeds, protocol=protocols)
def test_any_split_gives_valid_pairs_and_honest_counts(ids: list[str], seed: int, protocol: Protocol) -> None:
    chosen = select_category("cat", ids, seed=seed, protocol=protocol)
    n = len(ids)
    for pair in chosen.pairs:
        assert pair.video_clip_id in ids and pair.reference_clip_id in ids
        assert pair.category == "cat"
    realism = chosen.pairs_for("realism")
    expected_realism = min(protocol.realism, n) if n >= 2 else 0
    assert len(realism) == expected_realism
    assert not any(p.original for p in realism)
    assert len(chosen.pairs_for("alignment")) == expected_realism
    timbre = chosen.pairs_for("timbre")
    refs = min(protocol.timbre_references, n) if n >= 2 else 0
    assert len(timbre) == refs * min(protocol.timbre_videos, max(n - 1, 0))
    assert not any(p.original for p in timbre)
    ablation = chosen.pairs_for("ablation")
    assert len(ablation) == min(protocol.ablation, n)
    assert all(p.original for p in ablation)
    # A warning exactly for each task that got less than it asked for.
    short = {
        t
        for t, got, want in [
            ("realism", len(realism), protocol.realism),
            ("timbre", len(timbre), protocol.timbre_references * protocol.timbre_videos),
            ("ablation", len(ablation), protocol.ablation),
        ]
        if got < want
    }
    assert sorted(w.task for w in chosen.warnings) == sorted(short)  # one warning per short task
    assert all(w.got < w.wanted for w in chosen.warnings)


@settings(max_examples=60, deadline=None)
@given(ids=clip_lists, seed=seeds)
def test_the_same_seed_gives_the_same_selection(ids: list[str], seed: int) -> None:
    assert select_category("cat", ids, seed=seed) == select_category("cat", list(reversed(ids)), seed=seed)


@settings(max_examples=40, deadline=None)
@given(
    splits=st.dictionaries(st.sampled_from(["dog", "drum", "gun", "baby", "cough"]), clip_lists, min_size=1),
    extra=clip_lists,
    seed=seeds,
)
def test_a_category_is_unaffected_by_the_order_or_addition_of_other_categories(
    splits: dict[str, list[str]], extra: list[str], seed: int
) -> None:
    base = select(splits, seed=seed)
    reordered = select(dict(reversed(list(splits.items()))), seed=seed)
    grown = select({**splits, "zebra": extra}, seed=seed)
    for name in splits:
        assert reordered.categories[name] == base.categories[name]
        assert grown.categories[name] == base.categories[name]
    assert base.pairs == reordered.pairs


def test_different_seeds_give_different_selections() -> None:
    draws = {select_category("dog", PAPER_SPLIT, seed=s).pairs for s in range(5)}
    assert len(draws) == 5


def test_a_selection_collects_pairs_and_warnings_in_category_order() -> None:
    chosen = select({"b": ["x", "y", "z"], "a": PAPER_SPLIT}, seed=0)
    assert [p.category for p in chosen.pairs] == sorted(p.category for p in chosen.pairs)
    assert {w.category for w in chosen.warnings} == {"b"}
