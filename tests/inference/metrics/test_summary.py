"""Mean +- 95 % CI per group: the t interval and the 1.96 s / sqrt(n) convention, NaN and n = 1 handled."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from inference.metrics.summary import format_mean_ci, mean_ci, summarise_groups


def test_known_values() -> None:
    result = mean_ci([1, 2, 3, 4, 5])
    sd = math.sqrt(2.5)
    assert result["n"] == 5 and result["n_nan"] == 0
    assert result["mean"] == 3.0 and result["sd"] == pytest.approx(sd)
    assert result["ci95_t"] == pytest.approx(2.7764451 * sd / math.sqrt(5))
    assert result["ci95_z"] == pytest.approx(1.96 * sd / math.sqrt(5))


@given(st.lists(st.floats(-100, 100, allow_nan=False), min_size=2, max_size=50))
def test_the_t_interval_matches_scipys(values: list[float]) -> None:
    result = mean_ci(values)
    sem = stats.sem(values)
    if sem == 0:
        assert result["ci95_t"] == 0.0
        return
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=sem)
    assert result["mean"] - result["ci95_t"] == pytest.approx(low, abs=1e-9)
    assert result["mean"] + result["ci95_t"] == pytest.approx(high, abs=1e-9)
    assert result["ci95_t"] > result["ci95_z"]  # the t quantile is wider for any finite n


def test_the_two_intervals_converge_for_large_n() -> None:
    result = mean_ci(np.random.default_rng(0).normal(size=20_000))
    assert result["ci95_t"] / result["ci95_z"] == pytest.approx(1.0, abs=1e-3)


def test_one_value_has_a_mean_but_no_interval_and_no_values_have_neither() -> None:
    assert mean_ci([4.2]) == {"n": 1, "n_nan": 0, "mean": 4.2, "sd": None, "ci95_t": None, "ci95_z": None}
    assert mean_ci([]) == {"n": 0, "n_nan": 0, "mean": None, "sd": None, "ci95_t": None, "ci95_z": None}


def test_nan_values_are_excluded_and_counted() -> None:
    result = mean_ci([1.0, float("nan"), 3.0, float("nan")])
    assert (result["n"], result["n_nan"], result["mean"]) == (2, 2, 2.0)
    assert mean_ci([float("nan")])["mean"] is None


def test_infinite_values_are_an_error() -> None:
    with pytest.raises(ValueError, match="infinite"):
        mean_ci([1.0, float("inf")])


def test_groups_are_summarised_per_category_and_system_as_plain_dicts() -> None:
    rows = [
        {"category": "dog", "system": "proposed", "cosine": 0.9},
        {"category": "dog", "system": "proposed", "cosine": 0.8},
        {"category": "dog", "system": "cascade", "cosine": 0.7},
        {"category": "baby", "system": "proposed", "cosine": None},  # a failed measurement
        {"category": "baby", "system": "proposed", "cosine": 0.6},
    ]
    table = summarise_groups(rows, by=("category", "system"), value="cosine")
    assert [(r["category"], r["system"]) for r in table] == [
        ("baby", "proposed"),
        ("dog", "cascade"),
        ("dog", "proposed"),
    ]
    baby, cascade, proposed = table
    assert (baby["n"], baby["n_nan"], baby["mean"], baby["ci95_t"]) == (1, 1, 0.6, None)
    assert cascade["mean"] == 0.7 and cascade["ci95_t"] is None
    assert proposed["mean"] == pytest.approx(0.85) and proposed["ci95_t"] > 0
    assert all(type(r) is dict for r in table)


def test_grouping_needs_keys_present_in_every_row() -> None:
    with pytest.raises(KeyError, match="row 1"):
        summarise_groups([{"g": 1, "v": 1.0}, {"v": 2.0}], by=("g",), value="v")
    with pytest.raises(ValueError, match="at least one key"):
        summarise_groups([], by=(), value="v")


def test_the_paper_style_cell() -> None:
    assert format_mean_ci({"mean": 4.7712, "ci95_t": 0.1049}) == "4.77 (±0.10)"
    assert (
        format_mean_ci({"mean": 4.7712, "ci95_z": 0.09, "ci95_t": 0.1}, kind="z", digits=3)
        == "4.771 (±0.090)"
    )
    assert format_mean_ci({"mean": 4.0, "ci95_t": None}) == "4.00"
    assert format_mean_ci({"mean": None}) == "-"
