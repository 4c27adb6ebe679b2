"""Server-side SVG charts: markup the Content-Security-Policy allows (no script, no style attributes, no CDN).

Every text and link is escaped through markupsafe; colours and sizes are SVG presentation attributes, which the
CSP does not block (app.css may still override them, e.g. larger labels on a phone).
"""
from __future__ import annotations

import math
from collections.abc import Callable

from markupsafe import Markup, escape

from ..activity import ACTIONS, DailyCounts, DayCount
from ..state import model_label

# The same colours as .action-created/.action-updated/.action-deleted in static/app.css.
COLORS = {"created": "#1e7e34", "updated": "#0056b3", "deleted": "#bd2130"}
# A second cue besides colour: created solid, updated dotted, deleted hatched (legend and bars alike).
_PATTERNS = {"updated": "dots", "deleted": "hatch"}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# The drawing in viewBox units; the SVG is as wide as its container and keeps this aspect ratio.
WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 60, 44, 40, 60  # RIGHT: room for a bold "Nov 21" at phone size
LABEL_EVERY = 5  # x-axis labels: today and every 5th day before it

Href = Callable[[DayCount, str | None], str]  # (day, action or None for every action) -> feed URL


def nice_ticks(maximum: int, target: int = 4) -> list[int]:
    """Round y-axis ticks from 0 to at least ``maximum`` in steps of 1, 2 or 5 times a power of ten."""
    if maximum <= 0:
        return [0]
    raw = maximum / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(1, round(step))
    return list(range(0, math.ceil(maximum / step) * step + 1, step))


def short_number(value: int) -> str:
    """A tick label short enough for a phone: 2,500 -> 2.5k, 1,000,000 -> 1M."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return str(value)


def _day_text(day: DayCount) -> str:
    """The date, and its length when a daylight-saving change made it 23 or 25 hours."""
    return day.day.isoformat() if day.hours == 24 else f"{day.day.isoformat()} ({day.hours:g} hours)"


def _breakdown(day: DayCount) -> str:
    if not day.total:
        return "no events"
    parts = ", ".join(f"{day.counts.get(a, 0):,} {a}" for a in ACTIONS)
    return f"{day.total:,} event{'s' if day.total != 1 else ''} ({parts})"


def describe(counts: DailyCounts) -> str:
    """One paragraph a screen reader reads for the whole chart: range, zone, totals, busiest day."""
    days = counts.days
    totals = counts.totals()
    whole = sum(totals.values())
    text = (f"From {days[0].day.isoformat()} to {days[-1].day.isoformat()} (days from midnight to midnight in "
            f"{counts.zone}): {whole:,} events, " + ", ".join(f"{totals[a]:,} {a}" for a in ACTIONS) + ".")
    if whole:
        busiest = max(days, key=lambda d: (d.total, d.day))
        text += f" Busiest day {_day_text(busiest)} with {busiest.total:,}. Today so far: {days[-1].total:,}."
    return text


def chart_title(counts: DailyCounts) -> str:
    """The chart's heading and accessible name: how many days, which models."""
    scope = ", ".join(model_label(m) for m in counts.models) if counts.models else "all models"
    return f"Events per day over the last {len(counts.days)} days, {scope}"


def _label_days(n: int) -> set[int]:
    return {i for i in range(n) if (n - 1 - i) % LABEL_EVERY == 0}


def activity_chart(counts: DailyCounts, href: Href, element_id: str = "activity-chart") -> Markup:
    """Stacked bars of events per day and action, as one accessible, CSP-safe ``<svg>``.

    ``href(day, action)`` gives the feed link of a day (action None) or of one action on that day. Each day is a
    keyboard-focusable link labelled with its numbers; each coloured segment is a link to its action (for the
    mouse: out of the tab order and hidden from screen readers, which get the same numbers from the day link).
    """
    days = counts.days
    n = len(days)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_h
    ticks = nice_ticks(max((d.total for d in days), default=0))
    top_value = ticks[-1] or 1
    slot = plot_w / n
    bar_w = slot * 0.72

    def y_of(value: float) -> float:
        return bottom - value / top_value * plot_h

    # f-strings, not Markup.format (3x slower here): every value that is not a number we computed goes through
    # _e, which escapes it for text and for a double-quoted attribute alike.
    eid = _e(element_id)
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{eid}" class="activity-chart-svg" viewBox="0 0 {WIDTH} '
        f'{HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet" role="group" aria-labelledby="{eid}-title" '
        f'aria-describedby="{eid}-desc" font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" '
        f'font-size="12" fill="#212529">',
        f'<title id="{eid}-title">{_e(chart_title(counts))}</title><desc id="{eid}-desc">{_e(describe(counts))}</desc>',
        f'<defs><pattern id="{eid}-dots" width="5" height="5" patternUnits="userSpaceOnUse">'
        f'<circle cx="2.5" cy="2.5" r="1.1" fill="#fff" fill-opacity="0.6"/></pattern>'
        f'<pattern id="{eid}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        f'<rect width="2" height="6" fill="#fff" fill-opacity="0.6"/></pattern></defs>',
    ]

    # Legend, in stacking order (bottom first), and the grid with round ticks: decoration for screen readers.
    out.append('<g class="chart-legend" aria-hidden="true">')
    for i, action in enumerate(ACTIONS):
        x = LEFT + i * 130
        out.append(_swatch(eid, action, x, 6, 12, 12) + f'<text x="{x + 16}" y="17">{_e(action)}</text>')
    out.append('</g><g class="chart-axes" aria-hidden="true">')
    for value in ticks:
        y = _r(y_of(value))
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" '
                   f'stroke="{"#6c757d" if value == 0 else "#dee2e6"}" stroke-width="1"/>'
                   f'<text class="chart-tick" x="{LEFT - 6}" y="{_r(y + 4)}" text-anchor="end">'
                   f'{_e(short_number(value))}</text>')
    labelled = _label_days(n)
    for i, day in enumerate(days):
        if i in labelled:
            bold = ' font-weight="bold"' if i == n - 1 else ""
            out.append(f'<text class="chart-tick" x="{_r(LEFT + (i + 0.5) * slot)}" y="{bottom + 18}" '
                       f'text-anchor="middle"{bold}>{_MONTHS[day.day.month - 1]} {day.day.day}</text>')
    out.append(f'<text class="chart-caption" x="{_r(LEFT + plot_w / 2)}" y="{HEIGHT - 8}" text-anchor="middle">'
               f'Days in {_e(counts.zone)}; today in bold</text>')
    if not any(d.total for d in days):
        out.append(f'<text x="{_r(LEFT + plot_w / 2)}" y="{_r(TOP + plot_h / 2)}" text-anchor="middle" '
                   f'fill="#6c757d">No events in these {n} days</text>')
    out.append("</g>")

    # Bars: per day a focusable link over the whole column, then one link per non-empty segment.
    out.append('<g class="chart-bars">')
    for i, day in enumerate(days):
        x0 = LEFT + i * slot
        label = _e(f"{_day_text(day)}{' (today, so far)' if i == n - 1 else ''}: {_breakdown(day)}")
        out.append(f'<a class="chart-day" href="{_e(href(day, None))}" tabindex="0" aria-label="{label}">'
                   f'<title>{label}</title><rect class="chart-hit" x="{_r(x0)}" y="{TOP}" width="{_r(slot)}" '
                   f'height="{plot_h}" fill="#000" fill-opacity="0"/></a>')
        stacked = 0
        for action in ACTIONS:
            value = day.counts.get(action, 0)
            if not value:
                continue
            y_top, y_bottom = y_of(stacked + value), y_of(stacked)
            stacked += value
            out.append(f'<a class="chart-segment" href="{_e(href(day, action))}" tabindex="-1" aria-hidden="true">'
                       f'<title>{_e(f"{_day_text(day)}: {value:,} {action}")}</title>'
                       + _swatch(eid, action, _r(x0 + (slot - bar_w) / 2), _r(y_top), _r(bar_w), _r(y_bottom - y_top))
                       + "</a>")
    out.append("</g></svg>")
    return Markup("".join(out))  # nosec B704 - every value in it went through _e; the rest is literal markup


def _e(value: object) -> str:
    """Escaped for HTML/XML text and double-quoted attributes (& < > " ')."""
    return str(escape(str(value)))


def _swatch(eid: str, action: str, x: float, y: float, w: float, h: float) -> str:
    """A rectangle in the action's colour, overlaid with its pattern (if any); ``eid`` is already escaped."""
    rect = f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{COLORS[action]}"/>'
    pattern = _PATTERNS.get(action)
    if pattern:
        rect += f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="url(#{eid}-{pattern})"/>'
    return rect


def _r(value: float) -> float:
    """Two decimals: enough for a 640-unit drawing, and short markup."""
    return round(value, 2)

