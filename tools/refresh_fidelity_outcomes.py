"""Store what the installed Flyte SDK gives for every probe of reuse_ref.flyte.fidelity.

    python tools/refresh_fidelity_outcomes.py          # writes tests/fidelity_sdk_outcomes.json

tests/test_fidelity.py compares the installed SDK with this file, probe by probe, so a
new SDK release that changes a behaviour fails the tests naming the probe. After such a
failure: read what changed (the test's message), bring the reference to the new
behaviour or list the difference in reuse_ref/flyte/fidelity/_differences.py with its
reason, then run this to store the new outcomes and commit them with the change.
"""
from __future__ import annotations

import json
import os
import sys

import flyte
import flyte.errors

from reuse_ref.flyte.fidelity import PROBES, outcome

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fidelity_sdk_outcomes.json")


def snapshot() -> dict:
    """The SDK's version, its public names and error classes, and every probe's outcome on it."""
    errors = sorted(n for n in dir(flyte.errors)
                    if isinstance(getattr(flyte.errors, n), type) and issubclass(getattr(flyte.errors, n), BaseException)
                    and getattr(flyte.errors, n).__module__ == "flyte.errors")
    return {"flyte": flyte.__version__, "all": sorted(flyte.__all__), "errors": errors,
            "outcomes": {name: outcome(fn, flyte) for name, (_, fn) in PROBES.items()}}


if __name__ == "__main__":
    data = snapshot()
    with open(OUT, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(data['outcomes'])} outcomes of flyte {data['flyte']} to {OUT}", file=sys.stderr)
