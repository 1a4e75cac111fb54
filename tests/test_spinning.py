"""The short spin before a blocking read (reuse_ref.runtime.spinning), alone and in a runtime.

A reader spins only while its recent waits were short, never longer than SPIN_LONGEST,
gives way when the machine is busy, and can be turned off per runtime or per program;
the answer it reads is the same either way.
"""
from __future__ import annotations

import os
import sys

import cloudpickle
import pytest

from reuse_ref import ReusePolicy, Runtime, TaskEnvironment
from reuse_ref.runtime import spinning
from reuse_ref.runtime.spinning import SPIN_LONGEST, SPIN_VARIABLE, Spinner

cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.timeout(60)

env = TaskEnvironment("spin_env", reusable=ReusePolicy(replicas=(1, 2), idle_ttl=None))


@env.task
def spin_setting(x: int) -> tuple:
    return x, os.environ.get(SPIN_VARIABLE)


class Looks:
    """A ``ready()`` that turns true on its ``n``-th look, counting looks."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.looks = 0

    def __call__(self) -> bool:
        self.looks += 1
        return self.looks >= self.n


class FakeClock:
    """The spin's clock, moved by hand: a test under load must not depend on the real one."""

    def __init__(self, step: float) -> None:
        self.t = 0.0
        self.step = step  # seconds each reading moves it on

    def __call__(self) -> float:
        self.t += self.step
        return self.t


@pytest.fixture(autouse=True)
def fake_time(monkeypatch):
    """Every look costs a microsecond and a yield costs nothing, unless a test says otherwise."""
    clock = FakeClock(1e-6)
    monkeypatch.setattr(spinning, "perf_counter", clock)
    monkeypatch.setattr(spinning, "_yield", lambda: None)
    monkeypatch.setattr(spinning, "_crowded", lambda now: False)
    return clock


def test_a_short_wait_is_spun_until_ready():
    s = Spinner()
    ready = Looks(5)
    assert s.wait(ready) is True
    assert ready.looks == 5


def test_a_wait_that_never_ends_is_given_up_within_the_budget(fake_time):
    s = Spinner()
    looks = Looks(10**12)
    start = fake_time.t
    assert s.wait(looks) is False  # it returns: the caller then blocks, as it would have
    assert fake_time.t - start <= min(2 * s.mean, SPIN_LONGEST) + 3e-6
    assert looks.looks == pytest.approx(min(2 * s.mean, SPIN_LONGEST) / 2e-6, abs=2)  # two readings a look


def test_long_waits_turn_the_spin_off_and_short_ones_back_on():
    s = Spinner()
    for _ in range(20):
        s.learn(1.0)  # a task of a second: capped, and the mean goes past the limit
    assert s.mean >= SPIN_LONGEST
    looks = Looks(1)
    assert s.wait(looks) is False and looks.looks == 0  # not even one look
    turns = 0
    while s.mean >= SPIN_LONGEST:
        s.learn(20e-6)
        turns += 1
    assert turns <= 16  # one long wait counts as 4 x SPIN_LONGEST at most: a burst soon spins again
    assert s.wait(Looks(1)) is True


def test_a_disabled_spinner_never_looks():
    s = Spinner(enabled=False)
    looks = Looks(1)
    assert s.wait(looks) is False
    assert looks.looks == 0


def test_a_busy_machine_stops_the_spin_with_a_growing_backoff(monkeypatch, fake_time):
    """A yield that took longer than a whole spin means another thread had the processor:
    the reader sleeps at once, and skips the next spins, twice as many each time."""
    def busy() -> None:
        fake_time.t += 2 * SPIN_LONGEST
    monkeypatch.setattr(spinning, "_yield", busy)
    s = Spinner()
    never = Looks(10**12)
    assert s.wait(never) is False and s.skip == 1 and s.backoff == 2
    before = never.looks
    assert s.wait(never) is False and never.looks == before  # skipped: no look
    assert s.wait(never) is False and s.skip == 2 and s.backoff == 4
    monkeypatch.setattr(spinning, "_yield", lambda: None)
    s.skip = 0
    assert s.wait(Looks(3)) is True and s.backoff == 1  # a spin that found its answer resets it


@pytest.mark.parametrize("value", ["yes", 1, 0.0])
def test_a_bad_spin_option_is_refused_by_name(value):
    with pytest.raises(ValueError, match=r"^spin=.* is not valid: True .* or False"):
        Runtime(backend_options={"spin": value})


@pytest.mark.parametrize("spin, seen", [(True, "1"), (False, "0")])
def test_the_spin_option_reaches_the_replicas_and_answers_are_the_same(spin, seen):
    with Runtime(backend_options={"spin": spin}) as rt:
        for i in range(60):
            assert rt.run(spin_setting, i).result == (i, seen)
        handles = [h for ps in rt._c.table.pools.values() for h in ps.replicas.values()]
        assert handles and all(h.io.spinner.enabled is spin for h in handles)


def test_the_program_wide_variable_turns_it_off(monkeypatch):
    monkeypatch.setenv(SPIN_VARIABLE, "0")
    with Runtime() as rt:
        assert rt.run(spin_setting, 1).result == (1, "0")
        assert rt.backend.spin is False


def test_a_crowded_machine_is_not_spun_on(monkeypatch):
    monkeypatch.setattr(spinning, "_crowded", lambda now: True)
    looks = Looks(1)
    assert Spinner().wait(looks) is False and looks.looks == 0


def test_crowded_reads_the_threads_ready_to_run_with_hysteresis(tmp_path, monkeypatch):
    """The fourth field of /proc/loadavg, ``running/total``, against the processors: crowded
    after two looks in a row say so, clear after four clean ones; looked at again only after
    _LOOK_EVERY seconds."""
    monkeypatch.undo()  # the real _crowded, with a loadavg of our own
    path = tmp_path / "loadavg"
    fd = os.open(path.as_posix(), os.O_RDONLY | os.O_CREAT)
    monkeypatch.setattr(spinning, "_machine", {"at": -1.0, "over": 0, "clean": 0, "crowded": False, "fd": fd})
    every = spinning._LOOK_EVERY
    looks = iter(range(1, 100))

    def look(running: int) -> bool:
        path.write_text(f"0.50 0.40 0.30 {running}/2000 12345\n")
        return spinning._crowded(next(looks) * every)

    try:
        busy, quiet = 10**6, 1
        assert look(busy) is False  # one look is not enough
        assert spinning._crowded(1.5 * every) is False  # too soon to look again: the same answer
        assert look(quiet) is False and look(busy) is False  # a lull in between: counted again
        assert look(busy) is True
        assert [look(quiet) for _ in range(4)] == [True, True, True, False]  # four clean looks clear it
        assert look(busy) is False and look(quiet) is False
    finally:
        os.close(fd)


def test_crowded_is_false_where_the_count_is_unknown(monkeypatch):
    monkeypatch.undo()
    monkeypatch.setattr(spinning, "_machine", {"at": -1.0, "over": 0, "clean": 0, "crowded": False, "fd": -1})
    assert spinning._crowded(0.0) is False
