"""The pictures of a digest, as PNG: Gmail and Outlook drop SVG, and a mail shows images
only when they travel with it (``cid:``). Drawn by matplotlib's Agg backend, which needs no
display and gives the same bytes for the same numbers (no timestamp in the file); it is
imported on first use, so only a process that renders a digest pays for it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DAILY_SIZE", "SPARK_SIZE", "daily", "sparkline"]

#: Display sizes in CSS pixels; the PNGs have twice as many, sharp on high-density screens.
DAILY_SIZE = (640, 160)
SPARK_SIZE = (120, 28)
_SCALE = 2
_INK = "#0969da"
_FAINT = "#9ecbff"
_TEXT = "#57606a"


def _figure(size: tuple[int, int]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    dpi = 100
    figure = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=100 * _SCALE, metadata={"Software": None})
    return out.getvalue()


def daily(days: Sequence[date], counts: Sequence[int], period_start: date) -> bytes:
    """Occurrences per day as bars; days before ``period_start`` (context) drawn faint."""
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    figure = _figure(DAILY_SIZE)
    axes = figure.add_axes((0.07, 0.2, 0.91, 0.72))
    colours = [_INK if day >= period_start else _FAINT for day in days]
    axes.bar(range(len(days)), counts, color=colours, width=0.8)
    step = max(1, len(days) // 8)
    ticks = list(range(len(days)))[::-step][::-1]
    axes.set_xticks(ticks, [days[i].strftime("%d %b") for i in ticks])
    axes.set_xlim(-0.6, len(days) - 0.4)
    axes.tick_params(labelsize=7, colors=_TEXT, length=0)
    axes.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    axes.spines["bottom"].set_color(_FAINT)
    axes.grid(axis="y", color="#eaeef2", linewidth=0.6)
    axes.set_axisbelow(True)
    return _png(figure)


def sparkline(counts: Sequence[int]) -> bytes:
    """One defect's occurrences per day as a line, its last day marked."""
    figure = _figure(SPARK_SIZE)
    axes = figure.add_axes((0.02, 0.1, 0.96, 0.8))
    axes.axis("off")
    xs = range(len(counts))
    axes.fill_between(xs, counts, color=_FAINT, linewidth=0)
    axes.plot(xs, counts, color=_INK, linewidth=1.2)
    axes.plot([len(counts) - 1], [counts[-1]], "o", color=_INK, markersize=2.5)
    axes.set_xlim(-0.2, max(len(counts) - 0.8, 0.2))
    axes.set_ylim(0, max(max(counts, default=0), 1) * 1.1)
    return _png(figure)
