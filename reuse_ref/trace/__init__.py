"""What a run leaves behind: its records, the measures made from them, and the common window.

``trace`` (``Trace``, ``Record``, the CSV form), ``calls`` (``CallNote``: who called whom in
a runtime's run, which the records do not say), ``measures`` (``Measures``: one pass over
the records, and the one charge of replica-seconds over a window), ``window`` (comparing
traces over one window ``[0, horizon]``, and the queue waits of a time window).
"""
from .calls import CallNote
from .measures import Measures, percentile
from .trace import CSV_COLUMNS, Record, Series, Trace, gc_paused, parse_id

__all__ = ["Trace", "Record", "Measures", "Series", "percentile", "CSV_COLUMNS", "gc_paused", "parse_id",
           "CallNote"]
