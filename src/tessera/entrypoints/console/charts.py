"""Bar charts as inline SVG, drawn on the server: no script, no chart library, no font file.

Each bar carries its value in a ``<title>`` (a tooltip and what a screen reader reads), and
the chart as a whole is an image labelled with its title and total."""

from __future__ import annotations

from datetime import datetime, timedelta

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_TOP, PAD_BOTTOM = 480, 140, 12, 20


def hourly_bars(title: str, values: list[int], start: datetime) -> Markup:
    """One bar per hour from ``start`` (UTC); the tallest bar fills the height."""
    hours = len(values)
    top = max(values, default=0) or 1
    slot = WIDTH / max(hours, 1)
    plot = HEIGHT - PAD_TOP - PAD_BOTTOM
    total = sum(values)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}: {total} in the last {hours} hours" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<line class="axis" x1="0" y1="{HEIGHT - PAD_BOTTOM}" x2="{WIDTH}" '
        f'y2="{HEIGHT - PAD_BOTTOM}"/>',
    ]
    for i, value in enumerate(values):
        hour = start + timedelta(hours=i)
        height = round(plot * value / top, 1)
        x = round(i * slot + 1, 1)
        y = round(HEIGHT - PAD_BOTTOM - height, 1)
        label = f"{hour:%H}:00 {value}"
        parts.append(
            f'<rect class="bar" x="{x}" y="{y}" width="{round(slot - 2, 1)}" '
            f'height="{height}"><title>{escape(label)}</title></rect>'
        )
        if i % 6 == 0:
            parts.append(f'<text class="tick" x="{x}" y="{HEIGHT - 6}">{hour:%H}:00</text>')
    highest = max(values, default=0)
    parts.append(f'<text class="top" x="{WIDTH - 4}" y="{PAD_TOP - 2}">max {highest}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
