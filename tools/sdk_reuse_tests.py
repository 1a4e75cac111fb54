"""Point flyte-sdk's own tests of reusable environments at the reference, and count what passes.

    python tools/sdk_reuse_tests.py DIR      # DIR: a checkout of flyteorg/flyte-sdk (its tests/ is read there)

The tests are flyte-sdk's; they are read from DIR at run time and never copied into this
project. Each runs with ``import flyte`` resolving to ``reuse_ref.flyte`` (a pytest
plugin installs the alias before any test module is imported, and flyte-sdk's conftest
files are skipped: they set up the SDK's own internals). A test module that imports the
SDK's internals (``flyte._internal``, protobuf serialisation, Kubernetes pod specs) fails
to import here, and all its tests count as failed, with that as the reason.

``SELECTED`` is the list: every test in flyte-sdk's ``tests/`` whose body mentions reuse
and that is about reusable environments, ``ReusePolicy`` or task overrides. (A text
search finds more, which use "reuse" in another sense: a cached client, an SSH key, an
image build.) The project's own tests of the same behaviours are in
``tests/test_sdk_behaviours.py``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from typing import Dict, List, Tuple

SELECTED: Dict[str, List[str]] = {
    "tests/user_api/test_reuse_policy.py": [
        "test_reuse_policy_happy", "test_reuse_policy_minimum_replicas", "test_reuse_policy_scaledown_with_no_min_max",
        "test_reuse_policy_low_replicas_and_concurrency"],
    "tests/user_api/test_task_environment.py": [
        "test_clone_with_defaults", "test_clone_with_overrides", "test_reusable_conflict_pod_template",
        "test_task_evironment_typechecks"],
    "tests/user_api/test_override.py": [
        "test_oomer_override_with_reuse_incorrect", "test_override_with_reuse", "test_override_turn_reuse_off",
        "test_reuse_policy_with_pod_template_override_short_name", "test_reuse_off_with_pod_template_and_short_name",
        "test_serialize_task_reuse_off_pod_template_short_name", "test_override_ref_task"],
    "tests/flyte/clustered/test_env.py": ["test_reusable_not_supported_raises"],
    "tests/flyte/internal/runtime/test_task_serde.py": [
        "test_reusable_task_disables_debuggable", "test_non_reusable_task_preserves_debuggable"],
    "tests/flyte/internal/runtime/test_reuse.py": [
        "test_extract_unique_id_container", "test_extract_unique_id_k8s_pod", "test_extract_unique_id_with_security_context",
        "test_extract_unique_id_with_interruptible", "test_add_reusable_container_task", "test_add_reusable_with_parent_env",
        "test_add_reusable_with_existing_custom_raises_error", "test_add_reusable_none_policy",
        "test_add_reusable_scaledown_ttl"],
}


def run(root: str, against_sdk: bool = False) -> List[Tuple[str, str, str]]:
    """``(test id, outcome, reason)`` for every selected test (``against_sdk``: the installed SDK, as a baseline)."""
    here = os.path.dirname(os.path.abspath(__file__))
    ids = [f"{path}::{name}" for path, names in SELECTED.items() for name in names]
    present = [i for i in ids if os.path.exists(os.path.join(root, i.split("::")[0]))]
    outcomes: Dict[str, Tuple[str, str]] = {}
    errors: Dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ini = os.path.join(tmp, "pytest.ini")
        open(ini, "w").write("[pytest]\n")
        env = dict(os.environ, PYTHONPATH=here + os.pathsep + os.environ.get("PYTHONPATH", ""))
        for n, path in enumerate(sorted({i.split("::")[0] for i in present})):  # one run per file: a module
            xml = os.path.join(tmp, f"out{n}.xml")                             # that fails to import stops only itself
            subprocess.run([sys.executable, "-m", "pytest", "-q", "-c", ini, "--rootdir", root, "--noconftest",
                            *([] if against_sdk else ["-p", "_flyte_alias_plugin"]), "-p", "no:cacheprovider",
                            f"--junitxml={xml}",
                            *[i for i in present if i.startswith(path + "::")]],
                           cwd=root, env=env, capture_output=True, text=True, timeout=600)
            for case in ET.parse(xml).getroot().iter("testcase"):
                name, cls = case.get("name", ""), case.get("classname", "")
                bad = case.find("failure") if case.find("failure") is not None else case.find("error")
                reason = "" if bad is None else _reason(bad)
                if cls:
                    outcomes[f"{cls.replace('.', '/')}.py::{name}"] = ("failed" if bad is not None else "passed", reason)
                else:  # the module could not be imported: its dotted path is the name
                    errors[name.replace(".", "/") + ".py"] = reason
    rows = []
    for test_id in ids:
        path = test_id.split("::")[0]
        if test_id in outcomes:
            rows.append((test_id, *outcomes[test_id]))
        elif path not in [i.split("::")[0] for i in present]:
            rows.append((test_id, "missing", "no such file in this checkout"))
        else:
            rows.append((test_id, "failed", "the module does not import: " + errors.get(path, "?")))
    return rows


def _reason(element: ET.Element) -> str:
    """The ``E   ...`` line pytest prints for a failure, else the message."""
    lines = [ln.strip()[1:].strip() for ln in (element.text or "").splitlines() if ln.startswith("E ")]
    text = lines[0] if lines else (element.get("message") or "").splitlines()[0] if element.get("message") else ""
    return text[:140]


def main(argv: List[str]) -> int:
    if len(argv) != 1 or not os.path.isdir(os.path.join(argv[0], "tests")):
        print("usage: python tools/sdk_reuse_tests.py DIR  (a checkout of flyteorg/flyte-sdk)", file=sys.stderr)
        return 2
    rows = run(os.path.abspath(argv[0]))
    baseline = {t: o for t, o, _ in run(os.path.abspath(argv[0]), against_sdk=True)}
    print("| flyte-sdk test | on the reference | reason | on the installed SDK |")
    print("|---|---|---|---|")
    for test_id, outcome, reason in rows:
        print(f"| {test_id} | {outcome} | {reason.replace('|', '/')} | {baseline.get(test_id, '?')} |")
    passed = sum(o == "passed" for _, o, _ in rows)
    sdk = sum(o == "passed" for o in baseline.values())
    print(f"\n{passed} of {len(rows)} of flyte-sdk's reuse tests pass when pointed at the reference "
          f"({sdk} of {len(rows)} pass against the installed SDK in this environment)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
