"""A task that fails on a replica shows where, in the user's own code, it failed.

Functions of a script's ``__main__`` or of a notebook cell travel to replicas by value.
Since cloudpickle 3.1.3 a code object shipped by value is renamed ``<dynamic-code>``, and
a notebook cell's source exists only in the kernel's linecache, so without help the
replica's traceback names no file and shows no line. These tests run the two real
cases: a script run as ``__main__``, and a cell of a notebook executed in a kernel.
"""
from __future__ import annotations

import linecache
import os
import subprocess
import sys
import textwrap
import types

import cloudpickle
import nbformat
import pytest
from nbclient import NotebookClient

from reuse_ref.runtime import pickling as P

pytestmark = pytest.mark.timeout(120)

SCRIPT = '''
import reuse_ref
from reuse_ref import ReusePolicy, TaskEnvironment

env = TaskEnvironment("tb_script", reusable=ReusePolicy(replicas=2))


def helper(n):
    return 10 // n  # the line the traceback must show


@env.task
def divide(n: int) -> int:
    return helper(n) + 1


if __name__ == "__main__":
    with reuse_ref.Runtime(time_scale=0.01) as rt:
        try:
            rt.run(divide, 0)
        except ZeroDivisionError as exc:
            print(exc.remote_traceback)
'''


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))


def test_a_task_from_a_script_shows_its_file_and_source_lines(tmp_path):
    script = tmp_path / "flow.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=90, env=_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert f'File "{script}"' in text, text
    assert "<dynamic-code>" not in text
    assert "return helper(n) + 1" in text and "return 10 // n  # the line the traceback must show" in text
    assert "in divide" in text and "in helper" in text


CELLS = [
    "import reuse_ref\nfrom reuse_ref import ReusePolicy, TaskEnvironment\n"
    "env = TaskEnvironment('tb_cell', reusable=ReusePolicy(replicas=2))",
    "@env.task\ndef parse(text: str) -> int:\n    value = int(text)  # this cell's own line\n    return value",
    "with reuse_ref.Runtime(time_scale=0.01) as rt:\n    try:\n        rt.run(parse, 'x')\n"
    "    except ValueError as exc:\n        print(exc.remote_traceback)",
]


def test_a_task_from_a_notebook_cell_shows_the_cell_source(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    NotebookClient(nb, timeout=90, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = "".join(o.get("text", "") for o in nb.cells[2].outputs if o.get("output_type") == "stream")
    assert "value = int(text)  # this cell's own line" in out, out
    assert "<dynamic-code>" not in out and "in parse" in out


def test_shipped_code_keeps_its_name_and_brings_lines_nobody_else_has():
    source = "def shout(x):\n    y = x.upper()\n    return y + '!'\n"
    filename = "<cell-only-here>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType("__main__")
    exec(compile(source, filename, "exec"), module.__dict__)
    blob = P.cloud_dumps(module.shout)
    del linecache.cache[filename]  # as in a replica: nobody there has these lines
    shout = cloudpickle.loads(blob)
    assert shout.__code__.co_filename == filename
    assert linecache.getline(filename, 2).strip() == "y = x.upper()"
    assert shout("hey") == "HEY!"


def test_spans_of_two_functions_of_one_file_merge():
    P.remember_source("<two>", 5, ["five\n", "six\n"])
    P.remember_source("<two>", 1, ["one\n"])
    assert [linecache.getline("<two>", n) for n in (1, 2, 5, 6)] == ["one\n", "\n", "five\n", "six\n"]
    del linecache.cache["<two>"]


def test_lines_of_a_file_that_exists_are_left_to_the_file(tmp_path):
    # The controller unpickles exception classes shipped by value: a partial entry for a
    # real file would blank its other lines in the next pickle of any of its functions.
    path = tmp_path / "real.py"
    path.write_text("one\ntwo\nthree\n")
    P.remember_source(str(path), 2, ["TWO\n"])
    assert [linecache.getline(str(path), n) for n in (1, 2, 3)] == ["one\n", "two\n", "three\n"]


def test_code_without_any_source_still_ships():
    func = eval("lambda x: x * 2")  # compiled from a string: no source anywhere
    again = cloudpickle.loads(P.cloud_dumps(func))
    assert again(4) == 8 and again.__code__.co_filename == "<string>"


SCRIPT_BIG = textwrap.dedent('''
    def outer():
        def inner():
            return 1
        return inner
''')


def test_nested_code_does_not_carry_its_lines_twice():
    filename = "<nested>"
    linecache.cache[filename] = (len(SCRIPT_BIG), None, SCRIPT_BIG.splitlines(True), filename)
    module = types.ModuleType("__main__")
    exec(compile(SCRIPT_BIG, filename, "exec"), module.__dict__)
    blob = P.cloud_dumps(module.outer)
    del linecache.cache[filename]
    assert blob.count(b"return 1") == 1, "the inner function's line travels once, inside outer's span"
    assert cloudpickle.loads(blob)()() == 1
