"""Figures drawn from traces and plans (matplotlib, imported only when a figure is drawn).

``style`` (the book's style and its check of text size), ``timeline`` (one lane per
replica, and the occupancy), ``plan_figure`` (a plan's candidates, cost against wait).
"""
from .timeline import *  # noqa: F401,F403
from .timeline import __all__  # noqa: F401
