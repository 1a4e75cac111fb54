"""The behaviours that flyte-sdk's own reuse tests check, written for ``reuse_ref.flyte`` (SPEC 7).

flyte-sdk's tests of reusable environments (tools/sdk_reuse_tests.py runs them against
the reference) mostly cannot import here: they build Kubernetes pod specs and serialise
tasks to the service's wire format. These tests check the same behaviours in the terms
the reference models, one group per flyte-sdk test module.
"""
from datetime import timedelta

import pytest

import reuse_ref.flyte as flyte


@pytest.fixture
def reusable_env():
    return flyte.TaskEnvironment(name="oomer_with_reuse", resources=flyte.Resources(cpu=1, memory="250Mi"),
                                 reusable=flyte.ReusePolicy(replicas=2, idle_ttl=60))


@pytest.fixture
def reusable_task(reusable_env):
    async def oomer(x: int) -> int:
        return x
    return reusable_env.task(oomer)


@pytest.fixture
def plain_task():
    env = flyte.TaskEnvironment(name="hello_world", resources=flyte.Resources(cpu=1, memory="250Mi"))

    async def oomer(x: int) -> int:
        return x
    return env.task(oomer)


# --- tests/user_api/test_reuse_policy.py ------------------------------------------------

def test_policy_keeps_an_autoscaling_range_and_ttls_as_timedeltas():
    p = flyte.ReusePolicy(replicas=(1, 10), idle_ttl=300, scaledown_ttl=600, concurrency=5)
    assert (p.replicas, p.idle_ttl, p.scaledown_ttl, p.concurrency) == \
        ((1, 10), timedelta(seconds=300), timedelta(seconds=600), 5)


def test_policy_int_replicas_is_a_fixed_pool():
    assert flyte.ReusePolicy(replicas=2, idle_ttl=300, concurrency=5).replicas == (2, 2)


def test_policy_of_one_replica_and_one_slot_is_allowed_with_a_warning():
    with pytest.warns(UserWarning, match="starve"):
        p = flyte.ReusePolicy(replicas=(1, 1), idle_ttl=300, concurrency=1)
    assert p.replicas == (1, 1)


# --- tests/user_api/test_task_environment.py ---------------------------------------------

def test_clone_with_defaults_keep_everything_but_name_and_reuse():
    base = flyte.TaskEnvironment(name="env", image="img", resources=flyte.Resources(cpu="1", memory="1Gi"))
    clone = base.clone_with(name="env2")
    assert (clone.name, clone.image, clone.resources, clone.cache, clone.reusable, clone.depends_on) == \
        ("env2", "img", base.resources, base.cache, None, [])


def test_clone_with_takes_every_sdk_argument():
    base = flyte.TaskEnvironment(name="env", image="img")
    other = flyte.TaskEnvironment(name="other", image="x")
    clone = base.clone_with(name="new", image="new_img", resources=flyte.Resources(cpu="2", memory="2Gi"),
                            cache="custom", reusable=flyte.ReusePolicy(replicas=2), env_vars={"A": "B"},
                            secrets="sec", depends_on=[other])
    assert (clone.image, clone.cache, clone.env_vars, clone.secrets, clone.depends_on) == \
        ("new_img", "custom", {"A": "B"}, "sec", [other])
    assert clone.reusable == flyte.ReusePolicy(replicas=2)


def test_a_reusable_environment_refuses_a_pod_template_on_a_task():
    env = flyte.TaskEnvironment(name="r", reusable=flyte.ReusePolicy(replicas=(1, 2)))

    async def z() -> None:
        return None

    with pytest.raises(ValueError, match="pod_template"):
        env.task(z, pod_template="tmpl")


@pytest.mark.parametrize("kwargs, param", [({"image": 123}, "image"), ({"secrets": 123}, "secrets"),
                                           ({"depends_on": [123]}, "depends_on"), ({"resources": 123}, "resources"),
                                           ({"env_vars": 123}, "env_vars"), ({"cache": 123}, "cache"),
                                           ({"reusable": 123}, "reusable")])
def test_bad_environment_arguments_are_value_errors_naming_the_parameter(kwargs, param):
    with pytest.raises(ValueError, match=f"{param}="):  # the SDK raises TypeError here (a listed difference)
        flyte.TaskEnvironment(name="bad", **kwargs)


def test_add_dependency_takes_environments_only():
    env, other = flyte.TaskEnvironment(name="a"), flyte.TaskEnvironment(name="b")
    env.add_dependency(other, other)
    assert env.depends_on == [other]
    with pytest.raises(ValueError, match="TaskEnvironment"):
        env.add_dependency(123)


# --- tests/user_api/test_override.py -------------------------------------------------------

def test_reuse_bound_fields_are_refused_while_reusable(plain_task, reusable_task):
    with pytest.raises(ValueError, match="resources"):  # made reusable and resized in one call
        plain_task.override(resources=flyte.Resources(cpu=2, memory="500Mi"),
                            reusable=flyte.ReusePolicy(replicas=2, idle_ttl=60))
    for change in ({"resources": flyte.Resources(cpu=2)}, {"env_vars": {}}, {"secrets": "my_secret"}):
        with pytest.raises(ValueError, match='reusable="off"'):
            reusable_task.override(**change)


def test_a_cache_override_keeps_the_resources_as_given(reusable_task):
    new = reusable_task.override(cache=flyte.Cache("auto"))
    assert (new.resources.cpu, new.resources.memory) == (1, "250Mi")
    assert isinstance(new.cache, flyte.Cache) and new.cache.behavior == "auto"
    assert new is not reusable_task and reusable_task.cache.behavior == "disable"


def test_reuse_off_allows_new_resources(reusable_task):
    new = reusable_task.override(reusable="off", resources=flyte.Resources(cpu=2, memory="500Mi"))
    assert (new.resources.cpu, new.resources.memory, new.reusable) == (2, "500Mi", None)


def test_a_short_name_override_keeps_the_policy(reusable_task):
    new = reusable_task.override(short_name="renamed_reuse")
    assert new.short_name == "renamed_reuse" and new.name == reusable_task.name
    assert new.reusable.replicas == (2, 2)


def test_reuse_off_with_pod_template_and_short_name_keeps_all_three(reusable_task):
    pod = flyte.PodTemplate(labels={"env": "staging"})
    new = reusable_task.override(reusable="off", resources=flyte.Resources(cpu=4, memory="1Gi"), pod_template=pod,
                                 short_name="no_reuse_task")
    assert (new.short_name, new.reusable, new.resources.cpu, new.pod_template) == ("no_reuse_task", None, 4, pod)
    assert new.override(short_name="again").pod_template == pod  # survives a later override


def test_name_image_docs_and_interface_are_never_overridden(reusable_task):
    for field in ("name", "image", "docs", "interface"):
        with pytest.raises(ValueError, match=field):
            reusable_task.override(**{field: "x"})


# --- tests/flyte/internal/runtime/test_reuse.py: what makes a pool ----------------------------

def test_the_pool_is_keyed_by_environment_and_effective_policy(reusable_task):
    assert reusable_task.pool_key == ("oomer_with_reuse", flyte.ReusePolicy(replicas=2, idle_ttl=60))
    assert reusable_task.override(short_name="x").pool_key == reusable_task.pool_key
    other = reusable_task.override(reusable=flyte.ReusePolicy(replicas=3, idle_ttl=60))
    assert other.pool_key != reusable_task.pool_key
    assert reusable_task.override(reusable="off").pool_key == ("oomer_with_reuse", None)


def test_a_policy_maps_onto_replica_counts_ttls_and_slots():
    p = flyte.ReusePolicy(replicas=(1, 3), idle_ttl=1800, scaledown_ttl=45, concurrency=4)
    assert (p.min_replicas, p.max_replicas, p.idle_ttl.total_seconds(), p.get_scaledown_ttl().total_seconds(),
            p.concurrency, p.capacity) == (1, 3, 1800, 45, 4, 12)
    assert flyte.ReusePolicy().get_scaledown_ttl() == timedelta(seconds=30)  # the default when none is set


def test_a_plugin_config_with_reuse_is_refused():
    with pytest.raises(ValueError, match="plugin_config"):
        flyte.TaskEnvironment(name="clustered", plugin_config=object(), reusable=flyte.ReusePolicy(replicas=2))
