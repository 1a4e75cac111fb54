"""``flyte.map``: call a task once per item, results in order, at most ``concurrency`` at a time.

The SDK's local mode runs the calls one after another. Here each call goes to the task's
pool like any other call, so a map over a reusable environment shows the pool's
concurrency; ``concurrency=0`` (the default) puts every call in flight at once, and the
pool's own capacity decides how many run. As in the SDK, ``return_exceptions=True`` (the
default) yields a failed call's error in its place instead of raising it.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
from typing import Any, AsyncIterator, Callable, Iterable, Iterator, List, Optional

from ..config.validation import bad, strict_int
from .context import group

__all__ = ["map"]


def _target(func: Any) -> Any:
    from ..config.environment import Task

    inner = func.func if isinstance(func, functools.partial) else func
    if not isinstance(inner, Task):
        raise bad("func", func, "a task made with @env.task, or a functools.partial of one")
    return inner


async def _gather(func: Callable, items: List[tuple], concurrency: int, return_exceptions: bool) -> List[Any]:
    limit = asyncio.Semaphore(concurrency) if concurrency else None

    async def one(args: tuple) -> Any:
        if limit is None:
            return await func(*args)
        async with limit:
            return await func(*args)

    return await asyncio.gather(*(one(a) for a in items), return_exceptions=return_exceptions)


def _in_own_loop(coro: Any) -> Any:
    """Run ``coro`` to its end from sync code.

    From async code (a running event loop) this would block the loop, and on a replica the
    loop also runs the replica's other attempts, children of this very map among them: the
    call is refused instead, as the SDK refuses a blocking task call from async code.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    from .errors import SyncTaskCallInAsyncContextError

    raise SyncTaskCallInAsyncContextError(
        "flyte.map(...) was called in a blocking way from async code, which would block the event loop; "
        "use `async for x in flyte.map.aio(...)` instead")


class _Map:
    def _check(self, func: Any, concurrency: Any) -> Any:
        strict_int("concurrency", concurrency, minimum=0)
        return _target(func)

    def __call__(self, func: Any, *iterables: Iterable[Any], group_name: Optional[str] = None,
                 concurrency: int = 0, return_exceptions: bool = True) -> Iterator[Any]:
        """Results in the order of the inputs (a generator, as in the SDK)."""
        task = self._check(func, concurrency)
        if not iterables:
            return iter(())
        items = list(zip(*iterables))
        with group(group_name or f"{task.name}_map"):
            if task.is_async:
                results = _in_own_loop(_gather(func, items, concurrency, return_exceptions))
            else:
                workers = concurrency or max(1, len(items))
                with concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, 256)) as pool:
                    # each call in a copy of this context: inside a task, that is where the
                    # runtime's caller lives, so the calls go to the task's pool
                    futures = [pool.submit(contextvars.copy_context().run, func, *args) for args in items]
                    results = []
                    for f in futures:
                        try:
                            results.append(f.result())
                        except Exception as exc:
                            if not return_exceptions:
                                raise
                            results.append(exc)
        return iter(results)

    async def aio(self, func: Any, *iterables: Iterable[Any], group_name: Optional[str] = None,
                  concurrency: int = 0, return_exceptions: bool = True) -> AsyncIterator[Any]:
        """The async form: an async generator of the results, in order."""
        task = self._check(func, concurrency)
        items = list(zip(*iterables)) if iterables else []
        with group(group_name or f"{task.name}_map"):
            if task.is_async:
                results = await _gather(func, items, concurrency, return_exceptions)
            else:
                results = await asyncio.gather(*(asyncio.to_thread(func, *a) for a in items),
                                               return_exceptions=return_exceptions)
        for r in results:
            yield r


map = _Map()
