"""What every figure of the package shares: the palette, the book's style, new axes, titles.

The book's figures are read on phones: :func:`use_book_style` applies the book's
settings (colour-blind-safe Okabe-Ito colours, text 11 pt and more) and refuses a
figure whose text would be smaller than :data:`MIN_TEXT_PT` when it is shown
:data:`SHOWN_PX` wide (:func:`smallest_text_pt`). matplotlib is imported only when a
figure is drawn, through ``pyplot`` so that figures show in notebooks.
"""
from __future__ import annotations

from typing import Tuple

__all__ = ["COLORS", "BOOK_RC", "MIN_TEXT_PT", "SHOWN_PX", "PNG_TEXT_KEY", "FigureTooSmallError", "smallest_text_pt",
           "use_book_style", "new_axes", "wrap_title", "time_unit"]

COLORS = {
    "black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
    "grey": "#999999",
}
"""The Okabe-Ito palette (distinguishable with the common colour-vision deficiencies)."""

BOOK_RC = {
    "figure.figsize": (5.0, 3.4), "figure.dpi": 150, "savefig.dpi": 150,
    "font.size": 11.5, "axes.titlesize": 12, "axes.labelsize": 11.5, "xtick.labelsize": 11,
    "ytick.labelsize": 11, "legend.fontsize": 11, "legend.title_fontsize": 11,
    "figure.titlesize": 12, "axes.prop_cycle": None,
}
"""The book's matplotlib settings: figures 5 in wide, text 11 pt or more, Okabe-Ito colours.
A notebook shows a figure at ``figure.dpi``: at 150 a 5 in figure is about 750 px wide,
large on a desktop, and a phone scales it down to its screen."""

MIN_TEXT_PT = 8.0
"""The smallest text, in points, that a figure may show on a phone."""

SHOWN_PX = 360
"""A phone 400 px wide shows a figure about 360 px wide (the page has margins)."""


PNG_TEXT_KEY = "reuse_ref smallest text pt at 360 px"
"""The PNG text chunk in which a checked figure records :func:`smallest_text_pt`."""


class FigureTooSmallError(ValueError):
    """A figure's text would be smaller than :data:`MIN_TEXT_PT` on a phone."""


def smallest_text_pt(fig, shown_px: float = SHOWN_PX) -> float:
    """The size, in points, of the figure's smallest text when the figure (cropped as a
    notebook crops it, ``bbox_inches="tight"``) is shown ``shown_px`` CSS pixels wide.

    A figure shown at its natural size keeps its point sizes; a figure ``W`` inches wide
    squeezed into ``shown_px`` pixels scales them by ``shown_px / (96 W)`` (96 CSS pixels
    to the inch). Text wider figures than that shrink; ``inf`` when there is no text.
    """
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    width_in = fig.get_tightbbox(renderer).width
    scale = min(1.0, shown_px / (96.0 * width_in)) if width_in > 0 else 1.0
    sizes = [t.get_fontsize() for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.get_window_extent(renderer).width > 0]
    return min(sizes, default=float("inf")) * scale


_checking = False


def use_book_style(check: bool = True) -> None:
    """Apply :data:`BOOK_RC`; with ``check``, every figure a notebook shows afterwards is
    first measured by :func:`smallest_text_pt`, and one with text under 8 pt at 360 px
    raises :class:`FigureTooSmallError` instead of being shown; a PNG that is shown records
    the size in its text chunk :data:`PNG_TEXT_KEY`, for the book's browser check."""
    global _checking
    import matplotlib as mpl
    from cycler import cycler
    from matplotlib.backend_bases import FigureCanvasBase

    rc = dict(BOOK_RC)
    rc["axes.prop_cycle"] = cycler(color=[COLORS[k] for k in ("blue", "orange", "green", "vermillion",
                                                                "purple", "sky", "yellow", "black")])
    mpl.rcParams.update(rc)
    if check and not _checking:
        original = FigureCanvasBase.print_figure

        def print_figure(self, *args, **kwargs):
            size = smallest_text_pt(self.figure)
            if size < MIN_TEXT_PT:
                raise FigureTooSmallError(
                    f"figure {self.figure.get_size_inches().round(2).tolist()} in: its smallest text would be "
                    f"{size:.1f} pt on a phone (shown {SHOWN_PX} px wide); make it narrower or its text larger")
            if str(kwargs.get("format", "")).lower() == "png":  # the browser check reads it back
                kwargs["metadata"] = {**(kwargs.get("metadata") or {}), PNG_TEXT_KEY: f"{size:.2f}"}
            return original(self, *args, **kwargs)

        FigureCanvasBase.print_figure = print_figure
        _checking = True


_UNITS = {"s": (1.0, "time (s)"), "min": (60.0, "time (min)"), "h": (3600.0, "time (hours)")}


def time_unit(unit: str) -> Tuple[float, str]:
    if unit not in _UNITS:
        raise ValueError(f"unit={unit!r} is not valid: one of {', '.join(_UNITS)}")
    return _UNITS[unit]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        raise ImportError("reuse_ref.figures needs matplotlib: pip install matplotlib") from None
    return plt


def new_axes(ax, nrows: int = 1, figsize=(9, 4), **kw):
    if ax is not None:
        return ax.figure, ax
    plt = _pyplot()
    fig, axes = plt.subplots(nrows, 1, figsize=figsize, **kw)
    return fig, axes


def wrap_title(text: str, width: int = 46) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text
