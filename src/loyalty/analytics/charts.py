"""Charts for the HTML report as inline SVG whose text stays text.

Matplotlib writes each label as an SVG ``<text>`` element (``svg.fonttype: none``) instead of glyph
outlines, so the reader's browser draws Chinese with its own fonts: no CJK font has to be installed
where the report is made, and nothing is fetched when it is read. Titles and legends that carry long
text live in the HTML around the chart; the charts hold numbers and short axis labels.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import numpy as np
import numpy.typing as npt

# Colours shared with the report's CSS (the page's bars and legends use the same ones).
BLUE, ORANGE, GREEN, GREY, RED = "#2f6db5", "#e08a2c", "#3a9a5b", "#8a8f98", "#c0392b"

_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.family": ["sans-serif"],
    "font.sans-serif": ["DejaVu Sans"],  # only measures text; the page's CSS picks the font shown
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#e4e4e4",
    "axes.axisbelow": True,
}
_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


@contextmanager
def _figure(width: float, height: float) -> Iterator[tuple[Any, Any]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(cast(Any, _RC)):
        fig, ax = plt.subplots(figsize=(width, height))
        try:
            yield fig, ax
        finally:
            plt.close(fig)


def _svg(fig: Any, name: str) -> str:
    """The figure as an ``<svg>`` element for inlining (no XML prologue, ids unique per chart)."""
    import matplotlib

    buf = io.StringIO()
    # Labels may hold Chinese that the measuring font lacks: the browser draws it, so the warning is noise.
    with warnings.catch_warnings(), matplotlib.rc_context({"svg.hashsalt": name}):
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.25)
    svg = _METADATA.sub("", _PROLOGUE.sub("", buf.getvalue(), count=1), count=1)
    return svg.replace("<svg ", f'<svg role="img" class="chart" id="chart-{name}" ', 1)


def _mark_label(
    ax: Any,
    text: str,
    xy: tuple[float, float],
    *,
    offset: tuple[float, float],
    ha: str,
    va: str,
    color: str,
    xycoords: Any = "data",
) -> None:
    """A short label beside a mark (`offset` points from `xy`), in the mark's colour."""
    ax.annotate(
        text,
        xy=xy,
        xycoords=xycoords,
        xytext=offset,
        textcoords="offset points",
        ha=ha,
        va=va,
        fontsize=9,
        color=color,
    )


def histogram(
    values: npt.ArrayLike,
    *,
    name: str,
    bins: int | Sequence[float],
    xlabel: str,
    ylabel: str,
    color: str = BLUE,
    value_range: tuple[float, float] | None = None,
    xformat: Callable[[float], str] | None = None,
    last_bin_label: str | None = None,
) -> str:
    """A histogram; ``xformat`` writes the x ticks (money), ``last_bin_label`` marks a clipped last bar."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    with _figure(7.6, 3.2) as (fig, ax):
        counts, edges, patches = ax.hist(np.asarray(values, dtype=np.float64), bins=bins, range=value_range)
        for patch in patches:
            patch.set_facecolor(color)
        if last_bin_label and len(patches):
            patches[-1].set_facecolor(ORANGE)
            top = (float(edges[-1]), float(counts[-1]))
            _mark_label(ax, last_bin_label, top, offset=(0, 4), ha="right", va="bottom", color=ORANGE)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if xformat is not None:
            ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: xformat(v)))
        ax.set_xlim(float(edges[0]), float(edges[-1]))
        return _svg(fig, name)


def grouped_bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, npt.ArrayLike, str]],
    *,
    name: str,
    xlabel: str,
    ylabel: str,
) -> str:
    """Bars side by side per label (``series``: legend text, values, colour)."""
    with _figure(7.6, 3.2) as (fig, ax):
        xs = np.arange(len(labels))
        width = 0.8 / max(len(series), 1)
        for i, (legend, values, color) in enumerate(series):
            offset = (i - (len(series) - 1) / 2) * width
            ax.bar(xs + offset, np.asarray(values, dtype=np.float64), width=width, label=legend, color=color)
        ax.set_xticks(xs, list(labels))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(frameon=False, loc="upper left")
        return _svg(fig, name)


def lines(
    x: npt.ArrayLike,
    series: Sequence[tuple[str, npt.ArrayLike, str, str]],
    *,
    name: str,
    xlabel: str,
    ylabel: str,
    marker_x: float | None = None,
    marker_label: str | None = None,
) -> str:
    """Lines over a shared x (``series``: legend text, values, colour, line style); a vertical marker."""
    from matplotlib.ticker import FuncFormatter

    with _figure(7.6, 3.2) as (fig, ax):
        for legend, values, color, style in series:
            ax.plot(np.asarray(x), np.asarray(values, dtype=np.float64), style, color=color, label=legend)
        if marker_x is not None:
            ax.axvline(marker_x, color=GREY, lw=0.8)
            if marker_label:  # at the top of the line, whatever the data's range
                _mark_label(
                    ax,
                    marker_label,
                    (marker_x, 1.0),
                    xycoords=("data", "axes fraction"),
                    offset=(4, -4),
                    ha="left",
                    va="top",
                    color=GREY,
                )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
        ax.legend(frameon=False, loc="lower right")
        return _svg(fig, name)
