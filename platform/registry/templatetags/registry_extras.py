from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def mean_ci(stats: dict | None, digits: int = 2) -> str:
    """The paper's cell: `4.77 (±0.10)` with the t-quantile CI; `—` where nothing was measured."""
    if not stats or stats.get("mean") is None:
        return "—"
    mean = f"{stats['mean']:.{digits}f}"
    if stats.get("ci95_t") is None:
        return f"{mean} (n={stats.get('n', 0)})"
    return f"{mean} (±{stats['ci95_t']:.{digits}f})"


@register.filter
def metric(value) -> str:
    if value is None or value == "":
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


@register.filter
def get(mapping: dict | None, key: str):
    return (mapping or {}).get(key)
