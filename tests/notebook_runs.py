"""Run a notebook with papermill and read the JSON its ``summary`` cell prints.

Every tutorial ends with a code cell tagged ``summary`` that prints one JSON object of
its documented findings (and asserts them). Parameterised tests compare those objects
across parameter values.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import papermill

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def summary_of(nb: dict) -> dict:
    for cell in nb["cells"]:
        if "summary" in cell.get("metadata", {}).get("tags", []):
            for out in cell.get("outputs", []):
                if out.get("name") == "stdout":
                    text = "".join(out["text"]).strip().splitlines()
                    return json.loads(text[-1])
    raise AssertionError("the notebook has no cell tagged 'summary' printing a JSON object")


def run_notebook(name: str, tmp_path: Path, *, downloaded: bool = False, **parameters) -> dict:
    """Execute notebooks/<name> with ``parameters`` and return its summary object.

    With ``downloaded``, the notebook runs as a reader's download does: the ``.ipynb`` alone,
    copied into an empty folder outside the repository, which is also its working directory
    (in a fresh kernel of this environment, where ``reuse_ref`` is installed)."""
    source, cwd = NOTEBOOKS / name, NOTEBOOKS
    if downloaded:
        cwd = tmp_path / "download"
        cwd.mkdir()
        source = Path(shutil.copy(NOTEBOOKS / name, cwd / name))
        assert sorted(p.name for p in cwd.iterdir()) == [name]
    out = tmp_path / f"executed-{name}"
    nb = papermill.execute_notebook(
        str(source), str(out), parameters=parameters, kernel_name="python3",
        cwd=str(cwd), progress_bar=False,
    )
    return summary_of(nb)
