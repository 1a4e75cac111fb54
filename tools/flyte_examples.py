"""Run flyte-sdk's reuse examples through ``reuse-ref run`` and print a table.

    python tools/flyte_examples.py DIR      # DIR: a checkout of flyteorg/flyte-sdk (or its examples/)

An example is in scope when it uses ``ReusePolicy`` or ``reusable=`` and needs no network
and no GPU: no GPU in its resources, no API-key secret, and every third-party package it
imports (at the top or inside a task) is installed here (a package that is missing is usually a client of
a remote service or a GPU library). Each runs without TASK (its ``__main__`` block), as
``python example.py`` would, with ``--time-scale 0.01`` and a time limit; a few take an
argument override where their own ``__main__`` would run for days (listed in ``ARGS``).
The table says, per example: done (with the result and the replica pids of each
environment), or the error, which for the reference should name an unmodelled feature.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

ARGS: Dict[str, List[str]] = {
    # its __main__ runs the task with duration=timedelta(days=5); a zero duration checks the same code
    "long_running_reuse.py": ["main_task", "--duration", "0"],
}
TIMEOUT = 240
_NETWORK = ("openai", "slack_sdk", "aioboto3", "boto3", "litellm", "datasets", "huggingface_hub", "httpx",
            "anthropic", "ray", "flyteplugins", "vllm", "torch", "transformers", "sentence_transformers")


def _top_imports(source: str) -> List[str]:
    tree = ast.parse(source)
    names = []
    for node in ast.walk(tree):  # imports inside tasks count too: the replica needs them
        if isinstance(node, ast.Import):
            names += [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module.split(".")[0])
    return names


def _why_out_of_scope(path: str, source: str) -> Optional[str]:
    if re.search(r"gpu\s*=\s*['\"]?[A-Za-z0-9]", source):
        return "needs a GPU"
    if re.search(r"Secret\(", source):
        return "needs a secret (an API key)"
    here = os.path.dirname(path)
    for name in _top_imports(source):
        if name in ("flyte", "__future__") or name in sys.stdlib_module_names:
            continue
        if name in _NETWORK:
            return f"imports {name} (network or GPU)"
        if os.path.exists(os.path.join(here, name + ".py")):
            continue
        if importlib.util.find_spec(name) is None:
            return f"imports {name}, not installed"
    return None


def examples(root: str) -> List[str]:
    base = os.path.join(root, "examples") if os.path.isdir(os.path.join(root, "examples")) else root
    found = []
    for folder, _, files in os.walk(base):
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                text = open(path, encoding="utf-8").read()
                if "ReusePolicy" in text or "reusable=" in text:
                    found.append(path)
    return sorted(found)


def run_one(path: str) -> Tuple[str, str, str]:
    """``(status, result or error, pids)`` of one example."""
    extra = ARGS.get(os.path.basename(path), [])
    cmd = [sys.executable, "-m", "reuse_ref.cli", "run", "--json", "--time-scale", "0.01", path, *extra]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, cwd=os.path.dirname(path))
    except subprocess.TimeoutExpired:
        return "timeout", f"more than {TIMEOUT} s", ""
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return "error", tail[:160], ""
    out = json.loads(line)
    pids = "; ".join(f"{env}: {len(m['replica_pids'])} pids ({m['replicas_started']} started)"
                     for env, m in out["environments"].items())
    if "error" in out:
        return "error", out["error"][:160], pids
    if not out["environments"]:
        return "done", "ran, but no task: the file only defines tasks (no __main__ run)", pids
    return "done", repr(out["result"])[:60], pids


def main(argv: List[str]) -> int:
    if len(argv) != 1 or not os.path.isdir(argv[0]):
        print("usage: python tools/flyte_examples.py DIR  (a checkout of flyteorg/flyte-sdk)", file=sys.stderr)
        return 2
    root = os.path.abspath(argv[0])
    rows, done, in_scope = [], 0, 0
    for path in examples(root):
        rel = os.path.relpath(path, root)
        why = _why_out_of_scope(path, open(path, encoding="utf-8").read())
        if why:
            rows.append((rel, "skipped", why, ""))
            continue
        in_scope += 1
        status, what, pids = run_one(path)
        done += status == "done"
        rows.append((rel, status, what, pids))
        print(f"{rel}: {status}", file=sys.stderr, flush=True)
    print("| example | status | result, or the error | replicas |")
    print("|---|---|---|---|")
    for rel, status, what, pids in rows:
        print(f"| {rel} | {status} | {what.replace('|', '/')} | {pids} |")
    print(f"\n{done} of {in_scope} in-scope examples ran to completion ({len(rows) - in_scope} out of scope)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
