"""The package's shape holds: its layers, its private names, its class names, its file sizes.

``pyproject.toml`` states the layers as import-linter contracts (config below core below
trace below the drivers, below the plan, below figures, the Flyte layer and the command;
the two drivers independent of each other); ``lint-imports`` checks them. The rest is
read here from the source, without importing it.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "reuse_ref"


def modules():
    """``(dotted name, path)`` of every module of the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def layer(name: str) -> str:
    """The layer of a module: its folder under ``reuse_ref`` (``reuse_ref.cli`` is one of its own)."""
    parts = name.split(".")
    return ".".join(parts[:2])


def test_the_import_contracts_of_pyproject_hold():
    script = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(script)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def test_no_module_imports_a_private_name_of_another_layer():
    found = []
    for name, path in modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            source = _absolute(name, path.name == "__init__.py", node)
            if not source.startswith("reuse_ref") or layer(source) == layer(name):
                continue
            private = [part for part in source.split(".") + [alias.name for alias in node.names]
                       if part.startswith("_") and not (part.startswith("__") and part.endswith("__"))]
            if private:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {private} from {source}")
    assert not found, "\n".join(found)


def test_every_class_name_is_unique_across_the_package():
    """Outside the Flyte layer, whose classes carry Flyte's own names on purpose (its
    ``TaskEnvironment`` and errors subclass the reference's, so that either name catches)."""
    names = Counter()
    where = {}
    for name, path in modules():
        if layer(name) == "reuse_ref.flyte":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                names[node.name] += 1
                where.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    assert not [n for n, k in names.items() if k > 1], {n: where[n] for n, k in names.items() if k > 1}


CORE_MACHINES = {"Pool", "Unpooled", "Pools", "ReplicaSet", "ReplicaState"}


def test_no_driver_asks_a_pool_for_its_type():
    """Lifecycle decisions are the core's: a driver (``sim``, ``runtime``) that branched on
    ``isinstance(pool, Unpooled)`` would be deciding something itself."""
    found = []
    for name, path in modules():
        if layer(name) not in ("reuse_ref.sim", "reuse_ref.runtime"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("isinstance", "issubclass"):
                names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)} if len(node.args) > 1 else set()
            elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.Is, ast.IsNot, ast.Eq, ast.NotEq))
                                                       for op in node.ops):
                names = {n.id for n in [node.left, *node.comparators] if isinstance(n, ast.Name)}
            else:
                continue
            if names & CORE_MACHINES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found


def test_no_module_is_over_500_lines():
    long = {str(path.relative_to(ROOT)): n for _, path in modules()
            if (n := len(path.read_text().splitlines())) > 500}
    assert not long, long


def test_every_layer_says_what_it_owns():
    for folder in ("config", "core", "trace", "sim", "plan", "runtime", "figures", "flyte"):
        doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
        assert doc and len(doc.split()) >= 12, f"reuse_ref/{folder}/__init__.py says what the layer owns"
