"""A tutorial downloaded alone has what its visible code uses.

The hidden setup cell of a tutorial binds different names on its two paths: when
``reuse_ref`` is installed, its ``try`` imports run; in a fresh kernel they fail, the cell
installs the package, and those imports never happen. So a name that only the ``try``
binds must be bound again by a visible cell before any visible cell uses it (tutorial 16
once used ``ray`` from there, and a fresh kernel failed). The downloaded runs themselves
are in ``test_notebook_params_flyte.py`` (13) and ``test_notebook_params_rt.py`` (16).

Tutorials 13 and 18 carry the Flyte programs they run (``%%writefile`` cells); together
they are the files of ``notebooks/programs``, which the tests of ``reuse-ref run`` use.
"""
from __future__ import annotations

import ast
import builtins
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def code(cell: dict) -> str:
    text = "".join(cell["source"])
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in text.splitlines())


def bound(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def only_on_the_installed_path(setup: ast.Module) -> set[str]:
    """Names the setup cell binds inside ``try`` bodies only."""
    in_try = set()
    for node in ast.walk(setup):
        if isinstance(node, ast.Try):
            for stmt in node.body:
                in_try |= bound(stmt)
    outside = bound(ast.Module([s for s in setup.body if not isinstance(s, ast.Try)], []))
    return in_try - outside


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_visible_cells_bind_what_they_use(path: Path) -> None:
    all_cells = [c for c in cells(path) if c["cell_type"] == "code"]
    setups = [c for c in all_cells if "setup" in c.get("metadata", {}).get("tags", [])]
    assert len(setups) == 1, f"{path.name}: one hidden setup cell expected"
    risky = only_on_the_installed_path(ast.parse(code(setups[0])))
    rebound, problems = set(), set()
    for cell in all_cells:
        if cell is setups[0]:
            continue
        tree = ast.parse(code(cell))
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        problems |= (used & risky) - rebound - bound(tree)
        rebound |= bound(tree)
    assert not problems, (f"{path.name}: visible cells use {sorted(problems)}, which only the setup cell's `try` binds: "
                          f"a downloaded notebook that installs reuse_ref never binds them")


def test_the_check_catches_a_name_bound_only_by_the_setup_try() -> None:
    setup = ast.parse("import contextlib\ntry:\n    import reuse_ref\n    import ray\nexcept ImportError:\n    pass\n")
    assert only_on_the_installed_path(setup) == {"reuse_ref", "ray"}


CARRIERS = ("13_flyte_programs.ipynb", "18_program_to_policy.ipynb")
"""The tutorials that write Flyte programs with ``%%writefile``."""


def test_tutorials_carry_the_programs_of_the_repository() -> None:
    written = {}
    for name in CARRIERS:
        for cell in cells(NOTEBOOKS / name):
            text = "".join(cell["source"])
            m = re.match(r"%%writefile (\S+)\n", text)
            if cell["cell_type"] == "code" and m:
                written[m.group(1)] = text[m.end():]
    on_disk = {p.name: p.read_text() for p in (NOTEBOOKS / "programs").glob("*.py")}
    assert set(written) == set(on_disk), f"the tutorials write {sorted(written)}, the folder has {sorted(on_disk)}"
    for name, text in written.items():
        assert text.rstrip("\n") == on_disk[name].rstrip("\n"), f"{name}: the notebook's copy differs from programs/"
    assert not any(b in written for b in dir(builtins))
