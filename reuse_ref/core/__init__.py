"""The sans-I/O core: every lifecycle decision, and nothing else.

Events in (a task submitted, a replica ready, an attempt ended, a replica died, time
passed), actions out (start a replica, stop one, dispatch an attempt, fail a task). No
clock, no sleeping, no process: the simulator and the runtime feed the same objects, so
they agree by construction. ``records`` (the words of a trace), ``pool`` (one pool's
rules 1 to 5), ``replica_set`` (the replicas a pool's rules read), ``unpooled`` (tasks
without reuse), ``pools`` (the pools together: rules 6 and 7, the start-failure limit,
run scope).
"""
from .pool import Pool
from .pools import Pools
from .unpooled import Unpooled

__all__ = ["Pool", "Pools", "Unpooled"]
