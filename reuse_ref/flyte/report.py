"""``flyte.report``: accepted and recorded; no report is rendered.

A report is HTML that the service shows beside a run. Writing one cannot change what a
task computes, so every call is accepted, sync or ``.aio``, and the HTML is kept in
memory (``tabs``), where a test can read it.
"""
from __future__ import annotations

from typing import Any, Dict, List

from ._unmodelled import module_getattr, record

__all__ = ["log", "flush", "replace", "get_tab", "current_report", "Tab", "tabs"]

tabs: Dict[str, List[str]] = {}


class _Call:
    """A function that can also be awaited as ``.aio(...)``, as the SDK's syncified functions can."""

    def __init__(self, fn: Any) -> None:
        self._fn = fn
        self.__doc__ = fn.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._fn(*args, **kwargs)

    async def aio(self, *args: Any, **kwargs: Any) -> Any:
        return self._fn(*args, **kwargs)


class Tab:
    def __init__(self, name: str) -> None:
        self.name = name
        tabs.setdefault(name, [])
        self.log = _Call(self._log)
        self.replace = _Call(self._replace)

    def _log(self, content: str, do_flush: bool = False) -> None:
        record("flyte.report (recorded, not rendered)")
        tabs[self.name].append(str(content))

    def _replace(self, content: str, do_flush: bool = False) -> None:
        record("flyte.report (recorded, not rendered)")
        tabs[self.name] = [str(content)]


def _get_tab(name: str, *args: Any, **kwargs: Any) -> Tab:
    return Tab(name)


get_tab = _Call(_get_tab)
log = _Call(lambda content, do_flush=False: Tab("main")._log(content))
replace = _Call(lambda content, do_flush=False: Tab("main")._replace(content))
flush = _Call(lambda: None)
current_report = _Call(lambda: dict(tabs))

__getattr__ = module_getattr("flyte.report", "reports are recorded, not rendered")
