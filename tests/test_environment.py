"""TaskEnvironment, @env.task and task.override: SPEC section 3."""
from __future__ import annotations

import asyncio
import functools
import inspect
import warnings
from datetime import timedelta

import pytest

from reuse_ref import DeprecatedTaskWarning, ReusePolicy, Resources, Task, TaskEnvironment, TaskOptions
from reuse_ref.config.environment import current_caller

from model_support import _id, _quiet_starvation  # noqa: F401 (autouse fixture)


@pytest.fixture
def env():
    return TaskEnvironment("pool", reusable=ReusePolicy(replicas=(1, 3), concurrency=1), resources=Resources(cpu=1))


@pytest.fixture
def plain_env():
    return TaskEnvironment("plain", resources=Resources(cpu=1), env_vars={"A": "1"})


def double(x: int) -> int:
    """Twice x."""
    return 2 * x


async def adouble(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


# --- TaskEnvironment --------------------------------------------------------------------

# Flyte's rule (SPEC 7): snake_case or kebab-case, lowercase letters and digits.
@pytest.mark.parametrize("name", ["a", "demo", "my-env", "env_2", "a1-b_c", "1env", "reuse-concurrency-2"])
def test_names_accepted(name):
    assert TaskEnvironment(name).name == name
    assert TaskEnvironment(name=name).name == name


@pytest.mark.parametrize("name", ["", "-env", "_env", "env-", "a--b", "a_-b", "Env", "A1-b_c", "my env", "a.b", "a/b", "é",
                                  "env\n", "\nenv", None, 5, True, ["a"], object()], ids=_id)
def test_names_refused(rejects, name):
    with rejects("name", name, "snake_case or kebab-case", "lowercase"):
        TaskEnvironment(name)


def test_name_is_required(rejects):
    with rejects("name", None):
        TaskEnvironment()


def test_environment_fields_and_defaults():
    e = TaskEnvironment("e")
    assert (e.resources, e.env_vars, e.secrets, e.reusable, e.image, e.pod_template) == (None,) * 6
    assert e.interruptible is False
    assert e.tasks == {}


def test_environment_normalises_its_inputs():
    e = TaskEnvironment(
        "e", resources={"cpu": "500m", "mem": "1Gi"}, env_vars={"K": "v"}, secrets=["TOKEN", "KEY"],
        reusable={"replicas": [1, 2], "idle_ttl": 60}, image="python:3.12-slim", description="d", interruptible=True,
    )
    assert e.resources == Resources(cpu="500m", memory="1Gi")
    assert e.env_vars == {"K": "v"}
    assert e.secrets == {"TOKEN": None, "KEY": None}
    assert e.reusable == ReusePolicy(replicas=(1, 2), idle_ttl=60)
    assert e.image == "python:3.12-slim"  # recorded, not built
    assert e.interruptible is True


@pytest.mark.parametrize("secrets, expected", [("TOKEN", {"TOKEN": None}), (("A", "B"), {"A": None, "B": None}),
                                               ({"A": "x"}, {"A": "x"}), (None, None)], ids=_id)
def test_secrets_forms(secrets, expected):
    assert TaskEnvironment("e", secrets=secrets).secrets == expected


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("resources", "1 cpu", "Resources"), ("resources", 5, "Resources"), ("resources", {1: 2}, "Resources"),
        ("resources", {"cpus": 1}, "not a resource"),
        ("env_vars", {"A": 1}, "str"), ("env_vars", ["A=1"], "str"), ("env_vars", "A=1", "str"), ("env_vars", {1: "a"}, "str"),
        ("secrets", 5, "secret name"), ("secrets", [""], "secret name"), ("secrets", {"A": 1}, "secret name"), ("secrets", [1], "secret name"),
        ("reusable", True, "ReusePolicy"), ("reusable", "off", "ReusePolicy"), ("reusable", 2, "ReusePolicy"),
        ("interruptible", "yes", "True or False"), ("interruptible", None, "True or False"),
    ],
    ids=_id,
)
def test_environment_fields_refused(rejects, field, value, allowed):
    with rejects(field, value, allowed):
        TaskEnvironment("e", **{field: value})


@pytest.mark.parametrize(
    "field, value, inner",
    [("resources", {"cpu": -1}, "cpu=-1 is not valid"), ("reusable", {"replicas": 0}, "replicas=0 is not valid"),
     ("reusable", {"concurrency": "2"}, "concurrency='2' is not valid")],
    ids=_id,
)
def test_nested_errors_name_the_outer_and_inner_field(field, value, inner):
    with pytest.raises(ValueError) as info:
        TaskEnvironment("e", **{field: value})
    assert field in str(info.value) and inner in str(info.value)


def test_reusable_mapping_with_a_non_string_key_is_a_value_error():
    with pytest.raises(ValueError, match="reusable"):
        TaskEnvironment("e", reusable={1: 2})


def test_unknown_environment_field_is_refused(rejects):
    with rejects("reuseable", 1, "not a parameter of TaskEnvironment", "reusable"):
        TaskEnvironment("e", reuseable=1)


def test_pod_template_with_reuse_is_refused(rejects):
    with rejects("pod_template", "tmpl", "reusable"):
        TaskEnvironment("e", reusable=ReusePolicy(), pod_template="tmpl")
    assert TaskEnvironment("e", pod_template="tmpl").pod_template == "tmpl"


def test_environment_is_frozen():
    e = TaskEnvironment("e")
    with pytest.raises(ValueError, match="frozen"):
        e.name = "f"


def test_environment_json_round_trip():
    e = TaskEnvironment("e", resources=Resources(cpu=2, gpu="L4:1"), env_vars={"A": "b"}, secrets={"S": "v"},
                        reusable=ReusePolicy(replicas=(0, 4), concurrency=2, idle_ttl=None), image="img")
    assert TaskEnvironment.model_validate_json(e.model_dump_json()) == e
    assert TaskEnvironment.model_validate(e.model_dump()) == e


def test_environment_mapping_with_a_key_that_is_not_a_str(rejects):
    with rejects("field", 1, "str"):  # pydantic would pass it to __init__ as a keyword: a TypeError
        TaskEnvironment.model_validate({1: 3})


# --- clone_with -------------------------------------------------------------------------

def test_clone_with_copies_and_applies_changes(env):
    env.task(double)
    clone = env.clone_with("pool2", reusable=ReusePolicy(replicas=4), env_vars={"B": "2"})
    assert clone.name == "pool2"
    assert clone.reusable == ReusePolicy(replicas=4)
    assert clone.env_vars == {"B": "2"}
    assert clone.resources == env.resources
    assert clone.tasks == {}  # tasks stay with the original
    assert env.name == "pool" and env.reusable == ReusePolicy(replicas=(1, 3))
    assert set(env.tasks) == {"pool.double"}


def test_clone_with_can_turn_reuse_off(env):
    assert env.clone_with("cold", reusable=None).reusable is None


def test_clone_with_none_keeps_the_value_as_the_sdk_does(env):
    clone = env.clone_with("copy", resources=None, env_vars=None, image=None, description=None)
    assert (clone.resources, clone.env_vars, clone.image) == (env.resources, env.env_vars, env.image)
    assert clone.reusable == env.reusable  # not given: kept


def test_clone_with_depends_on_and_the_sdk_arguments(env):
    clone = env.clone_with("main", reusable=None, depends_on=[env], interruptible=True, include=["a.txt"],
                           service_account="sa", cache="auto", queue="q")
    assert clone.depends_on == [env]
    assert (clone.interruptible, clone.include, clone.service_account, clone.cache, clone.queue) == \
        (True, ("a.txt",), "sa", "auto", "q")
    assert type(clone) is type(env)


def test_depends_on_takes_environments_only(rejects, env):
    assert TaskEnvironment("other", depends_on=[env]).depends_on == [env]
    with rejects("depends_on", ["pool"], "TaskEnvironment"):
        TaskEnvironment("other", depends_on=["pool"])


def test_clone_with_unknown_argument_is_refused(rejects, env):
    with rejects("replicas", 3, "an argument of clone_with", "reusable"):
        env.clone_with("x", replicas=3)


def test_clone_with_validates_like_the_constructor(rejects, env):
    with rejects("name", "bad name"):
        env.clone_with("bad name")
    with rejects("env_vars", {"A": 1}):
        env.clone_with("x", env_vars={"A": 1})
    with rejects("pod_template", "tmpl"):
        env.clone_with("x", pod_template="tmpl")


# --- @env.task --------------------------------------------------------------------------

def test_decorator_without_arguments(env):
    t = env.task(double)
    assert isinstance(t, Task)
    assert t.name == "pool.double" and t.short_name == "double"
    assert t.env is env and t.func is double
    assert t.options == TaskOptions()
    assert not t.is_async
    assert t.__name__ == "double" and t.__doc__ == "Twice x."
    assert env.tasks == {"pool.double": t}  # keyed by full name, as the SDK keys them


def test_decorator_syntax_both_ways(env):
    @env.task
    def a() -> int:
        return 1

    @env.task(retries=2)
    async def b() -> int:
        return 2

    @env.task()
    def c() -> int:
        return 3

    assert [type(t) for t in (a, b, c)] == [Task] * 3
    assert b.is_async and b.options.retries == 2
    assert set(env.tasks) == {"pool.a", "pool.b", "pool.c"}


def test_short_name_is_the_display_name_only(env):
    t = env.task(short_name="twice")(double)
    assert (t.name, t.short_name) == ("pool.double", "twice")  # SPEC 7: the full name stays the function's
    assert set(env.tasks) == {"pool.double"}
    o = t.override(short_name="thrice")
    assert (o.name, o.short_name) == ("pool.double", "thrice")
    assert o.pool_key == t.pool_key


@pytest.mark.parametrize("value", [5, "", ["x"]], ids=_id)
def test_short_name_refused(rejects, env, value):
    with rejects("short_name", value, "non-empty string"):
        env.task(short_name=value)(double)


def test_a_callable_without_a_name_needs_a_short_name(rejects, env):
    fn = functools.partial(double, 3)
    with rejects("short_name", None, "__name__"):
        env.task(fn)
    t = env.task(short_name="three")(fn)
    assert t() == 6
    assert t.override(short_name=None).short_name == "three"  # None changes nothing, as in the SDK


@pytest.mark.parametrize("value", [5, "double", None, object()], ids=_id)
def test_decorating_a_non_function_is_refused(rejects, env, value):
    with rejects("func", value, "function"):
        env.task()(value)


def test_decorating_a_task_is_refused(rejects, env):
    t = env.task(double)
    with rejects("func", t, "function"):
        env.task(t)


OPTION_CASES = [
    ("retries", 3, 3), ("retries", 0, 0),
    ("timeout", 10, timedelta(seconds=10)), ("timeout", timedelta(minutes=2), timedelta(minutes=2)),
    ("timeout", 0, None), ("timeout", timedelta(0), None), ("timeout", None, None),
    ("cache", True, True), ("cache", False, False), ("cache", "enable", True), ("cache", "auto", True),
    ("cache", "override", True), ("cache", "disable", False), ("cache", None, False),
    ("cache_version", "v2", "v2"), ("cache_version", None, ""),
    ("cache_serialize", True, True), ("cache_serialize", False, False),
    ("cache_ignore_input_vars", ("a", "b"), ("a", "b")), ("cache_ignore_input_vars", ["a"], ("a",)),
    ("cache_ignore_input_vars", "a", ("a",)), ("cache_ignore_input_vars", (), ()),
    ("deprecated", "use double2", "use double2"), ("deprecated", None, ""),
    ("interruptible", True, True), ("interruptible", False, False), ("interruptible", None, None),
    ("docs", "Doubles.", "Doubles."),
]


@pytest.mark.parametrize("option, value, stored", OPTION_CASES, ids=_id)
def test_task_options_accepted(env, option, value, stored):
    t = env.task(**{option: value})(double)
    assert getattr(t.options, option) == stored
    assert getattr(t, option) == stored  # options read as task attributes


@pytest.mark.parametrize(
    "option, value, allowed",
    [
        ("retries", -1, ">= 0"), ("retries", True, ">= 0"), ("retries", 1.5, ">= 0"), ("retries", "2", ">= 0"), ("retries", None, ">= 0"),
        ("timeout", -1, "at least 0 s"), ("timeout", 1.5, "timedelta"), ("timeout", "10", "timedelta"),
        ("timeout", True, "timedelta"), ("timeout", timedelta(seconds=-1), "at least 0 s"), ("timeout", 10**20, "timedelta.max"),
        ("cache", "yes", '"enable"'), ("cache", 1, '"enable"'), ("cache", ["enable"], '"enable"'),
        ("cache_version", 2, "a string"), ("deprecated", True, "a string"),
        ("cache_serialize", "yes", "True or False"), ("cache_serialize", None, "True or False"),
        ("cache_ignore_input_vars", [1], "input names"), ("cache_ignore_input_vars", 5, "input names"),
        ("interruptible", "yes", "True, False or None"), ("interruptible", 1, "True, False or None"),
    ],
    ids=_id,
)
def test_task_options_refused(rejects, env, option, value, allowed):
    with rejects(option, value, allowed):
        env.task(**{option: value})


@pytest.mark.parametrize(
    "opts",
    [TaskOptions(), TaskOptions(retries=2, timeout=10, cache="enable", cache_version="v1", cache_serialize=True,
                                cache_ignore_input_vars=["a", "b"], deprecated="old", interruptible=True, docs="d"),
     TaskOptions(timeout=timedelta(seconds=1.5))],
    ids=_id,
)
def test_task_options_round_trip(opts):
    assert TaskOptions.model_validate(opts.model_dump()) == opts
    assert TaskOptions.model_validate_json(opts.model_dump_json()) == opts


def test_task_options_json_writes_timeout_as_seconds():
    assert '"timeout":90' in TaskOptions(timeout=timedelta(minutes=1.5)).model_dump_json()


def test_unknown_task_option_is_refused(rejects, env):
    with rejects("retry", 3, "not a parameter of TaskOptions", "retries"):
        env.task(retry=3)


def test_task_attribute_that_is_not_an_option_raises_attribute_error(env):
    t = env.task(double)
    with pytest.raises(AttributeError):
        t.no_such_thing  # noqa: B018


# --- sync functions and concurrency -----------------------------------------------------

def test_sync_function_with_concurrency_above_one_is_refused_at_decoration():
    e = TaskEnvironment("busy", reusable=ReusePolicy(replicas=2, concurrency=4))
    with pytest.raises(ValueError) as info:
        e.task(double)
    message = str(info.value)
    assert "concurrency=4" in message and "busy.double" in message and "async def" in message
    assert e.tasks == {}


def test_async_function_with_concurrency_above_one_is_accepted():
    e = TaskEnvironment("busy", reusable=ReusePolicy(replicas=2, concurrency=4))
    t = e.task(adouble)
    assert t.is_async and t.reusable.concurrency == 4


def test_sync_function_with_concurrency_one_or_no_reuse_is_accepted():
    assert not TaskEnvironment("one", reusable=ReusePolicy(concurrency=1)).task(double).is_async
    assert TaskEnvironment("cold").task(double).reusable is None


# --- pod_template on a task --------------------------------------------------------------

def test_task_pod_template_with_reuse_is_refused(rejects, env, plain_env):
    with rejects("pod_template", "tmpl", "reusable"):
        env.task(pod_template="tmpl")
    assert plain_env.task(pod_template="tmpl")(double)(2) == 4


# --- override ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "field, value",
    [("resources", Resources(cpu=4)), ("resources", {"cpu": 4}), ("env_vars", {"B": "2"}), ("secrets", ["TOKEN"])],
    ids=_id,
)
def test_reuse_bound_fields_refused_while_reusable(rejects, env, field, value):
    t = env.task(double)
    with rejects(field, value, 'reusable="off"', "in the same override call", "pool.double"):
        t.override(**{field: value})


def test_reuse_bound_fields_refused_under_a_new_policy_too(rejects, plain_env):
    t = plain_env.task(double)
    with rejects("env_vars", {"B": "2"}, 'reusable="off"'):
        t.override(reusable=ReusePolicy(), env_vars={"B": "2"})


def test_reuse_bound_fields_allowed_with_reusable_off_in_the_same_call(env):
    t = env.task(double)
    cold = t.override(reusable="off", resources={"cpu": 4}, env_vars={"B": "2"}, secrets={"S": "v"})
    assert cold.reusable is None
    assert cold.resources == Resources(cpu=4)
    assert cold.env_vars == {"B": "2"}
    assert cold.secrets == {"S": "v"}
    # the original is untouched
    assert t.reusable == env.reusable and t.resources == Resources(cpu=1) and t.env_vars is None


def test_reuse_bound_fields_allowed_when_the_environment_is_not_reusable(plain_env):
    t = plain_env.task(double)
    o = t.override(resources=Resources(cpu=8), env_vars={})
    assert o.resources == Resources(cpu=8)
    assert o.env_vars == {}  # an empty mapping replaces the environment's, it is not ignored
    assert t.env_vars == {"A": "1"}


def test_override_keeps_what_it_does_not_change(plain_env):
    t = plain_env.task(retries=1)(double)
    o = t.override(timeout=30)
    assert o.resources == t.resources and o.env_vars == t.env_vars
    assert o.retries == 1 and o.timeout == timedelta(seconds=30)


@pytest.mark.parametrize("field", ["name", "image", "docs", "interface"])
def test_never_overridable(rejects, env, field):
    t = env.task(double)
    with rejects(field, "x", "not overridable"):
        t.override(**{field: "x"})
    with rejects(field, "x", "not overridable"):  # not even with reuse off
        t.override(reusable="off", **{field: "x"})


def test_unknown_override_is_refused(rejects, env):
    with rejects("retry", 2, "one of:", "retries"):
        env.task(double).override(retry=2)


@pytest.mark.parametrize("option, value", [("retries", -1), ("timeout", "5"), ("cache", "maybe")], ids=_id)
def test_override_validates_option_values(rejects, env, option, value):
    with rejects(option, value):
        env.task(double).override(**{option: value})


@pytest.mark.parametrize("value", ["on", "Off", True, 3, object()], ids=_id)
def test_override_reusable_refused(rejects, env, value):
    with rejects("reusable", value, '"off"'):
        env.task(double).override(reusable=value)


def test_override_returns_a_new_task_with_new_options(env):
    t = env.task(double)
    o = t.override(retries=3, timeout=timedelta(seconds=5), cache="enable", short_name="twice")
    assert o is not t
    assert (o.retries, o.timeout, o.cache, o.short_name) == (3, timedelta(seconds=5), True, "twice")
    assert (t.retries, t.timeout, t.cache, t.short_name) == (0, None, False, "double")
    assert o(4) == 8


def test_pool_key_is_environment_and_effective_policy(env):
    a, b = env.task(double), env.task(adouble)
    assert a.pool_key == b.pool_key == ("pool", env.reusable)
    bigger = a.override(reusable=ReusePolicy(replicas=(1, 6)))
    assert bigger.reusable == ReusePolicy(replicas=(1, 6))
    assert bigger.pool_key == ("pool", ReusePolicy(replicas=(1, 6)))
    assert bigger.pool_key != a.pool_key
    # the same policy built again gives the same pool
    assert a.override(reusable=ReusePolicy(replicas=(1, 3))).pool_key == a.pool_key
    assert a.override(reusable={"replicas": [1, 6]}).pool_key == bigger.pool_key
    assert len({a.pool_key, b.pool_key, bigger.pool_key}) == 2


def test_override_reusable_off_and_none(env):
    t = env.task(double)
    o = t.override(reusable="off")
    assert o.reusable is None
    assert o.pool_key == ("pool", None)
    assert t.reusable == env.reusable
    # SPEC 7: reusable=None changes nothing, as in the SDK (it used to mean "off")
    assert t.override(reusable=None).reusable == env.reusable
    assert o.override(reusable=None).reusable is None


def test_override_can_make_a_plain_task_reusable(plain_env):
    t = plain_env.task(double).override(reusable=ReusePolicy(replicas=3))
    assert t.reusable == ReusePolicy(replicas=3)


def test_override_to_concurrency_above_one_refuses_a_sync_task(env):
    with pytest.raises(ValueError, match="concurrency=2"):
        env.task(double).override(reusable=ReusePolicy(concurrency=2))
    assert env.task(adouble).override(reusable=ReusePolicy(concurrency=2)).reusable.concurrency == 2


# --- calling a task ---------------------------------------------------------------------

def test_sync_task_outside_a_runtime_calls_its_function(env):
    t = env.task(double)
    assert t(21) == 42
    assert t(x=5) == 10


def test_async_task_outside_a_runtime_returns_a_coroutine(env):
    t = env.task(adouble)
    coro = t(21)
    assert inspect.iscoroutine(coro)
    assert asyncio.run(coro) == 42


def test_exceptions_from_the_function_pass_through(env):
    @env.task
    def boom() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        boom()


def test_inside_a_runtime_calls_go_to_the_caller(env):
    class Recorder:
        def __init__(self):
            self.calls = []

        def call(self, task, args, kwargs):
            self.calls.append((task, args, kwargs))
            return "routed"

    t = env.task(double)
    recorder = Recorder()
    token = current_caller.set(recorder)
    try:
        assert t(3, y=1) == "routed"
    finally:
        current_caller.reset(token)
    assert recorder.calls == [(t, (3,), {"y": 1})]
    assert t(3) == 6  # outside again


def test_deprecated_task_warns_at_call_time_not_at_definition(env):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecatedTaskWarning)
        t = env.task(deprecated="use triple instead")(double)
    with pytest.warns(DeprecatedTaskWarning, match="pool.double.*use triple instead") as record:
        assert t(2) == 4
    assert record[0].filename == __file__  # the warning points at the caller
    assert issubclass(DeprecatedTaskWarning, UserWarning)


def test_deprecated_async_task_warns_when_called(env):
    t = env.task(deprecated="old")(adouble)
    with pytest.warns(DeprecatedTaskWarning, match="old"):
        coro = t(1)
    assert asyncio.run(coro) == 2


def test_task_without_deprecated_does_not_warn(env):
    t = env.task(double)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecatedTaskWarning)
        assert t(1) == 2


def test_repr(env):
    assert repr(env.task(double)) == "<Task pool.double reusable=ReusePolicy(replicas=(1, 3), concurrency=1, idle_ttl=30, scaledown_ttl=30)>"
    assert repr(env.task(adouble).override(reusable="off")) == "<async Task pool.adouble reusable=None>"


# --- environment variables (a replica's os.environ) --------------------------------------

_NOT_A_VARIABLE = [
    ({"A=B": "1"}, "'='"), ({"": "1"}, "empty"), ({"A\x00": "1"}, "NUL"), ({"A": "x\x00y"}, "NUL"),
    ({"=A": "1"}, "'='"),
]


@pytest.mark.parametrize("item, allowed", _NOT_A_VARIABLE, ids=_id)
def test_env_vars_that_cannot_be_a_variable_are_refused_at_construction(rejects, item, allowed):
    # os.environ refuses these names and values, so every replica would die at start
    with rejects("env_vars", item, allowed):
        TaskEnvironment("e", env_vars={"OK": "1", **item})


@pytest.mark.parametrize("item, allowed", _NOT_A_VARIABLE, ids=_id)
def test_env_vars_that_cannot_be_a_variable_are_refused_by_override(rejects, plain_env, item, allowed):
    t = plain_env.task(double)
    with rejects("env_vars", item, allowed):
        t.override(env_vars=item)


@pytest.mark.parametrize("secrets, shown", [
    ({"A=B": "v"}, {"A=B": "v"}), (["A=B"], "A=B"), ("A\x00", "A\x00"), ({"S": "v\x00"}, {"S": "v\x00"}),
], ids=_id)
def test_secrets_that_cannot_be_a_variable_are_refused(rejects, plain_env, secrets, shown):
    with rejects("secrets", shown):
        TaskEnvironment("e", secrets=secrets)
    with rejects("secrets", shown):
        plain_env.task(double).override(secrets=secrets)


def test_ordinary_variables_are_kept():
    e = TaskEnvironment("e", env_vars={"PATH_EXTRA": "a=b", "lower.dots": "", "X": "ünï"}, secrets=["TOKEN"])
    assert e.env_vars == {"PATH_EXTRA": "a=b", "lower.dots": "", "X": "ünï"}


# --- an async generator is not an async task ----------------------------------------------

async def agen(n: int):
    for k in range(n):
        yield k


def test_async_generator_under_concurrency_above_one_is_told_what_is_wrong(rejects):
    e = TaskEnvironment("busy", reusable=ReusePolicy(replicas=2, concurrency=4))
    with rejects("concurrency", 4, "busy.agen", "async generator", "not a coroutine function",
                 "must return a value") as info:
        e.task(agen)
    assert "Make it 'async def'" not in str(info.value)  # it is async def already
    with rejects("concurrency", 2, "async generator"):
        TaskEnvironment("one", reusable=ReusePolicy(concurrency=1)).task(agen).override(
            reusable=ReusePolicy(concurrency=2))
