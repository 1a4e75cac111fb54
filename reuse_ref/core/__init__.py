"""The sans-I/O core: every lifecycle decision, and nothing else.

Events in (a task submitted, a replica ready, an attempt ended, a replica died, time
passed), actions out (start a replica, stop one, dispatch an attempt, fail a task, stop
an attempt's work). No clock, no sleeping, no process: the simulator and the runtime
feed the same objects, so they agree by construction. ``records`` (the words of a trace),
``actions`` (what a driver carries out), ``pool`` (one pool: rules 1 to 5, and its
attempts' timeouts), ``replica_set`` (the replicas a pool's rules read), ``stopping``
(attempts' deadlines, and the attempts being stopped), ``unpooled`` (tasks without
reuse), ``starvation`` (rule 6), ``propagation`` (rule 7 and its held failures) and
``pools`` (the pools together, which drivers feed: rules 6 and 7, the start-failure
limit, run scope).
"""
from .pool import Pool
from .pools import Pools
from .unpooled import Unpooled

__all__ = ["Pool", "Pools", "Unpooled"]
