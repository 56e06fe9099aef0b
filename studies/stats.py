"""MOS statistics: confidence intervals, the two-way bootstrap, comparisons, agreement, rater screening.

Pure functions: numpy arrays in, dataclasses out. Nothing here imports Django, so the same code serves
the results pages, the exports, a notebook and ``bench/bench_mos_stats.py``.

A study's ratings arrive as a :class:`RatingSet`: parallel arrays of scores (1..5) and integer codes
for the rater, the item (the stimulus) and the condition (one category × system within a study).
What is reported per condition (REFERENCE.md, "MOS statistics"):

- the MOS with two textbook intervals over the pooled ratings: Student's t, t(0.975, n − 1) · s/√n,
  and P.808's normal 1.96 · s/√n (the same for large n, too narrow for small n);
- an interval that respects how the ratings were collected: the same raters and the same items recur,
  so ratings are not independent and both textbook intervals are too narrow. The two-way (pigeonhole)
  bootstrap resamples raters and items (:func:`two_way_bootstrap`);
- Mann–Whitney U between conditions, Holm-corrected over the family of comparisons;
- Krippendorff's α (ordinal) as inter-rater agreement;
- P.808-style screening helpers that name raters to drop.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import krippendorff
import numpy as np
import scipy.sparse as sp
from scipy import stats
from statsmodels.stats.multitest import multipletests

SCORES = np.arange(1, 6)  # the 5-point absolute category rating scale
P808_Z = 1.96  # ITU-T P.808's normal quantile, kept literal so figures match P.808 reports
ALPHA = 0.05  # family-wise error rate of the comparisons
BOOT_CHUNK = 64  # replicates per sparse product; fixed so that a seed always gives the same replicates


# --------------------------------------------------------------------------------------------------
# Ratings


@dataclass(frozen=True, eq=False)
class RatingSet:
    """One rating per row: ``score[n]`` given by rater ``rater[n]`` to item ``item[n]`` of ``condition[n]``.

    Codes are non-negative integers; ``condition`` indexes ``condition_labels`` (a condition may have
    no ratings yet). ``rater_labels`` and ``item_labels`` are optional, for display. The arrays are
    copied and made read-only, so a RatingSet can be shared by every statistic without surprises.
    """

    score: np.ndarray
    rater: np.ndarray
    item: np.ndarray
    condition: np.ndarray
    condition_labels: tuple[Hashable, ...]
    rater_labels: tuple[Hashable, ...] | None = None
    item_labels: tuple[Hashable, ...] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "condition_labels", tuple(self.condition_labels))
        if len(set(self.condition_labels)) != len(self.condition_labels):
            raise ValueError("condition_labels must be unique")
        for name in ("rater_labels", "item_labels"):
            labels = getattr(self, name)
            if labels is not None:
                set_(self, name, tuple(labels))
        set_(self, "score", _scores(self.score))
        for name in ("rater", "item", "condition"):
            set_(self, name, _codes(getattr(self, name), name))
        lengths = {name: len(getattr(self, name)) for name in ("score", "rater", "item", "condition")}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{name} {n}" for name, n in lengths.items())
            raise ValueError(f"score, rater, item and condition must have the same length; got {shown}")
        for name, labels in (
            ("condition", self.condition_labels),
            ("rater", self.rater_labels),
            ("item", self.item_labels),
        ):
            codes = getattr(self, name)
            if labels is not None and codes.size and codes.max() >= len(labels):
                raise ValueError(f"{name} code {codes.max()} has no label ({len(labels)} {name} labels)")

    @classmethod
    def from_records(
        cls,
        records: Iterable[tuple[Hashable, Hashable, Hashable, float]],
        *,
        condition_labels: Sequence[Hashable] | None = None,
    ) -> RatingSet:
        """Ratings from ``(rater_key, item_key, condition_key, score)`` tuples, keys factorised in order of
        first appearance. ``condition_labels`` fixes the conditions and their order (conditions without
        ratings included); a record with another condition is then a ValueError."""
        rows = list(records)
        if any(len(row) != 4 for row in rows):
            raise ValueError("each record must be (rater_key, item_key, condition_key, score)")
        raters, items, conditions, scores = zip(*rows, strict=True) if rows else ((), (), (), ())
        rater_codes, rater_labels = _factorise(raters)
        item_codes, item_labels = _factorise(items)
        if condition_labels is None:
            condition_codes, labels = _factorise(conditions)
        else:
            labels = tuple(condition_labels)
            index = {label: code for code, label in enumerate(labels)}
            unknown = next((key for key in conditions if key not in index), None)
            if unknown is not None:
                raise ValueError(f"condition {unknown!r} is not among condition_labels")
            condition_codes = np.fromiter((index[key] for key in conditions), np.int64, len(conditions))
        try:
            score = np.array(scores, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"scores must be numbers 1..5: {error}") from None
        return cls(
            score=score,
            rater=rater_codes,
            item=item_codes,
            condition=condition_codes,
            condition_labels=labels,
            rater_labels=rater_labels,
            item_labels=item_labels,
        )

    def __len__(self) -> int:
        return int(self.score.size)

    @property
    def n_conditions(self) -> int:
        return len(self.condition_labels)

    def condition_code(self, label: Hashable) -> int:
        try:
            return self.condition_labels.index(label)
        except ValueError:
            raise ValueError(f"unknown condition {label!r}") from None

    def without_raters(self, raters: Iterable[int]) -> RatingSet:
        """The same set without the ratings of these rater codes (screening's outcome)."""
        keep = ~np.isin(self.rater, np.fromiter(raters, np.int64))
        return RatingSet(
            score=self.score[keep],
            rater=self.rater[keep],
            item=self.item[keep],
            condition=self.condition[keep],
            condition_labels=self.condition_labels,
            rater_labels=self.rater_labels,
            item_labels=self.item_labels,
        )

    def scores_by_condition(self) -> list[np.ndarray]:
        """The scores of each condition code, in one stable sort rather than one scan per condition."""
        order = np.argsort(self.condition, kind="stable")
        bounds = np.searchsorted(self.condition[order], np.arange(self.n_conditions + 1))
        sorted_scores = self.score[order]
        return [sorted_scores[bounds[k] : bounds[k + 1]] for k in range(self.n_conditions)]


def _scores(values: Any) -> np.ndarray:
    score = np.asarray(values)
    if score.ndim != 1:
        raise ValueError(f"score must be one-dimensional; got shape {score.shape}")
    if score.dtype.kind not in "iuf" and score.size:
        raise ValueError(f"scores must be numbers 1..5; got dtype {score.dtype}")
    if score.dtype.kind == "f":
        missing = np.flatnonzero(np.isnan(score))
        if missing.size:
            raise ValueError(f"score is NaN at index {missing[0]} ({missing.size} NaN in all)")
        fractional = np.flatnonzero(score != np.round(score))
        if fractional.size:
            raise ValueError(
                f"scores must be whole numbers 1..5; got {score[fractional[0]]} at index {fractional[0]}"
            )
    outside = np.flatnonzero((score < SCORES[0]) | (score > SCORES[-1]))
    if outside.size:
        raise ValueError(f"scores must be in 1..5; got {score[outside[0]]:g} at index {outside[0]}")
    return _frozen(score.astype(np.int64))


def _codes(values: Any, name: str) -> np.ndarray:
    codes = np.asarray(values)
    if codes.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {codes.shape}")
    if codes.size == 0:
        return _frozen(codes.astype(np.int64))
    if codes.dtype.kind not in "iu":
        raise ValueError(f"{name} codes must be integers; got dtype {codes.dtype}")
    if codes.min() < 0:
        raise ValueError(f"{name} codes must be non-negative; got {codes.min()}")
    return _frozen(codes.astype(np.int64))


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.flags.writeable = False
    return array


def _factorise(keys: Sequence[Hashable]) -> tuple[np.ndarray, tuple[Hashable, ...]]:
    index: dict[Hashable, int] = {}
    codes = np.fromiter((index.setdefault(key, len(index)) for key in keys), np.int64, len(keys))
    return codes, tuple(index)


# --------------------------------------------------------------------------------------------------
# Textbook intervals


@dataclass(frozen=True)
class MosCI:
    """Mean opinion score of ``n`` ratings with 95 % half-widths: Student's t and P.808's 1.96."""

    n: int
    mean: float
    sd: float  # sample standard deviation (ddof = 1); nan for n = 1
    t_half_width: float  # t(0.975, n − 1) · sd / √n; nan for n = 1
    normal_half_width: float  # 1.96 · sd / √n (P.808); nan for n = 1

    @property
    def low(self) -> float:
        return self.mean - self.t_half_width

    @property
    def high(self) -> float:
        return self.mean + self.t_half_width


def mos_t(scores: Sequence[float] | np.ndarray) -> MosCI:
    """The MOS of ``scores`` with its t and normal 95 % intervals, treating the ratings as independent."""
    x = np.asarray(scores, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("mos_t needs at least one score")
    mean = float(x.mean())
    if x.size == 1:  # no spread to estimate: say so with nan rather than a division warning
        return MosCI(n=1, mean=mean, sd=math.nan, t_half_width=math.nan, normal_half_width=math.nan)
    sd = float(x.std(ddof=1))
    se = sd / math.sqrt(x.size)
    t = float(stats.t.ppf(0.975, x.size - 1))
    return MosCI(n=int(x.size), mean=mean, sd=sd, t_half_width=t * se, normal_half_width=P808_Z * se)


# --------------------------------------------------------------------------------------------------
# Two-way bootstrap


@dataclass(frozen=True, eq=False)
class BootstrapCI:
    """Percentile 95 % intervals of each condition's MOS under the two-way bootstrap.

    ``low`` and ``high`` are indexed by condition code (nan for a condition without ratings);
    ``replicates[b, k]`` is replicate b's mean of condition k (nan when the replicate drew none of the
    condition's raters or items; such replicates are left out of that condition's percentiles).
    """

    low: np.ndarray
    high: np.ndarray
    replicates: np.ndarray
    n_boot: int
    seed: int


def two_way_bootstrap(rs: RatingSet, *, n_boot: int = 1000, seed: int = 0) -> BootstrapCI:
    """95 % percentile intervals of every condition's MOS, resampling raters and items together.

    Why: a MOS pools ratings that are not independent. A lenient rater lifts every score they give,
    and an item (stimulus) that happens to sound good lifts every rating it gets, so the error of a
    condition's mean is driven by how many raters and items it has, not only by how many ratings;
    the t and 1.96 intervals, which count ratings, are then too narrow. Raters and items are crossed
    (neither nests in the other), so resampling one of them alone misses the other's variance.

    How (the "pigeonhole" bootstrap, Owen 2007): each replicate draws the raters with replacement
    (rater r drawn c_r times) and, independently, the items (item i drawn d_i times); a rating of r on i
    then enters the replicate c_r · d_i times, and the replicate's MOS of a condition is
    Σ c_r d_i x / Σ c_r d_i over the condition's ratings. The interval is the 2.5 and 97.5 percentiles
    of the replicates. Every condition is resampled with the same draws, as the study drew them.

    Known conservativeness: the bootstrap counts the residual (rating-level) variance about three times
    instead of once, while the rater and item variances come out about right. So the interval is a
    little wide when rater and item effects dominate, which is the usual case in listening tests, and
    √3 ≈ 1.73 times the t interval in the worst case: ratings with no rater or item effect at all.

    Speed: with the ratings of each (condition, item) as rows and raters as columns (or the other way
    round, whichever gives fewer rows), one sparse × dense product per chunk of replicates weighs every
    rating by its rater's counts; the item counts and the per-condition sums follow as dense array
    operations. Cost ∝ ratings × replicates, with no Python loop over ratings.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1; got {n_boot}")
    k = rs.n_conditions
    low, high = np.full(k, math.nan), np.full(k, math.nan)
    replicates = np.full((n_boot, k), math.nan)
    if len(rs) == 0:
        return BootstrapCI(low=low, high=high, replicates=replicates, n_boot=n_boot, seed=seed)

    weigh = _PigeonholeMeans(rs)
    rng = np.random.default_rng(seed)
    for first in range(0, n_boot, BOOT_CHUNK):
        b = min(BOOT_CHUNK, n_boot - first)
        rater_counts = _cluster_counts(rng, weigh.n_raters, b)
        item_counts = _cluster_counts(rng, weigh.n_items, b)
        replicates[first : first + b] = weigh(rater_counts, item_counts)

    for code in weigh.present:
        drawn = replicates[:, code][~np.isnan(replicates[:, code])]
        low[code], high[code] = np.percentile(drawn, [2.5, 97.5])
    return BootstrapCI(low=low, high=high, replicates=replicates, n_boot=n_boot, seed=seed)


class _PigeonholeMeans:
    """Every condition's mean with rating (r, i) weighted c_r · d_i, for a batch of count vectors.

    Raters and items are numbered 0.. in the order of their codes (np.unique). The ratings become a
    sparse matrix with one row per distinct (condition, item) and one column per rater (or the other way
    round, whichever gives fewer rows), the scores in a top half and ones in a bottom half; one sparse
    × dense product with the column clusters' counts then gives, per row, Σ c x and Σ c for all
    replicates at once; the row clusters' counts and a sum per condition finish the job.
    """

    def __init__(self, rs: RatingSet) -> None:
        _, rater = np.unique(rs.rater, return_inverse=True)
        _, item = np.unique(rs.item, return_inverse=True)
        self.n_raters, self.n_items = int(rater.max()) + 1, int(item.max()) + 1
        self.n_conditions = rs.n_conditions
        by_item = _cluster_rows(rs.condition, item, self.n_items)
        by_rater = _cluster_rows(rs.condition, rater, self.n_raters)
        self.rows_are_items = by_item[0].size <= by_rater[0].size
        if self.rows_are_items:
            (row_condition, self.row_cluster, row), column, n_columns = by_item, rater, self.n_raters
        else:
            (row_condition, self.row_cluster, row), column, n_columns = by_rater, item, self.n_items
        self.n_rows = row_condition.size
        self.matrix = sp.csr_matrix(
            (
                np.concatenate([rs.score.astype(np.float64), np.ones(len(rs))]),
                (np.concatenate([row, row + self.n_rows]), np.concatenate([column, column])),
            ),
            shape=(2 * self.n_rows, n_columns),
        )
        self.present = np.unique(row_condition)  # condition codes that have ratings
        self.starts = np.searchsorted(row_condition, self.present)  # rows are sorted by condition

    def __call__(self, rater_counts: np.ndarray, item_counts: np.ndarray) -> np.ndarray:
        """(b, n_raters) and (b, n_items) counts → (b, conditions) means; nan where Σ c d = 0 (the
        replicate drew none of the condition's ratings) and for conditions without ratings."""
        columns, rows = (rater_counts, item_counts) if self.rows_are_items else (item_counts, rater_counts)
        sums = self.matrix @ np.ascontiguousarray(columns.T, dtype=np.float64)  # (2 rows, b)
        row_weight = rows[:, self.row_cluster].T  # (rows, b)
        numerator = np.add.reduceat(sums[: self.n_rows] * row_weight, self.starts, axis=0)  # (present, b)
        denominator = np.add.reduceat(sums[self.n_rows :] * row_weight, self.starts, axis=0)
        means = np.full((rows.shape[0], self.n_conditions), math.nan)
        with np.errstate(invalid="ignore"):  # 0/0: the replicate drew none of the condition
            means[:, self.present] = (numerator / denominator).T
        return means


def _cluster_rows(
    condition: np.ndarray, cluster: np.ndarray, n_clusters: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (condition, cluster) pairs sorted by condition: their condition, their cluster, and
    each rating's row among them."""
    keys, row = np.unique(condition * n_clusters + cluster, return_inverse=True)
    return keys // n_clusters, keys % n_clusters, row


def _cluster_counts(rng: np.random.Generator, m: int, b: int) -> np.ndarray:
    """(b, m): how often each of m clusters is drawn in b resamples of m draws with replacement (a
    multinomial draw; drawing indices and counting them is several times faster than rng.multinomial)."""
    drawn = rng.integers(0, m, size=(b, m)) + (np.arange(b) * m)[:, None]
    return np.bincount(drawn.ravel(), minlength=b * m).reshape(b, m)


# --------------------------------------------------------------------------------------------------
# Comparisons


@dataclass(frozen=True)
class Comparison:
    """Mann–Whitney U between the ratings of conditions ``a`` and ``b``, two-sided, Holm-corrected."""

    a: Hashable
    b: Hashable
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    u: float  # U statistic of a: pairs (x from a, y from b) with x > y, ties counted ½
    p: float  # uncorrected two-sided p
    p_holm: float  # Holm-adjusted over the comparisons made together
    cles: float  # common-language effect size: P(x > y) + ½ P(x = y) = U / (n_a n_b)
    rank_biserial: float  # 2 · cles − 1, in [−1, 1]; positive when a is rated higher
    significant: bool  # rejected by Holm's step-down at alpha (0.05 unless told): p_holm ≤ alpha


def compare_conditions(
    rs: RatingSet, pairs: Iterable[tuple[Hashable, Hashable]], *, alpha: float = ALPHA
) -> list[Comparison]:
    """Mann–Whitney U for each (label a, label b), Holm's correction over all the pairs given.

    A pair with a condition that has no ratings gets nan p values, is not significant and does not
    count in the family.
    """
    groups = rs.scores_by_condition()
    partial: list[dict[str, Any]] = []
    for a, b in pairs:
        x, y = groups[rs.condition_code(a)], groups[rs.condition_code(b)]
        row: dict[str, Any] = {"a": a, "b": b, "n_a": int(x.size), "n_b": int(y.size)}
        row["mean_a"] = float(x.mean()) if x.size else math.nan
        row["mean_b"] = float(y.mean()) if y.size else math.nan
        if x.size and y.size:
            test = stats.mannwhitneyu(x, y, alternative="two-sided")
            row["u"], row["p"] = float(test.statistic), float(test.pvalue)
            row["cles"] = row["u"] / (x.size * y.size)
        else:
            row["u"] = row["p"] = row["cles"] = math.nan
        partial.append(row)

    tested = [i for i, row in enumerate(partial) if not math.isnan(row["p"])]
    adjusted = np.full(len(partial), math.nan)
    reject = np.zeros(len(partial), dtype=bool)
    if tested:
        reject[tested], adjusted[tested], _, _ = multipletests(
            [partial[i]["p"] for i in tested], alpha=alpha, method="holm"
        )
    return [
        Comparison(
            **row,
            p_holm=float(adjusted[i]),
            rank_biserial=2.0 * row["cles"] - 1.0,
            significant=bool(reject[i]),
        )
        for i, row in enumerate(partial)
    ]


def all_pairs(rs: RatingSet) -> list[tuple[Hashable, Hashable]]:
    """Every unordered pair of conditions, in label order: the default family of comparisons."""
    return list(itertools.combinations(rs.condition_labels, 2))


# --------------------------------------------------------------------------------------------------
# Agreement


def krippendorff_alpha(rs: RatingSet, *, by_condition: bool = False) -> float | dict[Hashable, float]:
    """Krippendorff's α, ordinal, with the stimuli ((condition, item) pairs) as units.

    Built from the units × values count matrix (``value_counts``), never from a dense raters × items
    matrix, which for a large study is mostly empty and would not fit in memory. Two ratings of the same
    rater on the same stimulus would count as two coders; the platform stores one per rater and
    stimulus. nan when no stimulus has two ratings, or when every pairable rating has the same value
    (agreement on a scale nobody used is undefined). ``by_condition``: {label: α} with each condition's
    stimuli as the units.
    """
    if not by_condition:
        return _alpha(rs.condition, rs.item, rs.score)
    order = np.argsort(rs.condition, kind="stable")
    bounds = np.searchsorted(rs.condition[order], np.arange(rs.n_conditions + 1))
    result: dict[Hashable, float] = {}
    for code, label in enumerate(rs.condition_labels):
        part = order[bounds[code] : bounds[code + 1]]
        result[label] = _alpha(rs.condition[part], rs.item[part], rs.score[part])
    return result


def _alpha(condition: np.ndarray, item: np.ndarray, score: np.ndarray) -> float:
    if score.size == 0:
        return math.nan
    _, unit = np.unique(condition * (int(item.max()) + 1) + item, return_inverse=True)
    n_values = SCORES.size
    value_counts = np.bincount(unit * n_values + (score - SCORES[0]), minlength=(unit.max() + 1) * n_values)
    value_counts = value_counts.reshape(-1, n_values)
    value_counts = value_counts[value_counts.sum(axis=1) >= 2]  # a lone rating pairs with nothing
    if value_counts.shape[0] == 0 or np.count_nonzero(value_counts.sum(axis=0)) < 2:
        return math.nan
    return float(
        krippendorff.alpha(value_counts=value_counts, value_domain=SCORES, level_of_measurement="ordinal")
    )


# --------------------------------------------------------------------------------------------------
# Rater screening (P.808-style)


def low_variance_raters(rs: RatingSet, *, min_ratings: int = 5, max_sd: float = 0.0) -> set[int]:
    """Rater codes with at least ``min_ratings`` ratings whose standard deviation (ddof = 1) is at most
    ``max_sd``: by default the raters who gave every stimulus the same score. Raters with fewer ratings
    are not judged (too few to tell a flat rater from a consistent one)."""
    if min_ratings < 2:
        raise ValueError(f"min_ratings must be at least 2 to measure a spread; got {min_ratings}")
    codes, rater, n = np.unique(rs.rater, return_inverse=True, return_counts=True)
    mean = np.bincount(rater, weights=rs.score) / n
    squares = np.bincount(rater, weights=(rs.score - mean[rater]) ** 2)  # two passes: exact 0 when flat
    judged = n >= min_ratings
    sd = np.sqrt(squares[judged] / (n[judged] - 1))
    return {int(code) for code in codes[judged][sd <= max_sd]}


def outlier_raters(rs: RatingSet, *, z: float = 3.29, min_ratings: int = 5) -> set[int]:
    """Rater codes whose average deviation from the other raters is an outlier (P.808's |z| ≥ 3.29).

    The rule, exactly:

    1. each rating's deviation is its score minus the mean of the *other* ratings of the same stimulus
       ((condition, item) pair); leaving the rating out keeps a rater from pulling the reference towards
       themselves when stimuli have few ratings. Ratings of a stimulus rated once are skipped;
    2. each rater with at least ``min_ratings`` deviations gets their mean deviation D (signed: a rater
       who scores everything too high or too low);
    3. D is standardised robustly across those raters, z = (D − median D) / (1.4826 · MAD D), so that
       the outliers do not mask themselves by inflating the spread; a rater is flagged when |z| ≥ ``z``.
       If MAD is 0 (most raters have the same D), any D away from the median counts as an outlier.
    """
    _, stimulus = np.unique(rs.condition * (int(rs.item.max(initial=0)) + 1) + rs.item, return_inverse=True)
    totals = np.bincount(stimulus, weights=rs.score)
    counts = np.bincount(stimulus)
    others = counts[stimulus] - 1
    usable = others > 0
    deviation = rs.score[usable] - (totals[stimulus] - rs.score)[usable] / others[usable]
    codes, rater, n = np.unique(rs.rater[usable], return_inverse=True, return_counts=True)
    judged = n >= min_ratings
    if not judged.any():
        return set()
    mean_deviation = (np.bincount(rater, weights=deviation) / n)[judged]
    centre = np.median(mean_deviation)
    spread = 1.4826 * np.median(np.abs(mean_deviation - centre))
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.abs(mean_deviation - centre) / spread
    return {int(code) for code in codes[judged][scores >= z]}


# --------------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class ConditionSummary:
    """One condition's line of the results table; nan where a figure is undefined (no ratings, n = 1)."""

    label: Hashable
    n_ratings: int
    n_raters: int
    n_items: int
    mean: float
    sd: float
    t_low: float
    t_high: float
    t_half_width: float
    normal_half_width: float  # P.808's 1.96 · s/√n, for comparison with published MOS tables
    boot_low: float  # two-way bootstrap percentile interval (nan when not computed)
    boot_high: float


@dataclass(frozen=True)
class Report:
    """Everything the results page shows for one study's ratings."""

    conditions: tuple[ConditionSummary, ...]
    comparisons: tuple[Comparison, ...]
    alpha: float  # Krippendorff's α, ordinal, over every stimulus
    n_ratings: int
    n_raters: int
    n_items: int
    n_boot: int
    seed: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: nan becomes None, numpy scalars Python numbers; labels stay as given when they are
        str or numbers, tuple labels become lists, anything else str()."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("conditions", "comparisons"):
                value = [{g.name: _json(getattr(row, g.name)) for g in fields(row)} for row in value]
            else:
                value = _json(value)
            out[f.name] = value
        return out


def summarise_conditions(rs: RatingSet, boot: BootstrapCI | None = None) -> tuple[ConditionSummary, ...]:
    """Per condition: counts, MOS, sd, t and normal intervals, and ``boot``'s interval when given."""
    scores = rs.scores_by_condition()
    n_raters = _distinct_per_condition(rs, rs.rater)
    n_items = _distinct_per_condition(rs, rs.item)
    rows = []
    for code, label in enumerate(rs.condition_labels):
        x = scores[code]
        ci = mos_t(x) if x.size else MosCI(0, math.nan, math.nan, math.nan, math.nan)
        rows.append(
            ConditionSummary(
                label=label,
                n_ratings=int(x.size),
                n_raters=int(n_raters[code]),
                n_items=int(n_items[code]),
                mean=ci.mean,
                sd=ci.sd,
                t_low=ci.low,
                t_high=ci.high,
                t_half_width=ci.t_half_width,
                normal_half_width=ci.normal_half_width,
                boot_low=float(boot.low[code]) if boot is not None else math.nan,
                boot_high=float(boot.high[code]) if boot is not None else math.nan,
            )
        )
    return tuple(rows)


def report(
    rs: RatingSet,
    *,
    pairs: Iterable[tuple[Hashable, Hashable]] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> Report:
    """The whole analysis. ``pairs``: the comparisons to make, as condition labels (default: every pair,
    which makes Holm's correction stricter than a planned family would need); ``n_boot=0`` skips the
    bootstrap (its interval is then nan)."""
    if n_boot < 0:
        raise ValueError(f"n_boot must be non-negative; got {n_boot}")
    boot = two_way_bootstrap(rs, n_boot=n_boot, seed=seed) if n_boot else None
    return Report(
        conditions=summarise_conditions(rs, boot),
        comparisons=tuple(compare_conditions(rs, all_pairs(rs) if pairs is None else pairs)),
        alpha=_alpha(rs.condition, rs.item, rs.score),
        n_ratings=len(rs),
        n_raters=int(np.unique(rs.rater).size),
        n_items=int(np.unique(rs.item).size),
        n_boot=n_boot,
        seed=seed,
    )


def _distinct_per_condition(rs: RatingSet, codes: np.ndarray) -> np.ndarray:
    """How many distinct codes (raters or items) each condition has."""
    span = int(codes.max(initial=0)) + 1
    keys = np.unique(rs.condition * span + codes)
    return np.bincount(keys // span, minlength=rs.n_conditions)


def _json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)
