"""Benchmark: the MOS statistics of studies/stats.py on a simulated study of a million ratings.

Simulates one large study, seeded: 3 systems (ground truth, cascade baseline, VarietySound) × 8
categories = 24 conditions, items (stimuli) at about 100 ratings each and raters at about 500 each
(10,000 and 2,000 for a million ratings), every rater rating distinct items. An honest rating is the
system's quality in the category + the item's effect + the rater's bias + noise, rounded and clipped to
1..5; 2 % of the raters cheat (half click one score throughout, half click at random). Then times each
part of ``report()`` with ``time.perf_counter``, one run each:

- building the RatingSet from ``(worker id, stimulus id, condition label, score)`` records (how the
  platform calls it) and from arrays;
- per-condition MOS with the t and 1.96 intervals; the two-way bootstrap (raters × items);
- Mann–Whitney U + Holm over the paper's comparisons (per category: VarietySound vs baseline,
  VarietySound vs ground truth, baseline vs ground truth: 24 tests);
- Krippendorff's α (ordinal), overall and per condition; the two screening helpers;
- ``report()`` end to end.

Prints the figures and appends a section to docs/benchmarks.md with peak RSS and the load average.

    .venv/bin/python bench/bench_mos_stats.py
    .venv/bin/python bench/bench_mos_stats.py --ratings 100000 --boot 200 --no-record
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere: make `studies` importable

from _report import append_section, command_line, markdown_table, section, utc_now  # noqa: E402

from studies.stats import (  # noqa: E402
    RatingSet,
    compare_conditions,
    krippendorff_alpha,
    low_variance_raters,
    outlier_raters,
    report,
    summarise_conditions,
    two_way_bootstrap,
)

CATEGORIES = ("baby", "cough", "dog", "drum", "fireworks", "gun", "hammer", "sneeze")
SYSTEMS = {"gt": 4.2, "baseline": 3.3, "varietysound": 3.8}  # mean opinion before category shifts
CHEATERS = 0.02
T = TypeVar("T")


def simulate(n_ratings: int, seed: int) -> tuple[list[tuple[str, int, str, int]], list[str], set[str]]:
    """Records ``(worker id, stimulus id, condition label, score)``, the condition labels, and the
    worker ids of the cheaters."""
    rng = np.random.default_rng(seed)
    labels = [f"{category}/{system}" for category in CATEGORIES for system in SYSTEMS]
    n_items = max(len(labels), n_ratings // 100)
    n_raters = max(10, n_ratings // 500)
    item_condition = np.arange(n_items) % len(labels)
    quality = np.array(list(SYSTEMS.values()))[np.arange(len(labels)) % len(SYSTEMS)]
    quality = quality + rng.normal(0, 0.3, len(labels))  # some categories are harder
    item_effect = rng.normal(0, 0.5, n_items)
    rater_bias = rng.normal(0, 0.4, n_raters)

    # Distinct (rater, item) pairs, as the platform stores one rating per rater and stimulus.
    pairs = rng.choice(n_raters * n_items, size=n_ratings, replace=False)
    rater, item = np.divmod(pairs, n_items)
    latent = (
        quality[item_condition[item]] + item_effect[item] + rater_bias[rater] + rng.normal(0, 0.8, rater.size)
    )
    score = np.clip(np.rint(latent), 1, 5).astype(np.int64)

    cheaters = rng.choice(n_raters, size=max(2, round(CHEATERS * n_raters)), replace=False)
    flat, random = cheaters[: cheaters.size // 2], cheaters[cheaters.size // 2 :]
    flat_score = rng.integers(1, 6, n_raters)
    is_flat, is_random = np.isin(rater, flat), np.isin(rater, random)
    score[is_flat] = flat_score[rater[is_flat]]
    score[is_random] = rng.integers(1, 6, int(is_random.sum()))

    workers = [f"W{r:07d}" for r in range(n_raters)]
    records = list(
        zip(
            [workers[r] for r in rater.tolist()],
            (item + 1).tolist(),  # stimulus primary keys
            [labels[c] for c in item_condition[item].tolist()],
            score.tolist(),
            strict=True,
        )
    )
    return records, labels, {workers[r] for r in cheaters.tolist()}


def timed(work: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def paper_pairs() -> list[tuple[str, str]]:
    pairs = []
    for category in CATEGORIES:
        ours, base, gt = (f"{category}/{s}" for s in ("varietysound", "baseline", "gt"))
        pairs += [(ours, base), (ours, gt), (base, gt)]
    return pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap replicates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", action="store_true", help="do not append to docs/benchmarks.md")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    (records, labels, cheaters), simulate_s = timed(lambda: simulate(args.ratings, args.seed))
    rs, records_s = timed(lambda: RatingSet.from_records(records, condition_labels=labels))
    _, arrays_s = timed(
        lambda: RatingSet(
            score=rs.score,
            rater=rs.rater,
            item=rs.item,
            condition=rs.condition,
            condition_labels=rs.condition_labels,
        )
    )
    summaries, summary_s = timed(lambda: summarise_conditions(rs))
    boot, boot_s = timed(lambda: two_way_bootstrap(rs, n_boot=args.boot, seed=args.seed))
    comparisons, compare_s = timed(lambda: compare_conditions(rs, paper_pairs()))
    alpha, alpha_s = timed(lambda: krippendorff_alpha(rs))
    _, alpha_by_s = timed(lambda: krippendorff_alpha(rs, by_condition=True))
    flat, flat_s = timed(lambda: low_variance_raters(rs))
    outliers, outlier_s = timed(lambda: outlier_raters(rs))
    full, report_s = timed(lambda: report(rs, pairs=paper_pairs(), n_boot=args.boot, seed=args.seed))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    load_after = os.getloadavg()[0]

    n_raters, n_items = int(np.unique(rs.rater).size), int(np.unique(rs.item).size)
    flagged = {rs.rater_labels[code] for code in flat | outliers} if rs.rater_labels else set()
    timings = [
        ("simulate the study (not part of the statistics)", simulate_s),
        ("RatingSet.from_records (factorise worker ids, stimulus ids, labels)", records_s),
        ("RatingSet from arrays (validate, copy)", arrays_s),
        ("MOS, sd, t and 1.96 intervals per condition (summarise_conditions)", summary_s),
        (f"two-way bootstrap, raters × items, B = {args.boot}", boot_s),
        (f"Mann–Whitney U + Holm, {len(comparisons)} comparisons", compare_s),
        ("Krippendorff's α ordinal, overall", alpha_s),
        ("Krippendorff's α ordinal, per condition", alpha_by_s),
        ("low_variance_raters", flat_s),
        ("outlier_raters", outlier_s),
        ("report() end to end (from a RatingSet)", report_s),
    ]
    print(
        f"{len(rs):,} ratings, {len(labels)} conditions, {n_raters:,} raters, {n_items:,} items, "
        f"{len(cheaters)} cheaters planted; seed {args.seed}"
    )
    for name, seconds in timings:
        print(f"  {name:<72} {seconds:8.3f} s")
    significant = sum(c.significant for c in comparisons)
    print(
        f"α (ordinal) = {alpha:.3f}; {significant} of {len(comparisons)} comparisons significant after Holm"
    )
    print(
        f"screening flagged {len(flat)} flat and {len(outliers)} outlying raters; "
        f"{len(flagged & cheaters)} of {len(cheaters)} cheaters, {len(flagged - cheaters)} honest raters"
    )
    print(f"peak RSS {peak_mib:.0f} MiB; 1-min load average {load_before:.2f} before, {load_after:.2f} after")

    rows = []
    for s in summaries:
        code = rs.condition_code(s.label)
        boot_width = boot.high[code] - boot.low[code]
        rows.append(
            [
                s.label,
                f"{s.n_ratings:,}",
                s.n_raters,
                s.n_items,
                f"{s.mean:.3f}",
                f"±{s.t_half_width:.3f}",
                f"±{s.normal_half_width:.3f}",
                f"[{boot.low[code]:.3f}, {boot.high[code]:.3f}]",
                f"{boot_width / (2 * s.t_half_width):.1f}",
            ]
        )
    table = markdown_table(
        [
            "condition",
            "ratings",
            "raters",
            "items",
            "MOS",
            "t 95 %",
            "1.96 · s/√n",
            "bootstrap 95 %",
            "boot / t width",
        ],
        rows,
    )
    print(table)
    assert full.n_ratings == len(rs)

    if not args.no_record:
        bullets = [
            f"data: simulated study, {len(rs):,} ratings, {len(labels)} conditions (3 systems × 8 categories), "
            f"{n_raters:,} raters, {n_items:,} items; rater bias sd 0.4, item effect sd 0.5, noise sd 0.8; "
            f"{len(cheaters)} cheaters (2 %: half flat, half random); seed {args.seed}",
            "timings: one run each, `time.perf_counter`, single process (numpy/scipy as installed)",
            f"peak RSS {peak_mib:.0f} MiB (whole process, the simulated records included)",
            f"1-min load average {load_before:.2f} at the start, {load_after:.2f} at the end on {os.cpu_count()} cores",
            f"results: α (ordinal) {alpha:.3f}; {significant} of {len(comparisons)} comparisons significant "
            f"(Holm); screening flagged {len(flagged & cheaters)} of {len(cheaters)} cheaters and "
            f"{len(flagged - cheaters)} honest raters",
        ]
        body = [
            markdown_table(["step", "seconds"], [[name, f"{seconds:.3f}"] for name, seconds in timings]),
            "",
            table,
        ]
        text = section(
            "MOS statistics on a simulated study",
            date=utc_now(),
            command=command_line("bench_mos_stats.py"),
            bullets=bullets,
            body=body,
        )
        append_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
