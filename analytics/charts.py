"""Charts drawn as SVG on the server: no chart library, no script, readable without JavaScript.

Every number is formatted here and every label is escaped; templates insert the result as safe.

Sizes: the drawing is about as wide in user units as a chart box is in CSS pixels on a laptop
(two boxes side by side at 1440 px), so its 13-unit labels read at about 12 px there; on a phone the
box is narrower and analytics.css enlarges the labels and hides every other day label (class
"minor") so they still read and do not overlap. Every bar and dot says its value on hover.
"""

from django.utils.html import escape
from django.utils.safestring import mark_safe

WIDTH, HEIGHT = 560, 240
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 52, 56, 14, 34
# At most this many labels under the bars; on a phone only every other one shows.
X_LABELS = 8


def _frame(body: list[str], title: str) -> str:
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'preserveAspectRatio="xMidYMid meet"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )  # nosec B308, B703  # every label escaped above, numbers formatted here


def bars_and_line(
    *, labels: list[str], bars: list[float], line: list[float | None], title: str, bar_label: str, line_label: str
) -> str:
    """Bars on the left axis (counts) and a line on the right axis (a rate 0..1)."""
    n = max(len(labels), 1)
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    top = max([b or 0 for b in bars] + [1])
    step = plot_w / n
    body = [
        f'<line class="axis" x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - PAD_RIGHT}" y2="{PAD_TOP + plot_h}"/>',
        f'<text class="tick" x="{PAD_LEFT - 6}" y="{PAD_TOP + 10}" text-anchor="end">{top:g}</text>',
        f'<text class="tick" x="{PAD_LEFT - 6}" y="{PAD_TOP + plot_h}" text-anchor="end">0</text>',
        f'<text class="tick rate" x="{WIDTH - PAD_RIGHT + 6}" y="{PAD_TOP + 10}">100%</text>',
        f'<text class="tick rate" x="{WIDTH - PAD_RIGHT + 6}" y="{PAD_TOP + plot_h}">0%</text>',
    ]
    for i, (label, value) in enumerate(zip(labels, bars, strict=True)):
        h = plot_h * (value or 0) / top
        x = PAD_LEFT + i * step + step * 0.15
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{PAD_TOP + plot_h - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}">'
            f"<title>{escape(label)}: {value or 0:g} {escape(bar_label)}</title></rect>"
        )
    every = max(1, -(-n // X_LABELS))  # ceil: never more than X_LABELS labels
    for i, label in enumerate(labels):
        if i % every == 0:
            x = PAD_LEFT + i * step + step / 2
            minor = " minor" if (i // every) % 2 else ""
            body.append(
                f'<text class="tick tick-x{minor}" x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="middle">{escape(label)}</text>'
            )
    points = [
        (PAD_LEFT + i * step + step / 2, PAD_TOP + plot_h * (1 - value), labels[i], value)
        for i, value in enumerate(line)
        if value is not None
    ]
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
        body.append(f'<polyline class="line" points="{path}"><title>{escape(line_label)}</title></polyline>')
        body.extend(
            f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3.5"><title>{escape(label)}: {escape(line_label)} '
            f"{value * 100:.1f} %</title></circle>"
            for x, y, label, value in points
        )
    return _frame(body, title)


def horizontal_bars(*, items: list[tuple[str, float]], title: str, color_class: str = "bar") -> str:
    """One labelled bar per item (failure reasons, ratings)."""
    row_h, label_w = 30, 150
    height = max(len(items), 1) * row_h + 8
    top = max([value for _, value in items] + [1])
    plot_w = WIDTH - label_w - 60
    body = []
    for i, (label, value) in enumerate(items):
        y = 4 + i * row_h
        w = plot_w * value / top
        body.append(f'<text class="tick" x="{label_w - 8}" y="{y + 20}" text-anchor="end">{escape(label)}</text>')
        body.append(
            f'<rect class="{color_class}" x="{label_w}" y="{y + 5}" width="{w:.1f}" height="{row_h - 10}">'
            f"<title>{escape(label)}: {value:g}</title></rect>"
        )
        body.append(f'<text class="tick" x="{label_w + w + 6:.1f}" y="{y + 20}">{value:g}</text>')
    if not items:
        body.append(f'<text class="tick" x="{label_w}" y="22">Nothing in this period</text>')
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )  # nosec B308, B703  # every label escaped above, numbers formatted here
