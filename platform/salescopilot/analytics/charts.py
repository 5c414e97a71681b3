"""Charts as pictures, drawn on the server: inline SVG bar charts with a title and a description
for screen readers (each page shows the same figures in a table next to the chart). Labels are
escaped; only numbers computed here reach attributes."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

WIDTH, BAR, GAP, LABEL = 640, 18, 6, 150


def bar_chart(chart_id: str, title: str, items: list[tuple[str, float | None]], *, percent: bool = True) -> Markup:
    """A horizontal bar chart of `items` (label, value; None: no data) with an accessible title."""
    values = [v for _, v in items if v is not None]
    top = max(values, default=0) or 1
    height = max(len(items), 1) * (BAR + GAP) + GAP
    span = WIDTH - LABEL - 70
    rows = []
    for index, (label, value) in enumerate(items):
        y = GAP + index * (BAR + GAP)
        shown = "no data" if value is None else (f"{value * 100:.1f} %" if percent else f"{value:,.0f}")
        length = 0 if value is None else max(1, round(span * value / top))
        rows.append(
            f'<g><title>{escape(label)}: {shown}</title>'
            f'<text x="{LABEL - 8}" y="{y + BAR - 5}" text-anchor="end" font-size="12" fill="currentColor">{escape(label)}</text>'
            f'<rect x="{LABEL}" y="{y}" width="{length}" height="{BAR}" rx="2" fill="var(--colour-primary, #2456a6)"></rect>'
            f'<text x="{LABEL + length + 6}" y="{y + BAR - 5}" font-size="12" fill="currentColor">{shown}</text></g>'
        )
    summary = "; ".join(f"{label} {'no data' if v is None else (f'{v * 100:.1f} %' if percent else f'{v:,.0f}')}"
                        for label, v in items)
    return Markup(
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(summary)}</desc>{"".join(rows)}</svg>'
    )


def funnel_chart(chart_id: str, totals: dict) -> Markup:
    """Sent → delivered → opened → clicked → replied → meetings, as counts."""
    steps = [("Sent", totals["sent"]), ("Delivered", totals["delivered"]), ("Opened", totals["opened"]),
             ("Clicked", totals["clicked"]), ("Replied", totals["replied"]), ("Meetings", totals["meetings"])]
    return bar_chart(chart_id, "Funnel: messages at each stage (human engagement)", steps, percent=False)
