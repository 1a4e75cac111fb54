"""The probes of reuse_ref.flyte.fidelity, run against Flyte's SDK and the reference (SPEC 7).

Every probe must give the same outcome on both, except the listed differences, and each
listed difference must still be one: the list the book shows stays true both ways. The
SDK's own outcomes are stored (tests/fidelity_sdk_outcomes.json): a new SDK release that
changes one fails here, naming the probe, so the reference is brought along or the new
difference listed (tools/refresh_fidelity_outcomes.py stores the new outcomes).
"""
import json
import os

import pytest

flyte = pytest.importorskip("flyte", reason="the Flyte SDK is in the test extra: pip install -e '.[test]'")
import flyte.errors  # noqa: E402

import reuse_ref.flyte as rf  # noqa: E402
from reuse_ref.flyte.fidelity import DIFFERENCES, PROBES, compare  # noqa: E402
from reuse_ref.flyte.fidelity._names import ALL  # noqa: E402

STORED = json.load(open(os.path.join(os.path.dirname(__file__), "fidelity_sdk_outcomes.json")))
ROWS = {row.probe: row for row in compare(flyte, rf)}
REFRESH = ("if the SDK changed on purpose, bring reuse_ref.flyte along or list the difference in "
           "reuse_ref/flyte/fidelity/_differences.py, then run tools/refresh_fidelity_outcomes.py")


@pytest.mark.parametrize("name", list(PROBES))
def test_probe_matches_the_sdk_or_is_a_listed_difference(name):
    row = ROWS[name]
    assert row.verdict != "unlisted", f"{name}: SDK {row.sdk}, reference {row.reference}, and not listed"
    assert row.verdict != "listed-but-same", f"{name} is listed as a difference but both give {row.sdk}"
    if row.reference[0] == "error":  # an error the SDK does not give is one listed, never an accident
        assert row.verdict == "same" or name in DIFFERENCES, f"{name}: the reference failed with {row.reference[1]}"


@pytest.mark.parametrize("name", list(PROBES))
def test_the_sdk_gives_the_stored_outcome(name):
    stored = STORED["outcomes"].get(name)
    assert stored is not None, f"probe {name!r} has no stored SDK outcome: run tools/refresh_fidelity_outcomes.py"
    now = ROWS[name].sdk
    assert now == stored, (f"probe {name!r}: flyte {flyte.__version__} gives {now}, flyte {STORED['flyte']} gave "
                           f"{stored}: the SDK's behaviour changed; {REFRESH}")


def test_every_stored_outcome_is_a_probe():
    assert set(STORED["outcomes"]) <= set(PROBES), f"stored outcomes of probes that are gone: {REFRESH}"


def test_the_sdk_has_the_names_the_probes_were_written_for():
    now = set(flyte.__all__)
    new, gone = sorted(now - set(ALL)), sorted(set(ALL) - now)
    assert not new and not gone, (f"flyte {flyte.__version__}'s __all__ gained {new} and lost {gone}: give each new "
                                  f"name a status in reuse_ref.flyte.NAMES (modelled, recorded or refused with why) "
                                  f"and a row in fidelity/_names.py ALL; {REFRESH}")
    assert sorted(now) == STORED["all"]


def test_every_error_class_of_the_sdk_is_in_flyte_errors():
    sdk = sorted(n for n in dir(flyte.errors) if isinstance(getattr(flyte.errors, n), type)
                 and issubclass(getattr(flyte.errors, n), BaseException)
                 and getattr(flyte.errors, n).__module__ == "flyte.errors")
    assert sdk == STORED["errors"], f"flyte.errors changed: now {sorted(set(sdk) ^ set(STORED['errors']))}; {REFRESH}"
    missing = [n for n in sdk if not hasattr(rf.errors, n)]
    assert not missing, f"reuse_ref.flyte.errors lacks {missing}"


@pytest.mark.parametrize("name", ALL)
def test_every_name_is_modelled_recorded_or_refused_with_its_reason(name):
    status, why = rf.NAMES[name]
    assert status in ("modelled", "recorded", "refused") and why
    if status == "refused":
        assert not hasattr(rf, name) and name not in rf.__all__
        with pytest.raises(rf.NotModelledError) as info:
            getattr(rf, name)
        assert isinstance(info.value, AttributeError), "hasattr() and getattr(..., default) must work"
        assert f"flyte.{name}" in str(info.value) and why in str(info.value), "the error names the feature and why"
    else:
        assert hasattr(rf, name) and name in rf.__all__


def test_an_unknown_name_is_an_attribute_error_that_names_the_feature():
    for module in (rf, rf.errors):
        assert not hasattr(module, "no_such_name") and getattr(module, "no_such_name", None) is None
        with pytest.raises(rf.NotModelledError, match="no_such_name is not modelled"):
            module.no_such_name


def test_every_listed_difference_names_a_probe_a_kind_and_a_reason():
    assert set(DIFFERENCES) <= set(PROBES), sorted(set(DIFFERENCES) - set(PROBES))
    assert {d.kind for d in DIFFERENCES.values()} <= {"stricter", "looser", "not modelled", "shape"}
    assert all(len(d.reason) > 40 for d in DIFFERENCES.values())


def test_the_probes_cover_every_area_with_several_hundred_in_all():
    areas = {}
    for area, _ in PROBES.values():
        areas[area] = areas.get(area, 0) + 1
    assert len(PROBES) >= 500
    for area in ("policy", "resources", "environment", "task options", "task read-back", "override", "errors",
                 "cache", "secrets", "retries", "image", "names"):
        assert areas.get(area, 0) >= 10, f"area {area!r} has {areas.get(area, 0)} probes"
