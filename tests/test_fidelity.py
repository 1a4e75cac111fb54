"""The probes of reuse_ref.flyte.fidelity, run against Flyte's SDK and the reference (SPEC 7).

Every probe must give the same outcome on both, except the listed differences, and each
listed difference must still be one: the list the book shows stays true both ways.
"""
import pytest

flyte = pytest.importorskip("flyte", reason="the Flyte SDK is in the test extra: pip install -e '.[test]'")

import reuse_ref.flyte as rf  # noqa: E402
from reuse_ref.flyte.fidelity import DIFFERENCES, PROBES, compare  # noqa: E402

ROWS = {row.probe: row for row in compare(flyte, rf)}


@pytest.mark.parametrize("name", list(PROBES))
def test_probe_matches_the_sdk_or_is_a_listed_difference(name):
    row = ROWS[name]
    assert row.verdict != "unlisted", f"{name}: SDK {row.sdk}, reference {row.reference}, and not listed"
    assert row.verdict != "listed-but-same", f"{name} is listed as a difference but both give {row.sdk}"
    assert row.reference[0] != "error", f"{name}: the reference failed with {row.reference[1]}"


def test_every_listed_difference_names_a_probe_and_a_kind():
    assert set(DIFFERENCES) <= set(PROBES)
    assert {d.kind for d in DIFFERENCES.values()} <= {"stricter", "looser", "not modelled"}
    assert all(d.reason for d in DIFFERENCES.values())
