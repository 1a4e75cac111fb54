"""ReusePolicy: SPEC section 1, rule by rule, with good and bad inputs."""
from __future__ import annotations

import json
import math
import warnings
from datetime import timedelta

import pytest

from reuse_ref import ReusePolicy, StarvationWarning, TaskEnvironment
from reuse_ref.config.errors import STARVATION_REMEDIES
from reuse_ref.config.policy import MIN_TTL_SECONDS

from model_support import _id, _quiet_starvation  # noqa: F401 (autouse fixture)

REPLICAS_ALLOWED = "0 <= min <= max and max >= 1"
TTL_ALLOWED = "at least 30 s"


# --- defaults ---------------------------------------------------------------------------

def test_defaults_follow_the_sdk():
    p = ReusePolicy()
    assert p.replicas == (2, 2)
    assert p.idle_ttl == timedelta(seconds=30)
    assert p.concurrency == 1
    assert p.scaledown_ttl == timedelta(seconds=30)
    assert p.scope == "global"
    assert MIN_TTL_SECONDS == 30


# --- replicas ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_replicas_int_means_a_fixed_pool(n):
    p = ReusePolicy(replicas=n)
    assert p.replicas == (n, n)
    assert type(p.replicas) is tuple
    assert not p.autoscales


@pytest.mark.parametrize("pair", [(0, 1), (1, 1), (1, 5), (0, 10), (3, 3)])
def test_replicas_pair_is_min_max(pair):
    p = ReusePolicy(replicas=pair)
    assert p.replicas == pair
    assert p.autoscales == (pair[0] < pair[1])


def test_replicas_two_item_list_is_accepted_as_a_pair():
    p = ReusePolicy(replicas=[1, 4])
    assert p.replicas == (1, 4)
    assert type(p.replicas) is tuple
    assert p == ReusePolicy(replicas=(1, 4))


@pytest.mark.parametrize(
    "value",
    [
        0, -1, -5,                       # an int must be >= 1
        (0, 0), [0, 0],                  # max >= 1
        (2, 1), (5, 0),                  # min <= max
        (-1, 2), (-3, -1),               # min >= 0
        True, False, (True, 2), (1, True), [False, True],  # a bool is not an int here
        1.0, 2.5, (1.0, 2), (1, 2.0), float("nan"), float("inf"),
        "2", "1,2", b"2", None,
        (), (1,), [3], (1, 2, 3), [1, 2, 3],
        {1, 2}, {"min": 1, "max": 2}, range(1, 3), object(),
        ("1", "2"), (None, 2), (1, None),
    ],
    ids=_id,
)
def test_replicas_refused(rejects, value):
    with rejects("replicas", value, REPLICAS_ALLOWED):
        ReusePolicy(replicas=value)


# --- TTLs -------------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["idle_ttl", "scaledown_ttl"])
@pytest.mark.parametrize("seconds", [30, 31, 60, 3600, 10**9])
def test_ttl_int_seconds_become_timedelta(field, seconds):
    p = ReusePolicy(**{field: seconds})
    value = getattr(p, field)
    assert isinstance(value, timedelta)
    assert value == timedelta(seconds=seconds)


@pytest.mark.parametrize("field", ["idle_ttl", "scaledown_ttl"])
@pytest.mark.parametrize("td", [timedelta(seconds=30), timedelta(minutes=5), timedelta(seconds=30.5), timedelta(days=3)])
def test_ttl_timedelta_is_kept(field, td):
    assert getattr(ReusePolicy(**{field: td}), field) == td


@pytest.mark.parametrize("field", ["idle_ttl", "scaledown_ttl"])
@pytest.mark.parametrize(
    "value",
    [
        29, 0, -1, -30, -(10**20), 10**20,    # below 30 s, or past timedelta.max
        timedelta(seconds=29), timedelta(seconds=29.999999), timedelta(0), timedelta(seconds=-60),
        30.0, 45.5, float("nan"), float("inf"),  # int seconds only (in Python)
        True, False, "30", "PT30S", [30], (30,), object(),
    ],
    ids=_id,
)
def test_ttl_refused(rejects, field, value):
    with rejects(field, value, TTL_ALLOWED, "timedelta"):
        ReusePolicy(**{field: value})


def test_idle_ttl_none_means_always_on():
    p = ReusePolicy(idle_ttl=None)
    assert p.idle_ttl is None
    assert p.ttl is None


def test_scaledown_ttl_none_is_refused(rejects):
    with rejects("scaledown_ttl", None, TTL_ALLOWED):
        ReusePolicy(scaledown_ttl=None)


def test_ttl_errors_say_none_is_allowed_only_for_idle_ttl():
    with pytest.raises(ValueError, match="or None"):
        ReusePolicy(idle_ttl=5)
    with pytest.raises(ValueError) as info:
        ReusePolicy(scaledown_ttl=5)
    assert "or None" not in str(info.value)


# --- concurrency ------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 16, 10**6])
def test_concurrency_accepted(n):
    assert ReusePolicy(concurrency=n).concurrency == n


@pytest.mark.parametrize("value", [0, -1, True, False, 1.0, 2.5, float("nan"), "2", None, [2], object()], ids=_id)
def test_concurrency_refused(rejects, value):
    with rejects("concurrency", value, ">= 1"):
        ReusePolicy(concurrency=value)


# --- scope ------------------------------------------------------------------------------

@pytest.mark.parametrize("scope", ["global", "run"])
def test_scope_accepted(scope):
    assert ReusePolicy(scope=scope).scope == scope


@pytest.mark.parametrize("value", ["Global", "RUN", "", "task", None, 1, True, ["run"], ("global",)], ids=_id)
def test_scope_refused(rejects, value):
    with rejects("scope", value, '"global"', '"run"'):
        ReusePolicy(scope=value)


# --- the model as a whole ---------------------------------------------------------------

def test_unknown_field_is_refused(rejects):
    with rejects("replica", 3, "not a parameter of ReusePolicy", "replicas, idle_ttl"):
        ReusePolicy(replica=3)


def test_policy_is_frozen_and_hashable():
    """Pools are keyed by policy (SPEC 3): a policy must not change and must hash by value."""
    p = ReusePolicy(replicas=(1, 3), concurrency=2)
    with pytest.raises(ValueError, match="frozen"):
        p.concurrency = 5
    assert p.concurrency == 2
    same = ReusePolicy(replicas=[1, 3], concurrency=2, idle_ttl=timedelta(seconds=30))
    assert p == same and hash(p) == hash(same)
    assert ReusePolicy(replicas=2) == ReusePolicy(replicas=(2, 2))
    assert ReusePolicy(replicas=2) != ReusePolicy(replicas=(1, 2))
    assert len({p, same, ReusePolicy()}) == 2


def test_every_bad_field_is_reported_together():
    with pytest.raises(ValueError) as info:
        ReusePolicy(replicas=0, concurrency=0, idle_ttl=1)
    message = str(info.value)
    assert type(info.value) is ValueError and "\n" not in message  # one line, as the command line prints it
    assert message.count(" is not valid: ") == 3
    for field in ("replicas", "concurrency", "idle_ttl"):
        assert f"{field}=" in message


# --- accessors --------------------------------------------------------------------------

def test_accessors():
    p = ReusePolicy(replicas=(1, 5), concurrency=4, idle_ttl=600, scaledown_ttl=timedelta(minutes=2))
    assert p.min_replicas == 1
    assert p.max_replicas == 5
    assert p.ttl == timedelta(seconds=600)
    assert p.get_scaledown_ttl() == timedelta(minutes=2)
    assert p.capacity == 20
    assert p.autoscales


@pytest.mark.parametrize("replicas, concurrency, capacity", [(1, 2, 2), (3, 1, 3), ((0, 4), 3, 12), ((2, 2), 8, 16)])
def test_capacity_is_max_replicas_times_concurrency(replicas, concurrency, capacity):
    assert ReusePolicy(replicas=replicas, concurrency=concurrency).capacity == capacity


# --- starvation warning -----------------------------------------------------------------

@pytest.mark.parametrize("replicas", [1, (1, 1), (0, 1), [0, 1]])
def test_starvation_warning_for_one_replica_with_concurrency_one(replicas):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ReusePolicy(replicas=replicas, concurrency=1)
    starvation = [w for w in caught if issubclass(w.category, StarvationWarning)]
    assert len(starvation) == 1
    text = str(starvation[0].message)
    # the three remedies: more replicas, more concurrency with async tasks, reusable="off"
    assert "replicas to at least 2" in text
    assert "concurrency above 1" in text and "async" in text
    assert 'reusable="off"' in text
    assert STARVATION_REMEDIES in text
    # it points at the line that built the policy, not into pydantic or pytest
    assert starvation[0].filename == __file__


@pytest.mark.parametrize("build", ["model_validate", "model_validate_json"])
def test_starvation_warning_from_validation_points_at_the_caller(build):
    data = {"replicas": 1}
    with pytest.warns(StarvationWarning) as record:
        getattr(ReusePolicy, build)(data if build == "model_validate" else json.dumps(data))
    assert record[0].filename == __file__


def test_starvation_warning_is_a_user_warning_and_pytest_sees_it():
    assert issubclass(StarvationWarning, UserWarning)
    with pytest.warns(StarvationWarning, match=r"replicas to at least 2.*concurrency above 1.*reusable=\"off\""):
        ReusePolicy(replicas=1)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"replicas": (1, 2)}, {"replicas": 2}, {"replicas": 1, "concurrency": 2}, {"replicas": (0, 1), "concurrency": 3}],
    ids=_id,
)
def test_no_starvation_warning_otherwise(kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", StarvationWarning)
        ReusePolicy(**kwargs)


# --- repr -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "p",
    [ReusePolicy(), ReusePolicy(replicas=(0, 3), concurrency=4), ReusePolicy(idle_ttl=None, scope="run"),
     ReusePolicy(replicas=(1, 2), idle_ttl=3600, scaledown_ttl=45)],
    ids=_id,
)
def test_repr_reads_back_as_the_same_policy(p):
    assert eval(repr(p), {"ReusePolicy": ReusePolicy}) == p


def test_repr_is_short():
    assert repr(ReusePolicy(replicas=(1, 4), concurrency=2)) == (
        "ReusePolicy(replicas=(1, 4), concurrency=2, idle_ttl=30, scaledown_ttl=30)"
    )


# --- JSON -------------------------------------------------------------------------------

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarvationWarning)
    POLICIES = [
        ReusePolicy(),
        ReusePolicy(replicas=(0, 5), concurrency=3, idle_ttl=None, scaledown_ttl=90, scope="run"),
        ReusePolicy(replicas=4, idle_ttl=timedelta(seconds=30.5), scaledown_ttl=timedelta(hours=2, microseconds=7)),
        ReusePolicy(replicas=1, idle_ttl=timedelta(days=365 * 1000)),
    ]


@pytest.mark.parametrize("p", POLICIES, ids=_id)
def test_python_round_trip(p):
    assert ReusePolicy.model_validate(p.model_dump()) == p


@pytest.mark.parametrize("p", POLICIES, ids=_id)
def test_json_round_trip(p):
    text = p.model_dump_json()
    back = ReusePolicy.model_validate_json(text)
    assert back == p
    assert back.model_dump_json() == text


def test_json_writes_ttls_as_seconds_and_replicas_as_a_pair():
    data = json.loads(ReusePolicy(replicas=(1, 3), idle_ttl=None, scaledown_ttl=timedelta(seconds=90.25)).model_dump_json())
    assert data == {"replicas": [1, 3], "idle_ttl": None, "concurrency": 1, "scaledown_ttl": 90.25, "scope": "global"}
    assert json.loads(ReusePolicy().model_dump_json())["idle_ttl"] == 30


def test_json_input_takes_float_seconds_python_input_does_not(rejects):
    assert ReusePolicy.model_validate_json('{"idle_ttl": 42.5}').idle_ttl == timedelta(seconds=42.5)
    with rejects("idle_ttl", 42.5, TTL_ALLOWED):
        ReusePolicy.model_validate({"idle_ttl": 42.5})


@pytest.mark.parametrize(
    "text, field",
    [('{"replicas": 0}', "replicas"), ('{"replicas": [3, 1]}', "replicas"), ('{"idle_ttl": 10}', "idle_ttl"),
     ('{"idle_ttl": "PT60S"}', "idle_ttl"), ('{"scaledown_ttl": null}', "scaledown_ttl"),
     ('{"concurrency": true}', "concurrency"), ('{"scope": "all"}', "scope"), ('{"idle_ttl": 1e400}', "idle_ttl")],
)
def test_bad_json_names_the_field(text, field):
    with pytest.raises(ValueError, match=field):
        ReusePolicy.model_validate_json(text)


def test_json_schema_lists_the_five_fields():
    schema = ReusePolicy.model_json_schema()
    assert set(schema["properties"]) == {"replicas", "idle_ttl", "concurrency", "scaledown_ttl", "scope"}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["scope"]["enum"] == ["global", "run"]


def test_json_schema_replicas_admits_an_int_or_a_pair():
    replicas = ReusePolicy.model_json_schema()["properties"]["replicas"]
    kinds = {alt["type"]: alt for alt in replicas["anyOf"]}
    assert set(kinds) == {"integer", "array"}
    pair = kinds["array"]
    assert pair["minItems"] == pair["maxItems"] == 2
    assert pair["prefixItems"] == [{"type": "integer"}, {"type": "integer"}]


def test_json_schema_ttls_are_seconds_with_json_defaults():
    """The schema must describe what model_validate_json accepts, defaults included."""
    props = ReusePolicy.model_json_schema()["properties"]
    assert props["idle_ttl"]["anyOf"] == [{"type": "number"}, {"type": "null"}]
    assert props["scaledown_ttl"]["type"] == "number"
    for field in ("idle_ttl", "scaledown_ttl"):
        default = props[field]["default"]
        assert default == 30
        assert getattr(ReusePolicy.model_validate_json(json.dumps({field: default})), field) == timedelta(seconds=30)


def test_nan_is_refused_everywhere():
    nan = float("nan")
    assert math.isnan(nan)
    for field in ("replicas", "idle_ttl", "scaledown_ttl", "concurrency", "scope"):
        with pytest.raises(ValueError, match=field):
            ReusePolicy(**{field: nan})


def test_starvation_warning_is_emitted_once_per_policy_even_when_an_environment_takes_it():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        policy = ReusePolicy(replicas=1)
        TaskEnvironment("one_warning", reusable=policy)
        TaskEnvironment("another", reusable=policy)
    assert [w.category for w in caught] == [StarvationWarning]


@pytest.mark.parametrize("field", ["idle_ttl", "scaledown_ttl"])
@pytest.mark.parametrize("ttl", [timedelta.max, timedelta(days=10**6, microseconds=1)], ids=_id)
def test_ttl_that_float_seconds_cannot_carry_is_refused(rejects, field, ttl):
    # JSON carries TTLs as seconds; past 2**53 microseconds a fraction of a second is lost,
    # so such a policy would not read back as itself: refused when built, not when read
    with rejects(field, ttl, "JSON", "whole seconds"):
        ReusePolicy(**{field: ttl})


@pytest.mark.parametrize("ttl", [timedelta.max - timedelta(microseconds=timedelta.max.microseconds),
                                 timedelta(days=10**4, microseconds=1), timedelta(seconds=30, microseconds=999999)], ids=_id)
def test_large_ttls_that_can_be_carried_survive_the_json_round_trip(ttl):
    p = ReusePolicy(idle_ttl=ttl, scaledown_ttl=ttl)
    assert ReusePolicy.model_validate_json(p.model_dump_json()) == p


# --- the starvation warning is issued once, not again in each replica that imports the module

_BUILDS_A_STARVING_POLICY = "from reuse_ref import ReusePolicy\nReusePolicy(replicas=1)\n"


def _stderr_of(args: list, env: dict) -> str:
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_a_process_marked_as_a_replica_does_not_warn():
    # the replica sets this variable before it imports the user's code
    assert "StarvationWarning" in _stderr_of(["-c", _BUILDS_A_STARVING_POLICY], {"REUSE_REF_REPLICA": ""})
    assert _stderr_of(["-c", _BUILDS_A_STARVING_POLICY], {"REUSE_REF_REPLICA": "1"}) == ""


def test_the_users_script_warns_once_however_many_replicas_import_it(tmp_path):
    # every replica process imports the script again (as __mp_main__) before any code of
    # the replica runs, so the mark has to be one that multiprocessing sets first
    script = tmp_path / "starving.py"
    script.write_text(
        "from reuse_ref import ReusePolicy, TaskEnvironment, Runtime\n"
        "env = TaskEnvironment('one', reusable=ReusePolicy(replicas=1))\n"
        "@env.task\n"
        "def work(x: int) -> int:\n"
        "    return x + 1\n"
        "if __name__ == '__main__':\n"
        "    cold = work.override(reusable='off')  # a fresh replica for each call\n"
        "    with Runtime(time_scale=0.01) as rt:\n"
        "        assert [rt.run(cold, i).result for i in range(3)] == [1, 2, 3]\n"
    )
    for method in ("forkserver", "spawn"):
        err = _stderr_of([str(script)], {"REUSE_REF_START_METHOD": method, "REUSE_REF_REPLICA": ""})
        assert err.count("StarvationWarning") == 1, (method, err)
