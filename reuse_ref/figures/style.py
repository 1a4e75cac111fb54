"""What every figure of the package shares: the palette, new axes, wrapped titles.

A module of its own, below both :mod:`reuse_ref.plot` and the plan's figure, so that
neither has to import the other.
"""
from __future__ import annotations

__all__ = ["COLORS"]

COLORS = {
    "black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
    "grey": "#999999",
}
"""The Okabe-Ito palette (distinguishable with the common colour-vision deficiencies)."""


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        raise ImportError("reuse_ref.plot needs matplotlib: pip install matplotlib") from None
    return plt


def _new_axes(ax, nrows: int = 1, figsize=(9, 4), **kw):
    if ax is not None:
        return ax.figure, ax
    plt = _pyplot()
    fig, axes = plt.subplots(nrows, 1, figsize=figsize, **kw)
    return fig, axes


def _wrap(text: str, width: int = 46) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text
