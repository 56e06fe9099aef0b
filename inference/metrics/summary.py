"""Mean +- 95 % confidence interval of a metric, overall or per group (e.g. category x system).

Two half-widths are reported, because both appear in the literature:

* ``ci95_t`` = t(0.975, n - 1) * s / sqrt(n): correct for small n under normality;
* ``ci95_z`` = 1.96 * s / sqrt(n): the P.808 convention, too narrow for small n (by 2.26/1.96 =
  15 % at n = 10, the paper's per-category sample count).

s is the sample standard deviation (ddof = 1). With n = 1 the spread is undefined: ``sd`` and both
half-widths are None. NaN values (e.g. onset accuracy of a clip without reference onsets) are
excluded and counted in ``n_nan``. Everything returned is a plain dict of JSON-ready values.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

Z_95 = 1.96


def mean_ci(values: Iterable[float]) -> dict[str, Any]:
    """{"n", "n_nan", "mean", "sd", "ci95_t", "ci95_z"} of the finite values (None where undefined)."""
    array = np.asarray(list(values), dtype=np.float64).reshape(-1)
    if np.any(np.isinf(array)):
        raise ValueError("infinite values cannot be summarised; drop or fix them first")
    nan = np.isnan(array)
    finite = array[~nan]
    n = int(finite.size)
    result: dict[str, Any] = {
        "n": n,
        "n_nan": int(nan.sum()),
        "mean": None,
        "sd": None,
        "ci95_t": None,
        "ci95_z": None,
    }
    if n == 0:
        return result
    result["mean"] = float(finite.mean())
    if n == 1:
        return result
    sd = float(finite.std(ddof=1))
    sem = sd / math.sqrt(n)
    result.update(sd=sd, ci95_t=float(stats.t.ppf(0.975, n - 1) * sem), ci95_z=Z_95 * sem)
    return result


def summarise_groups(
    rows: Iterable[Mapping[str, Any]], *, by: Sequence[str], value: str
) -> list[dict[str, Any]]:
    """``mean_ci`` of ``row[value]`` per distinct ``tuple(row[k] for k in by)``, sorted by group.

    Each output dict holds the group's keys and the statistics, e.g. ``{"category": "dog",
    "system": "proposed", "n": 15, "n_nan": 0, "mean": 0.91, ...}``. A row whose value is None
    counts as NaN (missing), so a failed measurement is visible instead of silently dropped.
    """
    if not by:
        raise ValueError("group by at least one key")
    groups: dict[tuple[Hashable, ...], list[float]] = {}
    for i, row in enumerate(rows):
        missing = [k for k in (*by, value) if k not in row]
        if missing:
            raise KeyError(f"row {i} lacks {missing}")
        raw = row[value]
        groups.setdefault(tuple(row[k] for k in by), []).append(float("nan") if raw is None else float(raw))
    return [
        {**dict(zip(by, key, strict=True)), **mean_ci(values)}
        for key, values in sorted(groups.items(), key=lambda item: tuple(str(k) for k in item[0]))
    ]


def format_mean_ci(stats_: Mapping[str, Any], *, digits: int = 2, kind: str = "t") -> str:
    """The paper's table cell, e.g. ``4.77 (±0.10)``; ``-`` when there is no mean."""
    if stats_.get("mean") is None:
        return "-"
    half = stats_.get(f"ci95_{kind}")
    mean = f"{stats_['mean']:.{digits}f}"
    return mean if half is None else f"{mean} (±{half:.{digits}f})"
