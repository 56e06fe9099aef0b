"""MOS statistics (studies/stats.py): what the numbers on the results page must be."""

from __future__ import annotations

import json
import math
import statistics
import warnings

import krippendorff
import numpy as np
import pytest
from scipy import stats

from studies.stats import (
    RatingSet,
    _PigeonholeMeans,
    compare_conditions,
    krippendorff_alpha,
    low_variance_raters,
    mos_t,
    outlier_raters,
    report,
    two_way_bootstrap,
)

KNOWN = [3, 4, 5, 4, 2, 5, 3, 4, 4, 1, 5, 3]


def ratings(score, rater, item, condition, labels=("a",)) -> RatingSet:
    return RatingSet(
        score=np.asarray(score),
        rater=np.asarray(rater),
        item=np.asarray(item),
        condition=np.asarray(condition),
        condition_labels=labels,
    )


def to_scale(latent: np.ndarray) -> np.ndarray:
    """Continuous opinions → the 1..5 scale, as a rater's click would."""
    return np.clip(np.rint(latent), 1, 5).astype(np.int64)


# -- textbook intervals ------------------------------------------------------------------------------


def test_the_t_interval_is_the_mean_plus_minus_the_t_quantile_times_s_over_root_n() -> None:
    n, mean, s = len(KNOWN), statistics.mean(KNOWN), statistics.stdev(KNOWN)
    half = stats.t.ppf(0.975, n - 1) * s / math.sqrt(n)

    ci = mos_t(KNOWN)

    assert ci.n == n
    assert ci.mean == pytest.approx(mean, abs=1e-12)
    assert ci.sd == pytest.approx(s, abs=1e-12)
    assert (ci.low, ci.high) == pytest.approx((mean - half, mean + half), abs=1e-12)


def test_the_normal_half_width_is_p808s_1_96_times_s_over_root_n_and_narrower_than_t() -> None:
    s, n = statistics.stdev(KNOWN), len(KNOWN)

    ci = mos_t(KNOWN)

    assert ci.normal_half_width == pytest.approx(1.96 * s / math.sqrt(n), abs=1e-12)
    assert ci.normal_half_width < ci.t_half_width


def test_a_single_rating_has_a_mean_but_no_interval_and_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ci = mos_t([4])
    assert ci.mean == 4.0
    assert math.isnan(ci.sd) and math.isnan(ci.t_half_width) and math.isnan(ci.normal_half_width)


def test_no_ratings_is_an_error_not_a_silent_nan() -> None:
    with pytest.raises(ValueError, match="at least one score"):
        mos_t([])


# -- the rating set ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "message"),
    [
        ([3, 0, 4], r"in 1\.\.5; got 0 at index 1"),
        ([3, 6, 4], r"in 1\.\.5; got 6 at index 1"),
        ([3.0, float("nan"), 4.0], r"NaN at index 1"),
        ([3.0, 2.5, 4.0], r"whole numbers 1\.\.5; got 2\.5 at index 1"),
    ],
)
def test_a_rating_set_refuses_scores_off_the_five_point_scale(score, message) -> None:
    with pytest.raises(ValueError, match=message):
        ratings(score, [0, 1, 2], [0, 0, 0], [0, 0, 0])


def test_a_rating_set_refuses_arrays_of_different_lengths_and_names_them() -> None:
    with pytest.raises(ValueError, match="same length; got score 3, rater 3, item 2, condition 3"):
        ratings([3, 4, 5], [0, 1, 2], [0, 0], [0, 0, 0])


def test_a_rating_set_refuses_codes_that_are_not_integers_or_have_no_label() -> None:
    with pytest.raises(ValueError, match="rater codes must be integers; got dtype float64"):
        ratings([3, 4], [0.0, 1.0], [0, 0], [0, 0])
    with pytest.raises(ValueError, match="item codes must be non-negative"):
        ratings([3, 4], [0, 1], [0, -1], [0, 0])
    with pytest.raises(ValueError, match="condition code 1 has no label"):
        ratings([3, 4], [0, 1], [0, 0], [0, 1])


def test_records_are_factorised_in_order_of_first_appearance() -> None:
    rs = RatingSet.from_records(
        [("bob", "clip-2", "dog/gt", 4), ("ann", "clip-1", "dog/ours", 5), ("bob", "clip-1", "dog/ours", 3)]
    )
    assert rs.rater.tolist() == [0, 1, 0] and rs.rater_labels == ("bob", "ann")
    assert rs.item.tolist() == [0, 1, 1] and rs.item_labels == ("clip-2", "clip-1")
    assert rs.condition.tolist() == [0, 1, 1] and rs.condition_labels == ("dog/gt", "dog/ours")
    assert rs.score.tolist() == [4, 5, 3]


def test_records_keep_the_given_conditions_in_order_even_without_ratings() -> None:
    rs = RatingSet.from_records([("r", "i", "b", 2)], condition_labels=["a", "b"])
    assert rs.condition.tolist() == [1]
    with pytest.raises(ValueError, match="condition 'c' is not among condition_labels"):
        RatingSet.from_records([("r", "i", "c", 2)], condition_labels=["a", "b"])
    with pytest.raises(ValueError, match="NaN"):
        RatingSet.from_records([("r", "i", "a", None)])


# -- the two-way bootstrap ---------------------------------------------------------------------------


def test_each_replicate_weighs_a_rating_by_its_raters_count_times_its_items_count() -> None:
    rng = np.random.default_rng(5)
    # Few raters and many items (rows are items), then many raters and few items (rows are raters).
    for n_raters, n_items in ((4, 60), (60, 4)):
        n = 300
        rater, item = rng.integers(0, n_raters, n), rng.integers(0, n_items, n)
        condition = item % 3
        condition[rater == 0] = 3  # a condition reached through one rater only
        rs = ratings(
            rng.integers(1, 6, n), rater * 7, item + 100, condition, labels=("a", "b", "c", "d", "e")
        )
        c, d = rng.integers(0, 4, (6, n_raters)), rng.integers(0, 4, (6, n_items))
        c[0, 0] = 0  # replicate 0 draws no rating of condition "d"

        means = _PigeonholeMeans(rs)(c, d)

        for b in range(6):
            w = c[b, rater] * d[b, item]
            for k in range(5):
                in_k = condition == k
                expected = (w[in_k] * rs.score[in_k]).sum() / w[in_k].sum() if w[in_k].sum() else math.nan
                assert means[b, k] == pytest.approx(expected, abs=1e-12, nan_ok=True)
        assert math.isnan(means[0, 3]) and np.isnan(means[:, 4]).all()


def test_without_rater_or_item_effects_the_bootstrap_is_root_3_times_the_t_interval() -> None:
    """Owen's pigeonhole bootstrap counts the residual variance three times (see two_way_bootstrap): with
    iid ratings, each item rated once, the expected ratio of widths is √3 ≈ 1.73. Tolerance ±12 %: over
    20 other data sets and seeds the ratio / √3 was 0.98 ± 0.033 (percentile endpoints of B = 1000
    replicates, and the data's own sampling error), so ±12 % is over 3 standard errors; it still rules
    out a one-way (rater only) bootstrap, ≈ √2 ≈ 1.41, and a plain iid one, ≈ 1.0."""
    rng = np.random.default_rng(11)
    n = 20_000
    score = rng.integers(1, 6, n)
    rs = ratings(score, np.arange(n) // 20, np.arange(n), np.zeros(n, dtype=int))

    boot = two_way_bootstrap(rs, n_boot=1000, seed=3)

    width_t = 2 * mos_t(score).t_half_width
    assert (boot.high[0] - boot.low[0]) / width_t == pytest.approx(math.sqrt(3), rel=0.12)


def test_with_strong_rater_effects_the_bootstrap_follows_the_raters_not_the_ratings() -> None:
    """50 raters with biases of sd 0.8 each rate the same 400 items: the mean's uncertainty is that of 50
    rater means, so the t interval over those is the reference (over 20 other data sets and seeds the
    ratio was 0.96 ± 0.02; ±15 % leaves room for the percentile method with 50 clusters), and it is
    some 14 times the t interval over the 20,000 ratings."""
    rng = np.random.default_rng(12)
    n_raters, n_items = 50, 400
    rater, item = np.divmod(np.arange(n_raters * n_items), n_items)
    score = to_scale(3 + rng.normal(0, 0.8, n_raters)[rater] + rng.normal(0, 0.7, rater.size))
    rs = ratings(score, rater, item, np.zeros(rater.size, dtype=int))

    boot = two_way_bootstrap(rs, n_boot=1000, seed=0)

    width = boot.high[0] - boot.low[0]
    rater_means = np.bincount(rater, weights=score) / n_items
    assert width == pytest.approx(2 * mos_t(rater_means).t_half_width, rel=0.15)
    assert width > 5 * 2 * mos_t(score).t_half_width


def test_the_bootstrap_is_reproducible_for_a_seed_and_changes_with_it() -> None:
    rng = np.random.default_rng(13)
    n = 3000
    rs = ratings(
        rng.integers(1, 6, n),
        rng.integers(0, 80, n),
        rng.integers(0, 200, n),
        rng.integers(0, 2, n),
        ("a", "b"),
    )

    first, again = two_way_bootstrap(rs, n_boot=150, seed=7), two_way_bootstrap(rs, n_boot=150, seed=7)
    other = two_way_bootstrap(rs, n_boot=150, seed=8)

    np.testing.assert_array_equal(first.replicates, again.replicates)
    np.testing.assert_array_equal(first.low, again.low)
    assert not np.array_equal(first.replicates, other.replicates)
    assert (first.low < rs.score.mean() + 0.2).all() and (first.low < first.high).all()


# -- comparisons -------------------------------------------------------------------------------------


def _four_conditions() -> RatingSet:
    rng = np.random.default_rng(21)
    means = {"gt": 4.2, "ours": 3.9, "base": 3.2, "ours-2": 3.85}
    rows = []
    for label, mu in means.items():
        for i, opinion in enumerate(rng.normal(mu, 0.9, 120)):
            rows.append((f"r{i % 15}", f"{label}-{i % 40}", label, int(to_scale(np.array([opinion]))[0])))
    return RatingSet.from_records(rows)


def test_mann_whitney_p_and_effect_size_are_scipys_on_the_two_conditions_ratings() -> None:
    rs = _four_conditions()
    gt, base = rs.score[rs.condition == 0], rs.score[rs.condition == 2]
    expected = stats.mannwhitneyu(gt, base, alternative="two-sided")
    wins = (gt[:, None] > base[None, :]).sum() + 0.5 * (gt[:, None] == base[None, :]).sum()

    (comparison,) = compare_conditions(rs, [("gt", "base")])

    assert comparison.p == expected.pvalue and comparison.u == expected.statistic
    assert comparison.cles == pytest.approx(wins / (gt.size * base.size), abs=1e-12)
    assert comparison.rank_biserial == pytest.approx(2 * comparison.cles - 1, abs=1e-12)
    assert comparison.p_holm == comparison.p  # a family of one


def test_holm_adjusts_the_family_of_comparisons_step_down() -> None:
    rs = _four_conditions()
    pairs = [("gt", "ours"), ("gt", "base"), ("ours", "base"), ("ours", "ours-2"), ("gt", "ours-2")]

    result = compare_conditions(rs, pairs)

    p = np.array([c.p for c in result])
    m = p.size
    order = np.argsort(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):  # Holm: (m − rank) · p_(rank), made monotone, capped at 1
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    assert [c.p_holm for c in result] == pytest.approx(adjusted.tolist(), rel=1e-12)
    assert [c.significant for c in result] == (adjusted <= 0.05).tolist()
    assert any(c.significant for c in result) and not all(c.significant for c in result)


# -- agreement ---------------------------------------------------------------------------------------


def test_alpha_from_counts_equals_krippendorffs_alpha_on_the_dense_rater_by_item_matrix() -> None:
    nan = math.nan
    dense = np.array(  # 4 raters × 7 items; item 6 has a single rating; nobody used 3
        [
            [1, 2, 5, 4, nan, 2, nan],
            [1, 2, 4, 4, 5, nan, 4],
            [nan, 1, 5, 5, 5, 2, nan],
            [2, 2, 5, nan, 4, 1, nan],
        ]
    )
    rater, item = np.nonzero(~np.isnan(dense))
    rs = ratings(dense[rater, item].astype(int), rater, item, np.zeros(rater.size, dtype=int))

    expected = krippendorff.alpha(reliability_data=dense, level_of_measurement="ordinal")

    assert krippendorff_alpha(rs) == pytest.approx(expected, abs=1e-12)


def test_alpha_by_condition_matches_the_dense_route_per_condition() -> None:
    rng = np.random.default_rng(31)
    n_raters, n_items = 12, 30
    quality = rng.integers(1, 6, n_items)
    dense = to_scale(quality[None, :] + rng.normal(0, 0.8, (n_raters, n_items))).astype(float)
    dense[rng.random(dense.shape) < 0.4] = math.nan
    rater, item = np.nonzero(~np.isnan(dense))
    rs = ratings(dense[rater, item].astype(int), rater, item, item % 2, ("even", "odd"))

    alphas = krippendorff_alpha(rs, by_condition=True)

    for code, label in enumerate(("even", "odd")):
        expected = krippendorff.alpha(reliability_data=dense[:, code::2], level_of_measurement="ordinal")
        assert alphas[label] == pytest.approx(expected, abs=1e-12)


def test_alpha_is_one_for_perfect_agreement_and_nan_when_nothing_pairs() -> None:
    quality = np.array([1, 3, 5, 2, 4, 4])
    rater, item = np.divmod(np.arange(3 * quality.size), quality.size)
    agreeing = ratings(quality[item], rater, item, np.zeros(rater.size, dtype=int))
    assert krippendorff_alpha(agreeing) == pytest.approx(1.0)

    lone = ratings([1, 5, 3], [0, 1, 2], [0, 1, 2], [0, 0, 0])  # every item rated once
    assert math.isnan(krippendorff_alpha(lone))


# -- screening ---------------------------------------------------------------------------------------


def _crowd_with_a_flat_and_a_harsh_rater() -> tuple[RatingSet, int, int]:
    """30 raters rate the same 40 items (qualities spread evenly around 3, honest raters with noise of
    sd 0.6 and no bias). Rater 7 clicks 3 every time; rater 19 scores everything two points too low."""
    rng = np.random.default_rng(41)
    n_raters, n_items = 30, 40
    rater, item = np.divmod(np.arange(n_raters * n_items), n_items)
    quality = np.linspace(1.5, 4.5, n_items)
    latent = quality[item] + rng.normal(0, 0.6, rater.size)
    latent[rater == 19] -= 2.0
    score = to_scale(latent)
    score[rater == 7] = 3
    codes = 100 + rater  # codes need not start at 0
    return ratings(score, codes, item, item % 2, ("a", "b")), 107, 119


def test_screening_finds_the_rater_who_clicked_the_same_score_and_nobody_else() -> None:
    rs, flat, _ = _crowd_with_a_flat_and_a_harsh_rater()
    assert low_variance_raters(rs) == {flat}
    short = ratings([3, 3, 3, 3], [0, 0, 0, 0], [0, 1, 2, 3], [0, 0, 0, 0])
    assert low_variance_raters(short, min_ratings=5) == set()  # four ratings do not make a pattern


def test_screening_finds_the_rater_far_from_everyone_elses_opinion_and_nobody_else() -> None:
    rs, _, harsh = _crowd_with_a_flat_and_a_harsh_rater()
    assert outlier_raters(rs) == {harsh}
    assert outlier_raters(rs.without_raters([harsh])) == set()


# -- the report --------------------------------------------------------------------------------------


def test_the_report_summarises_each_condition_and_serialises_to_strict_json() -> None:
    rs = _four_conditions()
    rs = RatingSet(
        score=rs.score,
        rater=rs.rater,
        item=rs.item,
        condition=rs.condition,
        condition_labels=(*rs.condition_labels, "not-rated-yet"),
    )

    result = report(rs, pairs=[("gt", "base"), ("ours", "base")], n_boot=200, seed=1)

    gt = result.conditions[0]
    direct = mos_t(rs.score[rs.condition == 0])
    assert (gt.label, gt.n_ratings, gt.n_raters, gt.n_items) == ("gt", 120, 15, 40)
    assert (gt.mean, gt.t_low, gt.t_high) == pytest.approx((direct.mean, direct.low, direct.high))
    assert gt.boot_low < gt.mean < gt.boot_high
    assert result.conditions[-1].n_ratings == 0 and math.isnan(result.conditions[-1].mean)
    assert [(c.a, c.b) for c in result.comparisons] == [("gt", "base"), ("ours", "base")]
    assert result.n_ratings == 480 and result.n_boot == 200

    data = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    assert data["conditions"][-1]["mean"] is None and data["conditions"][-1]["boot_low"] is None
    assert data["comparisons"][0]["significant"] is True
    assert data["alpha"] == pytest.approx(result.alpha)
