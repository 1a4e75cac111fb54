"""Property tests for the configuration models: any input gives a normalised object or a ValueError.

Each test draws from a wide mix of odd inputs and compares the outcome with a small
oracle written from SPEC 1 and 2 (not from the implementation): when the oracle accepts,
the model must hold exactly the normalised value; when it refuses, the model must raise
a ``ValueError`` naming the parameter and the value. Any other exception fails.
"""
from __future__ import annotations

import json
import math
import os
import re
import warnings
from datetime import timedelta
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reuse_ref import ReusePolicy, Resources, StarvationWarning, TaskEnvironment, TaskOptions

# HYPOTHESIS_EXAMPLES=20000 searches harder, by hand, before a release; CI keeps the default
PROPERTY = settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 200)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

SMALL_INTS = st.integers(min_value=-5, max_value=40)
SCALARS = st.one_of(
    SMALL_INTS,
    st.integers(),                                    # huge and negative ints
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.none(),
    st.timedeltas(),                                  # negative ones included
    st.builds(object),
)
ODD = st.one_of(
    SCALARS,
    st.tuples(SMALL_INTS, SMALL_INTS),
    st.lists(SMALL_INTS, max_size=4),
    st.tuples(SCALARS, SCALARS),
    st.lists(SCALARS, max_size=3),
    st.tuples(SMALL_INTS),
    st.tuples(SMALL_INTS, SMALL_INTS, SMALL_INTS),
    st.dictionaries(st.text(max_size=3), SMALL_INTS, max_size=2),
)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _build(model: Any, **kwargs: Any) -> Any:
    """Build ``model(**kwargs)`` with starvation warnings silenced; other exceptions pass."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarvationWarning)
        return model(**kwargs)


def _refused(field: str, value: Any, excinfo: pytest.ExceptionInfo) -> None:
    message = str(excinfo.value)
    assert f"{field}={value!r}" in message, message


# --- oracles, from SPEC 1 ---------------------------------------------------------------

def oracle_replicas(v: Any) -> Optional[tuple]:
    if _is_int(v):
        return (v, v) if v >= 1 else None
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(_is_int(x) for x in v):
        lo, hi = v
        return (lo, hi) if 0 <= lo <= hi and hi >= 1 else None
    return None


MAX_SECONDS = timedelta.max.days * 86400 + timedelta.max.seconds  # the largest whole-second timedelta


def oracle_ttl(v: Any, allow_none: bool) -> Any:
    """The timedelta a TTL becomes, ``"none"`` for always-on, or ``None`` when refused."""
    if v is None:
        return "none" if allow_none else None
    if isinstance(v, timedelta):
        if v < timedelta(seconds=30):
            return None
        try:  # JSON carries float seconds: a fraction of a second must read back as itself
            exact = not v.microseconds or timedelta(seconds=v.total_seconds()) == v
        except OverflowError:
            exact = False
        return v if exact else None
    if _is_int(v) and 30 <= v <= MAX_SECONDS:
        return timedelta(seconds=v)
    return None


def check_policy_invariants(p: ReusePolicy) -> None:
    lo, hi = p.replicas
    assert type(p.replicas) is tuple and _is_int(lo) and _is_int(hi)
    assert 0 <= lo <= hi and hi >= 1
    assert (p.min_replicas, p.max_replicas) == (lo, hi)
    assert p.idle_ttl is None or (isinstance(p.idle_ttl, timedelta) and p.idle_ttl >= timedelta(seconds=30))
    assert isinstance(p.scaledown_ttl, timedelta) and p.scaledown_ttl >= timedelta(seconds=30)
    assert p.ttl == p.idle_ttl and p.get_scaledown_ttl() == p.scaledown_ttl
    assert _is_int(p.concurrency) and p.concurrency >= 1
    assert p.scope in ("global", "run")
    assert p.capacity == hi * p.concurrency


# --- ReusePolicy, field by field --------------------------------------------------------

@PROPERTY
@given(value=ODD)
def test_replicas_any_input(value):
    expected = oracle_replicas(value)
    if expected is None:
        with pytest.raises(ValueError) as info:
            _build(ReusePolicy, replicas=value)
        _refused("replicas", value, info)
    else:
        p = _build(ReusePolicy, replicas=value)
        assert p.replicas == expected
        check_policy_invariants(p)


@PROPERTY
@given(value=ODD, field=st.sampled_from(["idle_ttl", "scaledown_ttl"]))
@example(value=10**20, field="idle_ttl")  # past timedelta.max
@example(value=MAX_SECONDS, field="scaledown_ttl")
@example(value=MAX_SECONDS + 1, field="scaledown_ttl")
@example(value=-(10**20), field="scaledown_ttl")
@example(value=30.0, field="idle_ttl")
def test_ttl_any_input(value, field):
    expected = oracle_ttl(value, allow_none=field == "idle_ttl")
    if expected is None:
        with pytest.raises(ValueError) as info:
            ReusePolicy(**{field: value})
        _refused(field, value, info)
    else:
        p = ReusePolicy(**{field: value})
        assert getattr(p, field) == (None if expected == "none" else expected)
        check_policy_invariants(p)


@PROPERTY
@given(value=ODD)
def test_concurrency_any_input(value):
    if _is_int(value) and value >= 1:
        p = ReusePolicy(concurrency=value)
        assert p.concurrency == value
        check_policy_invariants(p)
    else:
        with pytest.raises(ValueError) as info:
            ReusePolicy(concurrency=value)
        _refused("concurrency", value, info)


@PROPERTY
@given(value=st.one_of(ODD, st.sampled_from(["global", "run", "Global", "runs", " run"])))
def test_scope_any_input(value):
    if isinstance(value, str) and value in ("global", "run"):
        assert ReusePolicy(scope=value).scope == value
    else:
        with pytest.raises(ValueError) as info:
            ReusePolicy(scope=value)
        _refused("scope", value, info)


@PROPERTY
@given(
    replicas=st.one_of(SMALL_INTS, st.tuples(SMALL_INTS, SMALL_INTS), ODD),
    concurrency=st.one_of(SMALL_INTS, ODD),
    idle_ttl=st.one_of(st.integers(0, 100), st.none(), ODD),
    scaledown_ttl=st.one_of(st.integers(0, 100), ODD),
)
def test_whole_policy_valid_or_value_error(replicas, concurrency, idle_ttl, scaledown_ttl):
    fields = dict(replicas=replicas, concurrency=concurrency, idle_ttl=idle_ttl, scaledown_ttl=scaledown_ttl)
    accepted = (
        oracle_replicas(replicas) is not None
        and _is_int(concurrency) and concurrency >= 1
        and oracle_ttl(idle_ttl, True) is not None
        and oracle_ttl(scaledown_ttl, False) is not None
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if not accepted:
            with pytest.raises(ValueError):
                ReusePolicy(**fields)
            return
        p = ReusePolicy(**fields)
    check_policy_invariants(p)
    starved = [w for w in caught if issubclass(w.category, StarvationWarning)]
    assert len(starved) == (1 if (p.max_replicas, p.concurrency) == (1, 1) else 0)


VALID_TTL = st.one_of(
    st.integers(min_value=30, max_value=10**9),
    st.timedeltas(min_value=timedelta(seconds=30), max_value=timedelta(days=36500)),
)


@PROPERTY
@given(
    replicas=st.one_of(st.integers(1, 50), st.tuples(st.integers(0, 10), st.integers(1, 10)).filter(lambda t: t[0] <= t[1])),
    concurrency=st.integers(1, 64),
    idle_ttl=st.one_of(st.none(), VALID_TTL),
    scaledown_ttl=VALID_TTL,
    scope=st.sampled_from(["global", "run"]),
)
def test_policy_round_trips(replicas, concurrency, idle_ttl, scaledown_ttl, scope):
    p = _build(ReusePolicy, replicas=replicas, concurrency=concurrency, idle_ttl=idle_ttl,
               scaledown_ttl=scaledown_ttl, scope=scope)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarvationWarning)
        assert ReusePolicy.model_validate(p.model_dump()) == p
        text = p.model_dump_json()
        assert ReusePolicy.model_validate_json(text) == p
        assert hash(ReusePolicy.model_validate(p.model_dump())) == hash(p)
    data = json.loads(text)
    assert data["replicas"] == list(p.replicas)


# --- Resources --------------------------------------------------------------------------

UNITS = {"": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
QUANTITY = st.builds(
    lambda number, unit: f"{number}{unit}",
    st.one_of(st.integers(0, 4096).map(str), st.decimals(0, 4096, places=2, allow_nan=False).map(str)),
    st.sampled_from(sorted(UNITS) + ["m", "Gb", "g", "x"]),
)
RESOURCE_INPUT = st.one_of(ODD, QUANTITY, st.sampled_from(["L4:1", "A100", "A100:8", "L4:x", ":2", "2", "²", "500m"]))


def _finite_nonneg_number(v: Any) -> bool:
    if _is_int(v):
        return v >= 0
    return isinstance(v, float) and math.isfinite(v) and v >= 0


def _plain(s: str) -> bool:
    """ASCII digits with at most one dot, not at the end (".5" yes, "5." no); no sign or exponent."""
    digits = s.replace(".", "", 1)
    return bool(digits) and digits.isascii() and digits.isdigit() and not s.endswith(".")


def oracle_cpu(v: Any) -> Optional[float]:
    if _finite_nonneg_number(v):
        try:
            return float(v)
        except OverflowError:  # 10**400 cores is not a number of cores
            return None
    if isinstance(v, str):
        s = v.strip()
        milli = s.endswith("m")
        number = s[:-1].rstrip() if milli else s
        if _plain(number) and math.isfinite(float(number)):
            return float(number) / 1000 if milli else float(number)
    return None


def oracle_bytes(v: Any) -> Optional[int]:
    if _finite_nonneg_number(v):
        return int(v)
    if isinstance(v, str):
        s = v.strip()
        number = s.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        unit = s[len(number):]
        number = number.strip()
        if _plain(number) and unit in UNITS and math.isfinite(float(number) * UNITS[unit]):
            return int(float(number) * UNITS[unit])
    return None


def _pair_or(oracle):
    """The SDK's (request, limit) pairs (SPEC 7): valid when both are; the parsed value is the limit.
    A two-item list counts too: it is how JSON gives a pair back."""
    def check(value):
        if isinstance(value, (tuple, list)) and len(value) == 2:
            lo, hi = oracle(value[0]), oracle(value[1])
            return None if lo is None or hi is None else hi
        return oracle(value)
    return check


@PROPERTY
@given(value=RESOURCE_INPUT)
@example(value=float("inf"))
@example(value=float("nan"))
@example(value=10**400)
@example(value="1" + "0" * 400)
@example(value=" 250 m ")
def test_cpu_any_input(value):
    expected = _pair_or(oracle_cpu)(value)
    if value is None:  # None means "not set"
        assert Resources(cpu=value).cpu_cores is None
    elif expected is None:
        with pytest.raises(ValueError) as info:
            Resources(cpu=value)
        _refused("cpu", value, info)
    else:
        r = Resources(cpu=value)
        assert r.cpu == (tuple(value) if isinstance(value, list) else value)  # as given (SPEC 7); parsed beside it
        assert r.cpu_cores == expected
        assert isinstance(r.cpu_cores, float) and math.isfinite(r.cpu_cores) and r.cpu_cores >= 0


@PROPERTY
@given(value=RESOURCE_INPUT, field=st.sampled_from(["memory", "disk", "mem", "ephemeral_storage"]))
@example(value=float("inf"), field="memory")
@example(value=10**400, field="disk")
@example(value="1" + "0" * 400, field="mem")
@example(value="9" * 400 + "Ei", field="ephemeral_storage")
def test_bytes_any_input(value, field):
    canonical = {"mem": "memory", "ephemeral_storage": "disk"}.get(field, field)
    expected = (_pair_or(oracle_bytes) if canonical == "memory" else oracle_bytes)(value)
    if value is None:  # None means "not set", under either name
        assert getattr(Resources(**{field: value}), canonical + "_bytes") is None
    elif expected is None:
        with pytest.raises(ValueError) as info:
            Resources(**{field: value})
        _refused(canonical, value, info)
    else:
        r = Resources(**{field: value})
        assert getattr(r, canonical) == (tuple(value) if isinstance(value, list) else value)
        parsed = getattr(r, canonical + "_bytes")
        assert parsed == expected
        assert type(parsed) is int and parsed >= 0


@PROPERTY
@given(value=RESOURCE_INPUT)
@example(value="L4:²")  # "²".isdigit() is True, int("²") fails
@example(value=True)
def test_gpu_any_input(value):
    try:
        r = Resources(gpu=value)
    except ValueError as e:
        assert f"gpu={value!r}" in str(e)
        assert not (_is_int(value) and value >= 0)  # a plain count is never refused
        return
    if value is None:
        assert r.gpu_count is None and r.gpu_kind is None
        return
    assert r.gpu == value
    assert _is_int(r.gpu_count) and r.gpu_count >= 0
    assert r.gpu_kind is None or (isinstance(r.gpu_kind, str) and r.gpu_kind.strip() == r.gpu_kind != "")
    if _is_int(value):
        assert (r.gpu_count, r.gpu_kind) == (value, None)
    else:
        assert isinstance(value, str)
        kind, sep, count = value.partition(":")
        if sep:  # "TYPE:COUNT"
            assert (r.gpu_count, r.gpu_kind) == (int(count.strip()), kind.strip())
        elif value.strip().isascii() and value.strip().isdigit():  # "2"
            assert (r.gpu_count, r.gpu_kind) == (int(value), None)
        else:  # "A100": one GPU of that type
            assert (r.gpu_count, r.gpu_kind) == (1, value.strip())


@PROPERTY
@given(cpu=RESOURCE_INPUT, memory=RESOURCE_INPUT, gpu=RESOURCE_INPUT, disk=RESOURCE_INPUT)
@example(cpu=0, memory=8.98846567431158e+306, gpu=0, disk=0)  # found by CI: bytes x seconds overflowed first
@example(cpu=1e308, memory=0, gpu=0, disk=0)  # a footprint too large for a float
def test_resources_valid_or_value_error_and_round_trip(cpu, memory, gpu, disk):
    try:
        r = Resources(cpu=cpu, memory=memory, gpu=gpu, disk=disk)
    except ValueError as e:
        assert any(f"{name}=" in str(e) for name in ("cpu", "memory", "gpu", "disk"))
        return
    assert r.cpu_cores is None or (isinstance(r.cpu_cores, float) and math.isfinite(r.cpu_cores) and r.cpu_cores >= 0)
    for n in (r.memory_bytes, r.gpu_count, r.disk_bytes):
        assert n is None or (_is_int(n) and n >= 0)
    assert Resources.model_validate(r.model_dump()) == r
    assert Resources.model_validate_json(r.model_dump_json()) == r
    expected = [20.0 * (r.cpu_cores or 0), 20.0 * ((r.memory_bytes or 0) / 2**30), 20.0 * (r.gpu_count or 0)]
    if not all(map(math.isfinite, expected)):  # a footprint too large for a float is refused, naming replicas
        with pytest.raises(ValueError, match="replicas=2"):
            r.footprint(10.0, replicas=2)
        return
    fp = r.footprint(10.0, replicas=2)
    assert fp["cpu_seconds"] == 20.0 * (r.cpu_cores or 0)
    assert fp["gpu_seconds"] == 20.0 * (r.gpu_count or 0)
    assert all(v >= 0 for v in fp.values())


# --- environment and task options -------------------------------------------------------

@PROPERTY
@given(name=st.one_of(st.text(max_size=10), st.from_regex(r"\A[A-Za-z][A-Za-z0-9_-]{0,8}\Z"), SCALARS))
@example(name="env\n")  # a regex "$" matches before a final newline
def test_environment_name_any_input(name):
    # Flyte's rule (SPEC 7): lowercase words of letters and digits joined by single '_' or '-'
    ok = isinstance(name, str) and all(
        w and all(c.isascii() and (c.islower() or c.isdigit()) for c in w) for w in re.split("[_-]", name))
    if ok:
        assert TaskEnvironment(name).name == name
    else:
        with pytest.raises(ValueError) as info:
            TaskEnvironment(name)
        _refused("name", name, info)


@PROPERTY
@given(retries=ODD, timeout=ODD)
def test_task_options_valid_or_value_error(retries, timeout):
    try:
        opts = TaskOptions(retries=retries, timeout=timeout)
    except ValueError as e:
        assert "retries=" in str(e) or "timeout=" in str(e)
        assert not (_is_int(retries) and retries >= 0 and (timeout is None or (_is_int(timeout) and 0 <= timeout < 10**9)))
        return
    assert _is_int(opts.retries) and opts.retries == retries >= 0
    assert opts.timeout is None or (isinstance(opts.timeout, timedelta) and opts.timeout > timedelta(0))
    if _is_int(timeout):
        assert opts.timeout == (None if timeout == 0 else timedelta(seconds=timeout))
    if opts.timeout is None or opts.timeout.microseconds == 0 or opts.timeout < timedelta(days=36500):
        # float seconds lose microseconds past a few centuries: whole seconds stay exact
        assert TaskOptions.model_validate_json(opts.model_dump_json()) == opts
