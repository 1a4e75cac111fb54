"""Resources: SPEC section 2 (parsing into canonical numbers, aliases, footprint)."""
from __future__ import annotations

import json

import pytest

from reuse_ref import Resources
from reuse_ref.config.resources import parse_bytes, parse_cpu, parse_gpu

GI, MI, KI = 2**30, 2**20, 2**10


def _id(value: object) -> str:
    return "object()" if type(value) is object else repr(value)


# --- cpu --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "value, cores",
    [(1, 1.0), (2, 2.0), (0, 0.0), (0.5, 0.5), (1.25, 1.25), ("2", 2.0), ("0.5", 0.5), ("500m", 0.5),
     ("250m", 0.25), (" 1500m ", 1.5), ("0m", 0.0), (".5", 0.5)],
    ids=_id,
)
def test_cpu_parsed_to_cores(value, cores):
    r = Resources(cpu=value)
    assert r.cpu == value  # kept as given, as the SDK keeps it (SPEC 7) ...
    assert r.cpu_cores == cores  # ... with the parsed quantity beside it
    assert isinstance(r.cpu_cores, float)


@pytest.mark.parametrize(
    "value",
    [-1, -0.5, "-1", "-500m", "abc", "", "1Gi", "1 cores", "500M", "1e3", "1.2.3", "m",
     True, False, float("nan"), float("inf"), -float("inf"), 10**400, "1" + "0" * 400,
     [1], (1,), {"cpu": 1}, object()],
    ids=_id,
)
def test_cpu_refused(rejects, value):
    with rejects("cpu", value, "cores"):
        Resources(cpu=value)


# --- memory and disk --------------------------------------------------------------------

@pytest.mark.parametrize(
    "value, nbytes",
    [(0, 0), (1024, 1024), ("100", 100), ("1Ki", KI), ("500Mi", 500 * MI), ("1Gi", GI), ("1.5Gi", 3 * GI // 2),
     ("2G", 2 * 10**9), ("1k", 1000), ("1K", 1000), ("3M", 3 * 10**6), ("1Ti", 2**40), ("1T", 10**12),
     (" 1 Gi ", GI), (1.9, 1)],
    ids=_id,
)
@pytest.mark.parametrize("field", ["memory", "disk"])
def test_bytes_parsed(field, value, nbytes):
    r = Resources(**{field: value})
    assert getattr(r, field) == value
    assert getattr(r, f"{field}_bytes") == nbytes
    assert type(getattr(r, f"{field}_bytes")) is int


def test_memory_kept_as_given_also_acts_as_its_bytes():
    """The bridge for code that read memory as bytes (the runtime's memory watch)."""
    m = Resources(memory="1Gi").memory
    assert m == "1Gi" and isinstance(m, str) and str(m) == "1Gi"
    assert m > GI - 1 and not m > GI and m >= GI and m < GI + 1 and m <= GI
    assert m / 2**20 == 1024 and int(m) == GI and float(m) == float(GI)
    assert m < "2Gi"  # against a string it is a string


def test_pairs_count_as_their_limit():
    r = Resources(cpu=(1, 2), memory=("1Gi", "2Gi"))
    assert (r.cpu, r.memory) == ((1, 2), ("1Gi", "2Gi"))
    assert (r.cpu_cores, r.memory_bytes) == (2.0, 2 * GI)


def test_shm_is_recorded():
    assert Resources(shm="1Gi").shm_bytes == GI
    assert Resources(shm="auto").shm == "auto" and Resources(shm="auto").shm_bytes is None


@pytest.mark.parametrize(
    "value",
    [-1, -0.5, "-1Gi", "1GB", "1gi", "1 G i", "Gi", "", "lots", "1m", "1e9",
     True, False, float("nan"), float("inf"), "1" + "0" * 400, "9" * 400 + "Ei",
     [1], {"Gi": 1}, object()],
    ids=_id,
)
@pytest.mark.parametrize("field", ["memory", "disk"])
def test_bytes_refused(rejects, field, value):
    with rejects(field, value, '"1Gi"'):
        Resources(**{field: value})


def test_mem_is_an_alias_of_memory():
    assert Resources(mem="1Gi") == Resources(memory="1Gi")
    assert Resources(mem="1Gi").memory_bytes == Resources(memory=GI).memory_bytes == GI


def test_ephemeral_storage_is_an_alias_of_disk():
    assert Resources(ephemeral_storage="10Gi").disk_bytes == 10 * GI
    assert Resources(ephemeral_storage="10Gi") == Resources(disk="10Gi")


def test_memory_and_mem_together_are_refused(rejects):
    with rejects("mem", "2Gi", "memory", "not both"):
        Resources(memory="1Gi", mem="2Gi")


def test_disk_and_ephemeral_storage_together_are_refused(rejects):
    with rejects("ephemeral_storage", "2Gi", "disk", "not both"):
        Resources(disk="1Gi", ephemeral_storage="2Gi")


def test_aliases_refuse_bad_values_under_the_canonical_name(rejects):
    with rejects("memory", "-1Gi"):
        Resources(mem="-1Gi")
    with rejects("disk", "x"):
        Resources(ephemeral_storage="x")


# --- gpu --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "value, count, kind",
    [(0, 0, None), (1, 1, None), (8, 8, None), ("2", 2, None), ("L4:1", 1, "L4"), ("A100:8", 8, "A100"),
     ("A100", 1, "A100"), ("H100-80GB:2", 2, "H100-80GB"), (" T4 : 4", 4, "T4"), ("L4:0", 0, "L4")],
    ids=_id,
)
def test_gpu_parsed_to_count_and_type(value, count, kind):
    r = Resources(gpu=value)
    assert r.gpu == value
    assert (r.gpu_count, r.gpu_kind) == (count, kind)


@pytest.mark.parametrize(
    "value",
    [-1, "-1", "L4:-1", "L4:x", "L4:", ":1", "L4:1.5", "L4:²", "²", "1.5", "", " ", "4L", "L4:1:2",
     True, False, 1.0, 1.5, float("nan"), [1], ("L4", 1), {"L4": 1}, object()],
    ids=_id,
)
def test_gpu_refused(rejects, value):
    with rejects("gpu", value, '"L4:1"'):
        Resources(gpu=value)


def test_gpu_type_with_an_int_count():
    r = Resources(gpu=2, gpu_type="A100")
    assert (r.gpu_count, r.gpu_kind) == (2, "A100")
    assert (Resources(gpu="A100:2", gpu_type="A100").gpu_count, Resources(gpu="A100:2").gpu_kind) == (2, "A100")


@pytest.mark.parametrize("count", [-1, True, 1.5, "x:y"], ids=_id)
def test_gpu_count_is_checked_even_with_a_gpu_type(rejects, count):
    with rejects("gpu", count):
        Resources(gpu=count, gpu_type="L4")


def test_gpu_type_is_stripped():
    assert Resources(gpu="L4:1", gpu_type=" L4 ").gpu_type == Resources(gpu="L4:1").gpu_kind == "L4"
    assert Resources(gpu=1, gpu_type="T4\n").gpu_type == "T4"


def test_gpu_type_that_contradicts_gpu_is_refused(rejects):
    with rejects("gpu_type", "A100", "'L4'"):
        Resources(gpu="L4:1", gpu_type="A100")


@pytest.mark.parametrize("value", [5, "", "  ", ["L4"], True], ids=_id)
def test_gpu_type_refused(rejects, value):
    with rejects("gpu_type", value, "GPU type"):
        Resources(gpu=1, gpu_type=value)


# --- the model as a whole ---------------------------------------------------------------

def test_nothing_set_is_all_none():
    r = Resources()
    assert (r.cpu, r.memory, r.gpu, r.gpu_type, r.disk) == (None, None, None, None, None)


def test_positional_order_is_cpu_memory_gpu_disk():
    assert Resources(1, "1Gi", 1, "10Gi") == Resources(cpu=1, memory="1Gi", gpu=1, disk="10Gi")


def test_unknown_resource_is_a_value_error(rejects):
    with rejects("memroy", "1Gi", "not a resource", "memory"):
        Resources(memroy="1Gi")


@pytest.mark.parametrize("value", ["cpu=1", None, 1, [("cpu", 1)]], ids=_id)
def test_model_validate_needs_a_mapping(rejects, value):
    with rejects("resources", value, "mapping"):
        Resources.model_validate(value)


def test_model_validate_takes_aliases_and_refuses_unknown_keys(rejects):
    assert Resources.model_validate({"mem": "1Gi"}).memory_bytes == GI
    with rejects("foo", 1, "not a resource"):
        Resources.model_validate({"cpu": 1, "foo": 1})
    with rejects("foo", 1, "not a resource"):
        Resources.model_validate_json('{"cpu": 1, "foo": 1}')


def test_resources_are_frozen_and_hashable():
    r = Resources(cpu=1, memory="1Gi")
    with pytest.raises(ValueError, match="frozen"):
        r.cpu = 2
    assert hash(r) == hash(Resources(cpu=1, mem="1Gi"))


@pytest.mark.parametrize(
    "r",
    [Resources(), Resources(cpu="500m", memory="1Gi", gpu="L4:1", disk="10G"), Resources(cpu=0.3, memory=12345, gpu=2),
     Resources(gpu="A100"), Resources(gpu=3, gpu_type="T4")],
    ids=_id,
)
def test_round_trips(r):
    assert Resources.model_validate(r.model_dump()) == r
    assert Resources.model_validate_json(r.model_dump_json()) == r


def test_json_holds_the_values_as_given():
    data = json.loads(Resources(cpu="500m", memory="1Gi", gpu="L4:2").model_dump_json())
    assert data == {"cpu": "500m", "memory": "1Gi", "gpu": "L4:2", "gpu_type": None, "disk": None, "shm": None}


@pytest.mark.parametrize(
    "r, text",
    [(Resources(cpu="500m", memory="1Gi"), "Resources(cpu='500m', memory='1Gi')"),
     (Resources(memory="10G", disk=1000), "Resources(memory='10G', disk=1000)"),
     (Resources(memory="1536Mi"), "Resources(memory='1536Mi')"),
     (Resources(memory=7), "Resources(memory=7)"),
     (Resources(gpu="L4:1"), "Resources(gpu='L4:1')"),
     (Resources(gpu=2), "Resources(gpu=2)"),
     (Resources(), "Resources()")],
)
def test_repr_shows_the_values_as_given(r, text):
    assert repr(r) == text


# --- footprint --------------------------------------------------------------------------

def test_footprint_is_replicas_times_resources():
    r = Resources(cpu=2, memory="4Gi", gpu=1)
    assert r.footprint(10.0) == {"cpu_seconds": 20.0, "gib_seconds": 40.0, "gpu_seconds": 10.0}
    assert r.footprint(10.0, replicas=3) == {"cpu_seconds": 60.0, "gib_seconds": 120.0, "gpu_seconds": 30.0}
    assert r.footprint(0) == {"cpu_seconds": 0.0, "gib_seconds": 0.0, "gpu_seconds": 0.0}
    assert r.footprint(5, replicas=0)["cpu_seconds"] == 0


def test_footprint_counts_unset_resources_as_zero():
    assert Resources(cpu="500m").footprint(4, replicas=2) == {"cpu_seconds": 4.0, "gib_seconds": 0.0, "gpu_seconds": 0.0}
    assert Resources().footprint(100) == {"cpu_seconds": 0.0, "gib_seconds": 0.0, "gpu_seconds": 0.0}


@pytest.mark.parametrize("value", [-1, -0.1, float("nan"), float("inf"), "10", None, True, [1]], ids=_id)
def test_footprint_refuses_bad_replica_seconds(rejects, value):
    with rejects("replica_seconds", value, ">= 0"):
        Resources(cpu=1).footprint(value)


@pytest.mark.parametrize("value", [-1, 1.5, "2", None, True], ids=_id)
def test_footprint_refuses_bad_replicas(rejects, value):
    with rejects("replicas", value, ">= 0"):
        Resources(cpu=1).footprint(1.0, replicas=value)


# --- the parsers on their own -----------------------------------------------------------

def test_parsers_name_the_parameter_they_are_given(rejects):
    with rejects("limits.cpu", "x"):
        parse_cpu("x", "limits.cpu")
    with rejects("requests.memory", "x"):
        parse_bytes("x", "requests.memory")
    with rejects("node.gpu", "x:y"):
        parse_gpu("x:y", "node.gpu")
    assert parse_cpu("750m") == 0.75
    assert parse_bytes("2Mi") == 2 * MI
    assert parse_gpu("L4:3") == (3, "L4")


def test_a_mapping_with_a_key_that_is_not_a_name_is_a_value_error(rejects):
    with rejects("resources", {1: 3}, "cpu, memory, gpu and disk"):
        Resources.model_validate({1: 3})
    with rejects("resources", {"cpu": 1, None: 2}):
        Resources.model_validate({"cpu": 1, None: 2})
    assert Resources.model_validate({"cpu": 2}) == Resources(cpu=2)


@pytest.mark.parametrize("replica_seconds, replicas", [(1, 10**400), (1e308, 10), (1, 2**1024)],
                         ids=["10**400 replicas", "1e308 s x 10", "2**1024 replicas"])
def test_footprint_that_is_not_a_finite_number_is_a_value_error(rejects, replica_seconds, replicas):
    # 10**400 replicas cannot even be turned into a float: an OverflowError before
    with rejects("replicas", replicas, "finite"):
        Resources(cpu=1).footprint(replica_seconds, replicas)


def test_footprint_of_a_memory_too_large_for_a_float_is_a_value_error(rejects):
    with rejects("replicas", 1, "finite"):
        Resources(memory=10**400).footprint(1.0)
