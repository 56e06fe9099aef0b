"""Study results: MOS with honest intervals, tests and agreement, in the paper's table layouts.

Only valid ratings count (services.rating.valid_ratings_filter): test stimuli, raters not excluded,
assignments that passed their checks and were not rejected. Conditions are category × system; the
"Average" row pools every category of a system (the paper's bottom row). Mann–Whitney tests compare
the systems within each category and on average; Holm's correction runs over all of a study's tests
together (one family), so adding categories makes each test stricter, never looser.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from studies import stats
from studies.models import Assignment, Kind, Rater, Rating, Stimulus, Study
from studies.services.rating import valid_ratings_filter

AVERAGE = "Average"
N_BOOT = 1000


@dataclass
class Cell:
    mean: float | None
    t_half: float | None
    boot_low: float | None
    boot_high: float | None
    n: int

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class StudyResult:
    study_id: int
    kind: str
    systems: list[tuple[str, str]]  # (key, label) in the paper's column order
    categories: list[str]  # then AVERAGE
    cells: dict[tuple[str, str], Cell]  # (category, system) -> cell
    comparisons: list[dict[str, Any]]
    alpha: float | None
    n_ratings: int
    n_raters: int
    n_items: int
    n_ratings_all: int  # every stored rating of test stimuli, excluded ones included
    excluded: list[dict[str, str]] = field(default_factory=list)
    n_boot: int = N_BOOT

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"category": c, "cells": [self.cells.get((c, key)) for key, _ in self.systems]}
            for c in [*self.categories, AVERAGE]
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "study": self.study_id,
            "kind": self.kind,
            "systems": [{"key": k, "label": label} for k, label in self.systems],
            "table": [
                {
                    "category": row["category"],
                    **{
                        key: (cell.as_dict() if cell else None)
                        for (key, _), cell in zip(self.systems, row["cells"], strict=False)
                    },
                }
                for row in self.rows()
            ],
            "comparisons": self.comparisons,
            "krippendorff_alpha_ordinal": self.alpha,
            "n_ratings_valid": self.n_ratings,
            "n_ratings_all": self.n_ratings_all,
            "n_raters": self.n_raters,
            "n_items": self.n_items,
            "n_boot": self.n_boot,
            "excluded_raters": self.excluded,
        }


def _none(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def valid_ratings(study: Study):
    return Rating.objects.filter(valid_ratings_filter(), study=study, stimulus__role="test")


@dataclass
class _Columns:
    """The valid ratings as arrays: no Python object per rating (1,000,000 tuples would cost seconds to
    build and make every garbage collection slow)."""

    rater: np.ndarray
    stimulus: np.ndarray
    score: np.ndarray
    category: list[str]  # per stimulus code
    system: list[str]


def _valid_columns(study: Study) -> _Columns:
    tests = list(Stimulus.objects.filter(study=study, role="test").values_list("pk", "category", "system"))
    ids = np.array([pk for pk, _, _ in tests], dtype=np.int64)
    order = np.argsort(ids)
    rows = (
        Rating.objects.filter(valid_ratings_filter(), study=study, stimulus_id__in=ids.tolist())
        .values_list("rater_id", "stimulus_id", "score")
        .iterator(chunk_size=20000)
    )
    table = np.fromiter(rows, dtype=[("rater", np.int64), ("stimulus", np.int64), ("score", np.int8)])
    stimulus_code = order[np.searchsorted(ids[order], table["stimulus"])] if ids.size else table["stimulus"]
    columns = _Columns(
        rater=table["rater"],
        stimulus=stimulus_code,
        score=table["score"],
        category=[c for _, c, _ in tests],
        system=[s for _, _, s in tests],
    )
    return columns


def _compared_pairs(keys: list[str], reference: str) -> list[tuple[str, str]]:
    """Every pair of systems, or each system against the reference one (fewer tests, more power
    after Holm: the researcher's choice when one system is the point of the study)."""
    if reference and reference in keys:
        return [(reference, k) for k in keys if k != reference]
    return list(combinations(keys, 2))


def study_results(*, study: Study, n_boot: int = N_BOOT) -> StudyResult:
    labels = {s["key"]: s["label"] for s in study.run.spec.get("systems", [])}
    systems = [(key, labels.get(key, key)) for key in study.systems]
    columns = _valid_columns(study)
    n = columns.score.size
    categories = sorted(set(columns.category) | set(study.categories))
    cells: dict[tuple[str, str], Cell] = {}
    comparisons: list[dict[str, Any]] = []
    alpha = None
    n_raters = 0
    if n:
        keys = [k for k, _ in systems] + sorted(set(columns.system) - {k for k, _ in systems})
        detail_labels = [(c, k) for c in categories for k in keys]
        detail_code = {label: i for i, label in enumerate(detail_labels)}
        per_stimulus_detail = np.array(
            [detail_code[(c, k)] for c, k in zip(columns.category, columns.system, strict=True)],
            dtype=np.int64,
        )
        per_stimulus_system = np.array([keys.index(k) for k in columns.system], dtype=np.int64)
        rater_ids, rater = np.unique(columns.rater, return_inverse=True)
        n_raters = rater_ids.size
        by_category = stats.RatingSet(
            score=columns.score.astype(np.float64),
            rater=rater,
            item=columns.stimulus,
            condition=per_stimulus_detail[columns.stimulus],
            condition_labels=detail_labels,
        )
        by_system = stats.RatingSet(
            score=columns.score.astype(np.float64),
            rater=rater,
            item=columns.stimulus,
            condition=per_stimulus_system[columns.stimulus],
            condition_labels=keys,
        )
        present_detail = set(np.unique(by_category.condition).tolist())
        present_system = set(np.unique(by_system.condition).tolist())
        compared = _compared_pairs(keys, study.reference_system)
        pairs = [
            ((c, a), (c, b))
            for c in categories
            for a, b in compared
            if {detail_code[(c, a)], detail_code[(c, b)]} <= present_detail
        ]
        average_pairs = [(a, b) for a, b in compared if {keys.index(a), keys.index(b)} <= present_system]
        detail = stats.report(by_category, pairs=pairs, n_boot=n_boot, seed=study.seed)
        average = stats.report(by_system, pairs=average_pairs, n_boot=n_boot, seed=study.seed)
        for row in detail.conditions:
            if row.n_ratings:
                cells[row.label] = _cell(row)
        for row in average.conditions:
            if row.n_ratings:
                cells[(AVERAGE, row.label)] = _cell(row)
        # One Holm family for the whole study: re-run the correction over every test together.
        tests = [(c.a[0], c) for c in detail.comparisons] + [(AVERAGE, c) for c in average.comparisons]
        comparisons = _holm_family(tests, labels)
        alpha = _none(detail.alpha)
    excluded = [
        {"rater": str(r), "reason": r.exclusion_reason}
        for r in Rater.objects.filter(study=study, excluded=True).order_by("pk")
    ]
    return StudyResult(
        study_id=study.pk,
        kind=study.kind,
        systems=systems,
        categories=categories,
        cells=cells,
        comparisons=comparisons,
        alpha=alpha,
        n_ratings=n,
        n_raters=int(n_raters),
        n_items=int(np.unique(columns.stimulus).size),
        n_ratings_all=Rating.objects.filter(study=study, stimulus__role="test").count(),
        excluded=excluded,
        n_boot=n_boot,
    )


def _cell(row: stats.ConditionSummary) -> Cell:
    return Cell(
        mean=_none(row.mean),
        t_half=_none(row.t_half_width),
        boot_low=_none(row.boot_low),
        boot_high=_none(row.boot_high),
        n=row.n_ratings,
    )


def _holm_family(tests: list[tuple[str, stats.Comparison]], labels: dict[str, str]) -> list[dict[str, Any]]:
    from statsmodels.stats.multitest import multipletests

    finite = [i for i, (_, c) in enumerate(tests) if not math.isnan(c.p)]
    adjusted = [math.nan] * len(tests)
    if finite:
        _, p_holm, _, _ = multipletests([tests[i][1].p for i in finite], alpha=0.05, method="holm")
        for i, p in zip(finite, p_holm, strict=False):
            adjusted[i] = float(p)
    out = []
    for (category, c), p_holm in zip(tests, adjusted, strict=False):
        a = c.a[1] if isinstance(c.a, tuple) else c.a
        b = c.b[1] if isinstance(c.b, tuple) else c.b
        out.append(
            {
                "category": category,
                "a": labels.get(a, a),
                "b": labels.get(b, b),
                "mean_a": _none(c.mean_a),
                "mean_b": _none(c.mean_b),
                "n_a": c.n_a,
                "n_b": c.n_b,
                "u": _none(c.u),
                "p": _none(c.p),
                "p_holm": _none(p_holm),
                "rank_biserial": _none(c.rank_biserial),
                "significant": bool(not math.isnan(p_holm) and p_holm < 0.05),
            }
        )
    return out


CSV_HEADER = [
    "rating_id", "rater", "rater_source", "rater_excluded", "exclusion_reason", "assignment",
    "passed_checks", "stimulus", "role", "category", "system", "sample_id", "score",
    "time_spent_ms", "play_count", "played_to_end", "rubric_version", "created_at", "valid",
]  # fmt: skip


def ratings_csv_lines(*, study: Study) -> Iterator[str]:
    """Every stored rating (excluded ones too, flagged), one CSV line each: the raw data for
    re-analysis. A generator over plain columns, so a million ratings stream without being held."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(row) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        return buffer.getvalue()

    yield line(CSV_HEADER)
    rejected = Assignment.State.REJECTED
    query = (
        Rating.objects.filter(study=study)
        .order_by("pk")
        .values_list(
            "pk",
            "rater_id",
            "rater__source",
            "rater__external_id",
            "rater__excluded",
            "rater__exclusion_reason",
            "assignment__uid",
            "assignment__passed_checks",
            "assignment__state",
            "stimulus__uid",
            "stimulus__role",
            "stimulus__category",
            "stimulus__system",
            "stimulus__sample_id",
            "score",
            "time_spent_ms",
            "play_count",
            "played_to_end",
            "rubric_version",
            "created_at",
        )  # fmt: skip
    )
    for (pk, rater_id, source, external_id, excluded, reason, a_uid, passed, a_state, s_uid, role, category,
         system, sample_id, score, spent, plays, ended, version, created) in query.iterator(chunk_size=5000):  # fmt: skip
        valid = role == "test" and not excluded and passed is True and a_state != rejected
        rater = external_id if source == Rater.Source.MTURK else f"invite-{rater_id}"
        yield line(
            [pk, rater, source, int(excluded), reason, a_uid, passed, s_uid, role, category, system,
             sample_id or "", score, spent, plays, int(ended), version, created.isoformat(), int(valid)]
        )  # fmt: skip


def ratings_csv(*, study: Study) -> str:
    return "".join(ratings_csv_lines(study=study))


# --- the paper's tables for a run ------------------------------------------------------------------------


def _latest(run, kind: str) -> Study | None:
    return run.studies.filter(kind=kind).order_by("-created_at").first()


def run_tables(*, run) -> dict[str, Any]:
    """Table 1 (realism + alignment MOS: GT / baseline / proposed), Table 2 (timbre MOS + cosine),
    Tables 7–8 (MCD) for a generation run, from its latest study of each kind."""
    from registry.services.generation import summary_table

    studies = {kind: _latest(run, kind) for kind in Kind.values}
    results = {kind: study_results(study=s) for kind, s in studies.items() if s is not None}
    timbre = studies.get(Kind.TIMBRE)
    shown = [k for k in (timbre.systems if timbre else []) if k != "ground_truth"] or None
    cosine = summary_table(run, task="timbre", metric="cosine", systems=shown)
    mcd = summary_table(run, task="ablation", metric="mcd")
    return {"studies": studies, "results": results, "cosine": cosine, "mcd": mcd}


def _fmt(cell: Cell | None) -> str:
    if cell is None or cell.mean is None:
        return "--"
    half = f" ($\\pm${cell.t_half:.2f})" if cell.t_half is not None else ""
    return f"{cell.mean:.2f}{half}"


def study_latex(*, study: Study) -> str:
    result = study_results(study=study)
    columns = "l" + "c" * len(result.systems)
    head = " & ".join(["Category", *[label for _, label in result.systems]])
    lines = [
        f"% {study.get_kind_display()} MOS, mean ($\\pm$ 95 % CI, t), {result.n_ratings} valid ratings",
        f"\\begin{{tabular}}{{{columns}}}",
        "\\toprule",
        head + " \\\\",
        "\\midrule",
    ]
    for row in result.rows():
        if row["category"] == AVERAGE:
            lines.append("\\midrule")
        lines.append(" & ".join([row["category"].capitalize(), *[_fmt(c) for c in row["cells"]]]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(lines)


def run_latex(tables: dict[str, Any]) -> str:
    parts = []
    for kind in Kind.values:
        study = tables["studies"].get(kind)
        if study is not None:
            parts.append(study_latex(study=study))
    return "\n".join(parts) or "% no studies yet\n"
