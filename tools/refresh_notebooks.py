"""Re-execute notebooks in place so that their stored outputs are fresh evidence.

    python tools/refresh_notebooks.py notebooks            # every notebook
    python tools/refresh_notebooks.py notebooks/07_*.ipynb # some

Each notebook runs in its own kernel from the current environment, with the notebook's
folder as working directory, exactly as nbval and the book run it. The kernel's timings of
each cell (``metadata.execution``) are not kept: they are not evidence, and they would make
every refresh a change to every cell.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def refresh(path: Path, timeout: int = 300) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    paths: list[Path] = []
    for arg in argv or ["notebooks"]:
        p = Path(arg)
        paths += sorted(p.glob("*.ipynb")) if p.is_dir() else [p]
    for path in paths:
        print(f"{path}: {refresh(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
