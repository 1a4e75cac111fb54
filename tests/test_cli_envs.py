"""``reuse-ref simulate`` with a policy per environment: ``--env NAME`` and the options after it.

Every case runs ``reuse_ref.cli.main([...])`` in-process and compares with
``reuse_ref.simulate`` given the same policies as a mapping; the bad inputs exit with
status 2, name the option, the value and what is allowed, and write nothing.
"""
from __future__ import annotations

import json

import pytest

from reuse_ref import ReusePolicy, Resources, StarvationWarning
from reuse_ref.cli import main
from reuse_ref.sim import simulate
from reuse_ref.sim.workload_csv import read_csv

# two runs of a driver that fans three, then one, calls out to workers
TWO_ENVS = ("id,at,duration,name,parent,env\n"
            "d1,0,5,main,,driver\nw1,1,30,work,d1,worker\nw2,1,30,work,d1,worker\nw3,1,30,work,d1,worker\n"
            "d2,20,5,main,,driver\nw4,1,30,work,d2,worker\n")


@pytest.fixture
def two_envs(tmp_path):
    path = tmp_path / "calls.csv"
    path.write_text(TWO_ENVS)
    return path


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_a_policy_per_environment_is_the_mapping_simulate_takes(capsys, two_envs):
    status, out, err = run(capsys, "simulate", "--workload", two_envs, "--cold-start", "12", "--json",
                           "--env", "driver", "--replicas", "1", "--concurrency", "4", "--idle-ttl", "600",
                           "--env", "worker", "--replicas", "0,4", "--concurrency", "2", "--scaledown-ttl", "60")
    assert status == 0, err
    data = json.loads(out)
    policies = {"driver": ReusePolicy(replicas=1, concurrency=4, idle_ttl=600),
                "worker": ReusePolicy(replicas=(0, 4), concurrency=2, scaledown_ttl=60)}
    trace = simulate(policies, read_csv(two_envs), cold_start=12)
    assert data["envs"] == ["driver", "worker"] and "env" not in data and "policy" not in data
    whole = trace.measures().as_dict()
    assert {k: data[k] for k in whole} == whole
    for env, policy in policies.items():
        got = data["environments"][env]
        assert got.pop("policy") == json.loads(policy.model_dump_json())
        assert got == trace.measures(env).as_dict()
    # the driver's one replica served both runs; the worker pool grew to two replicas of two slots
    assert (data["environments"]["driver"]["cold_starts"], data["environments"]["worker"]["peak_replicas"]) == (1, 2)


def test_options_before_the_first_env_are_every_environments_unless_its_section_says(capsys, two_envs):
    status, out, err = run(capsys, "simulate", "--workload", two_envs, "--json", "--idle-ttl", "300",
                           "--concurrency", "2", "--env", "driver", "--replicas", "1",
                           "--env", "worker", "--replicas", "1,3", "--concurrency", "3")
    assert status == 0, err
    policies = {env: m["policy"] for env, m in json.loads(out)["environments"].items()}
    assert (policies["driver"]["concurrency"], policies["worker"]["concurrency"]) == (2, 3)
    assert policies["driver"]["idle_ttl"] == policies["worker"]["idle_ttl"] == 300
    assert policies["driver"]["scaledown_ttl"] == 30  # nowhere given: the option's default


def test_reusable_off_is_an_environment_without_reuse(capsys, two_envs):
    status, out, err = run(capsys, "simulate", "--workload", two_envs, "--json",
                           "--env", "driver", "--reusable", "off", "--env", "worker", "--replicas", "2")
    assert status == 0, err
    data = json.loads(out)
    trace = simulate({"driver": None, "worker": ReusePolicy(replicas=2)}, read_csv(two_envs))
    assert data["environments"]["driver"]["policy"] is None
    assert data["environments"]["driver"]["cold_starts"] == trace.measures("driver").cold_starts == 2  # one per call
    assert data["cold_starts"] == trace.measures().cold_starts


def test_replica_size_per_environment_gives_each_its_footprint(capsys, two_envs):
    status, out, err = run(capsys, "simulate", "--workload", two_envs, "--json", "--memory", "1Gi",
                           "--env", "driver", "--replicas", "1", "--cpu", "1",
                           "--env", "worker", "--replicas", "0,3", "--cpu", "4", "--gpu", "L4:1")
    assert status == 0, err
    envs = json.loads(out)["environments"]
    sizes = {"driver": Resources(cpu=1, memory="1Gi"), "worker": Resources(cpu=4, memory="1Gi", gpu="L4:1")}
    # a driver of one replica and one slot: the policy's warning, on stderr, says which environment's
    assert "warning: --env driver: ReusePolicy(replicas=(1, 1), concurrency=1) can starve" in err
    with pytest.warns(StarvationWarning):
        driver = ReusePolicy(replicas=1)
    trace = simulate({"driver": driver, "worker": ReusePolicy(replicas=(0, 3))}, read_csv(two_envs), resources=sizes)
    for env in sizes:
        want = trace.measures(env)
        assert (envs[env]["cpu_seconds"], envs[env]["gib_seconds"], envs[env]["gpu_seconds"]) == \
               (want.cpu_seconds, want.gib_seconds, want.gpu_seconds)
    assert envs["worker"]["cpu_seconds"] == 4 * envs["worker"]["replica_seconds"] > 0
    assert envs["driver"]["gpu_seconds"] == 0


def test_the_text_shows_each_environment_then_all_of_them(capsys, two_envs):
    status, out, err = run(capsys, "simulate", "--workload", two_envs,
                           "--env", "driver", "--replicas", "1", "--env", "worker", "--replicas", "0,4")
    assert status == 0, err
    driver, worker, whole = out.split("\n\n")
    assert driver.startswith("environment 'driver': ReusePolicy(replicas=1,")
    assert worker.startswith("environment 'worker': ReusePolicy(replicas=(0, 4),")
    assert whole.startswith("all environments\n") and "tasks              6 (done 6" in whole


def test_one_environment_named_by_env_is_the_same_as_without(capsys, tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("at,duration,env\n0,20,fan\n1,20,fan\n2,20,fan\n")
    status, plain, _ = run(capsys, "simulate", "--workload", path, "--replicas", "1,3", "--json")
    assert status == 0
    status, named, err = run(capsys, "simulate", "--workload", path, "--env", "fan", "--replicas", "1,3", "--json")
    assert status == 0, err
    assert json.loads(plain) == json.loads(named) and json.loads(plain)["env"] == "fan"


def test_reusable_off_without_env_simulates_the_one_environment_without_reuse(capsys, tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("at,duration,env\n0,20,fan\n1,20,fan\n")
    status, out, err = run(capsys, "simulate", "--workload", path, "--reusable", "off", "--json")
    assert status == 0, err
    data = json.loads(out)
    assert (data["env"], data["policy"], data["cold_starts"], data["warm_starts"]) == ("fan", None, 2, 0)


@pytest.mark.parametrize("argv, fragments", [
    # an environment on the command line that the workload does not name
    (["--env", "driver", "--replicas", "1", "--env", "workers"],
     ["--env workers is not valid", "the workload names 'driver', 'worker'"]),
    # an environment of the workload with no policy
    (["--env", "driver", "--replicas", "1"],
     ["names environment 'worker', which has no --env section", "--env driver --replicas 1 --env worker"]),
    # several environments, no --env at all
    (["--replicas", "2"], ["names 2 environments ('driver', 'worker')", "after --env NAME"]),
    # the same environment twice
    (["--env", "driver", "--replicas", "1", "--env", "worker", "--env", "driver"],
     ["argument --env: 'driver' is given twice", "give each environment once"]),
    # an option twice in one section
    (["--env", "driver", "--replicas", "1", "--concurrency", "2", "--concurrency", "3", "--env", "worker"],
     ["argument --concurrency: given twice for --env driver (2, then 3)"]),
    (["--env", "driver", "--reusable", "off", "--concurrency", "2", "--env", "worker"],
     ["--env driver: --concurrency 2 is not valid with --reusable off"]),
    (["--reusable", "off", "--env", "driver", "--env", "worker", "--replicas", "3"],
     ["--env worker: --replicas 3 is not valid with --reusable off"]),
    (["--env", "driver", "--reusable", "maybe", "--env", "worker"],
     ["argument --reusable: invalid value 'maybe'", "give off"]),
    (["--env", "driver", "--replicas", "1", "--env", "worker", "--replicas", "5,2"],
     ["--env worker: replicas=(5, 2) is not valid"]),
    (["--env", "driver", "--idle-ttl", "10", "--env", "worker"], ["--env driver: idle_ttl=10 is not valid"]),
    (["--env", "driver", "--memory", "lots", "--env", "worker"], ["--env driver: --memory='lots' is not valid"]),
    (["--name", "x", "--env", "driver", "--env", "worker"], ["--name 'x' is not valid with --env"]),
    (["--env", "", "--env", "worker"], ["argument --env: invalid value ''"]),
])
def test_bad_environments_exit_2_naming_option_value_and_what_is_allowed(capsys, two_envs, tmp_path, argv,
                                                                          fragments):
    trace_csv = tmp_path / "trace.csv"
    status, out, err = run(capsys, "simulate", "--workload", two_envs, "--trace", trace_csv, *argv)
    assert status == 2 and out == ""
    for fragment in fragments:
        assert fragment in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.csv"]


def test_env_on_a_workload_that_names_no_environment_says_to_leave_it_out(capsys, tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text("at,duration\n0,5\n")
    status, out, err = run(capsys, "simulate", "--workload", path, "--env", "worker", "--replicas", "2")
    assert status == 2 and out == ""
    assert "--env worker is not valid: the workload names no environment" in err and "without --env" in err
