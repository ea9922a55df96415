"""Geometry of the server-rendered SVG bar chart on the statistics page (no JavaScript, no CDN).

Plain Python: bar_chart() turns a series' period rows into rectangles, axis ticks and labels;
templates/hscode/_trade_chart.html draws them, so every text goes through Django's escaping
and translation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 16, 44
MAX_X_LABELS = 12


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    flow: str  # "import" or "export"
    label: str  # the period label
    value: Decimal


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class XLabel:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    left: int
    right_edge: int
    baseline: float
    bars: list[Bar]
    ticks: list[Tick]
    x_labels: list[XLabel]


def compact_usd(value: float) -> str:
    """Axis label: 0, 950, 12K, 1.5M, 2B (US dollars)."""
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= limit:
            number = value / limit
            text = f"{number:.1f}".rstrip("0").rstrip(".") if number < 10 else f"{number:.0f}"
            return text + suffix
    return f"{value:.0f}"


def nice_step(value: float, steps: int = 4) -> float:
    """A round gridline step (1, 2, 2.5 or 5 times a power of ten) so that `steps` steps reach `value`."""
    if value <= 0:
        return 1.0
    raw = value / steps
    exponent = math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * 10**exponent
        if step >= raw:
            return step
    return 10 ** (exponent + 1)


def bar_chart(periods) -> BarChart | None:
    """Imports and exports side by side for each period; None when there is nothing to draw."""
    values = [(p.label, p.imports.value, p.exports.value) for p in periods]
    if not values or all(i is None and e is None for _, i, e in values):
        return None
    highest = float(max((v for _, i, e in values for v in (i, e) if v is not None), default=0))
    step = nice_step(highest)
    steps = max(1, math.ceil(highest / step))
    top = step * steps
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_height
    group = plot_width / len(values)
    bar_width = max(min(group * 0.38, 48), 1.5)
    bars: list[Bar] = []
    x_labels: list[XLabel] = []
    label_every = math.ceil(len(values) / MAX_X_LABELS)
    for index, (label, imports, exports) in enumerate(values):
        centre = LEFT + group * (index + 0.5)
        for offset, flow, value in ((-1, "import", imports), (0, "export", exports)):
            if value is None:
                continue
            height = plot_height * float(value) / top
            bars.append(
                Bar(
                    x=round(centre + offset * bar_width, 2),
                    y=round(baseline - height, 2),
                    width=round(bar_width, 2),
                    height=round(height, 2),
                    flow=flow,
                    label=label,
                    value=value,
                )
            )
        if index % label_every == 0:
            x_labels.append(XLabel(x=round(centre, 2), label=label))
    ticks = [
        Tick(y=round(baseline - plot_height * k / steps, 2), label=compact_usd(step * k)) for k in range(steps + 1)
    ]
    return BarChart(
        width=WIDTH, height=HEIGHT, left=LEFT, right_edge=WIDTH - RIGHT, baseline=baseline,
        bars=bars, ticks=ticks, x_labels=x_labels,
    )
