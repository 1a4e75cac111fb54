"""Figures drawn from traces and plans (matplotlib, imported only when a figure is drawn).

``style`` (the palette, the book's style and its check of text size), ``timeline`` (one
lane per replica, and the occupancy), ``task_bars`` (one bar per task: queued, running its
own work, or waiting for the tasks it called), ``comparison`` (several policies: footprint against
tail wait), ``plan_figure`` (a plan's candidates, cost against wait). Each function returns
the matplotlib ``Figure``; nothing here calls ``plt.show()``. In a notebook, end the line
with ``;`` (or assign the figure) so the figure is not shown twice.
"""
from .comparison import UTILISATION_BANDS, compare
from .plan_figure import plan
from .style import (BOOK_RC, COLORS, MIN_TEXT_PT, PNG_TEXT_KEY, SHOWN_PX, FigureTooSmallError, smallest_text_pt,
                    use_book_style)
from .task_bars import task_bars
from .timeline import MAX_LANES, STOP_MARKERS, occupancy, shared_legend, timeline

__all__ = ["timeline", "task_bars", "shared_legend", "occupancy", "compare", "plan", "MAX_LANES", "STOP_MARKERS", "COLORS",
           "use_book_style", "smallest_text_pt", "FigureTooSmallError", "BOOK_RC", "MIN_TEXT_PT", "SHOWN_PX",
           "PNG_TEXT_KEY", "UTILISATION_BANDS"]
