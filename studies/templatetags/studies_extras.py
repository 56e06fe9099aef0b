from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def rubric_levels(rubric: dict) -> list[tuple[str, str]]:
    """The rubric's levels from 5 down to 1, as raters see them."""
    return sorted((rubric or {}).get("levels", {}).items(), reverse=True)


@register.filter
def fmt(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    try:
        return f"{float(value):.{int(digits)}f}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def get(mapping, key):
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


COLOURS = ("#7a8599", "#c96a3b", "#2457c5", "#3f9a5b", "#9a3fa0", "#b59b2a", "#2aa3b5")


@register.simple_tag
def mos_chart(result, width: int = 760, height: int = 260):
    """Bars of MOS per category × system with the t interval as error bars, as inline SVG."""
    from django.utils.html import escape
    from django.utils.safestring import mark_safe

    rows = result.rows()
    systems = result.systems
    if not rows or not systems:
        return ""
    left, bottom, top = 34, 36, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    group_w = plot_w / len(rows)
    bar_w = group_w * 0.8 / len(systems)

    def y(score: float) -> float:
        return top + plot_h * (1 - (score - 1) / 4)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="MOS chart">'
    ]
    for score in range(1, 6):
        parts.append(
            f'<line x1="{left}" x2="{width - 8}" y1="{y(score):.1f}" y2="{y(score):.1f}" stroke="#e4e6eb"/>'
        )
        parts.append(f'<text x="{left - 6}" y="{y(score) + 4:.1f}" text-anchor="end">{score}</text>')
    for g, row in enumerate(rows):
        x0 = left + g * group_w + group_w * 0.1
        for s, cell in enumerate(row["cells"]):
            if cell is None or cell.mean is None:
                continue
            x = x0 + s * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{y(cell.mean):.1f}" width="{bar_w * 0.9:.1f}" '
                f'height="{y(1) - y(cell.mean):.1f}" fill="{COLOURS[s % len(COLOURS)]}">'
                f"<title>{escape(systems[s][1])} · {escape(row['category'])}: {cell.mean:.2f}</title></rect>"
            )
            if cell.t_half is not None:
                cx = x + bar_w * 0.45
                lo, hi = y(max(1.0, cell.mean - cell.t_half)), y(min(5.0, cell.mean + cell.t_half))
                parts.append(
                    f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{lo:.1f}" y2="{hi:.1f}" stroke="#1d2330"/>'
                )
                for yy in (lo, hi):
                    parts.append(
                        f'<line x1="{cx - 3:.1f}" x2="{cx + 3:.1f}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#1d2330"/>'
                    )
        label = escape(str(row["category"]))
        parts.append(
            f'<text x="{x0 + group_w * 0.4:.1f}" y="{height - bottom + 14}" text-anchor="middle">{label}</text>'
        )
    for s, (_, label) in enumerate(systems):
        lx = left + s * 130
        parts.append(
            f'<rect x="{lx}" y="{height - 14}" width="10" height="10" fill="{COLOURS[s % len(COLOURS)]}"/>'
        )
        parts.append(f'<text x="{lx + 14}" y="{height - 5}">{escape(label)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


@register.filter
def ci(cell) -> str:
    """ "4.42 (±0.04)" as in the paper's tables."""
    if cell is None or cell.mean is None:
        return "–"
    if cell.t_half is None:
        return f"{cell.mean:.2f}"
    return f"{cell.mean:.2f} (±{cell.t_half:.2f})"


@register.filter
def boot(cell) -> str:
    if cell is None or cell.boot_low is None:
        return "–"
    return f"[{cell.boot_low:.2f}, {cell.boot_high:.2f}]"


@register.filter
def metric_ci(stats) -> str:
    if not stats or stats.get("mean") is None:
        return "–"
    half = stats.get("ci95_t")
    return f"{stats['mean']:.2f}" + (f" (±{half:.2f})" if half is not None else "")
