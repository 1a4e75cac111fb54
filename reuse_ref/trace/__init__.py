"""What a run leaves behind: its records, the measures made from them, and the common window.

``trace`` (``Trace``, ``Record``, the CSV form), ``window`` (comparing traces over one
window ``[0, horizon]``, and the queue waits of a time window).
"""
from .trace import CSV_COLUMNS, Measures, Record, Series, Trace, gc_paused, percentile

__all__ = ["Trace", "Record", "Measures", "Series", "percentile", "CSV_COLUMNS", "gc_paused"]
