"""The book's sources as a reader meets them, checked without building the site.

* every public module of ``reuse_ref`` is on the API page;
* every tutorial starts its code with a setup cell that installs the package from the
  repository named in ``_config.yml`` when ``import reuse_ref`` fails, hides its summary
  cell (still executed: nbval and papermill run every cell), says in one line that the
  page checks its own claims, gives every figure an alt text and stores no error;
* ``_config.yml`` shows the repository button and the Binder and Colab launch buttons;
* the Concepts page numbers rules 1 to 7 and prints the stop and failure reasons from
  ``reuse_ref.core.records``;
* no page, notebook or docstring carries an internal label (the semantics file's name,
  seed file numbers, "the brief").

The browser check (``tests/site``) checks the same things on the built site.
"""
from __future__ import annotations

import ast
import json
import pkgutil
import re
from pathlib import Path

import pytest
import yaml

import reuse_ref

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]

# what must never reach a reader: the name of the internal semantics file used as a
# citation, seed file numbers ("000_...", "seed 003", "seeds 001 and 002"), and talk of a brief
INTERNAL = re.compile(r"\bSPEC\b|\b00[0-4]_[0-9a-f]{6,}|\bseeds? 00[0-4]\b|\(seed 00[0-4]|\bthe brief\b")


def public_modules() -> list[str]:
    """Every module of the package whose name has no part starting with ``_``; of the Flyte
    layer, only its face (its modules are Flyte's names, documented by Flyte)."""
    names = [m.name for m in pkgutil.walk_packages(reuse_ref.__path__, "reuse_ref.")
             if not any(part.startswith("_") for part in m.name.split("."))
             and not m.name.startswith("reuse_ref.flyte.")]
    assert "reuse_ref.sim.workloads" in names and "reuse_ref.runtime.driver" in names
    return sorted(names)


def test_every_public_module_is_on_the_api_page():
    api = (BOOK / "api.md").read_text()
    documented = set(re.findall(r"\.\. automodule:: (reuse_ref[\w.]*)", api))
    missing = [m for m in public_modules() if m not in documented]
    assert not missing, f"public modules missing from book/api.md: {missing}"


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_downloaded_notebook_installs_what_it_needs(path: Path):
    code = [c for c in cells(path) if c["cell_type"] == "code"]
    assert "parameters" in tags(code[0]), "the first code cell is the parameters cell"
    setup = code[1]
    text = source(setup)
    assert "remove-cell" in tags(setup), "the setup cell is hidden in the book"
    tree = ast.parse(text)
    guarded = [n for n in tree.body if isinstance(n, ast.Try)
               and any(isinstance(s, ast.Import) and s.names[0].name == "reuse_ref" for s in n.body)
               and any(getattr(h.type, "id", None) == "ImportError" for h in n.handlers)]
    assert guarded, "the setup cell must try `import reuse_ref` and install only on ImportError"
    assert f"git+{REPO_URL}" in text, f"the setup cell must install from {REPO_URL} (_config.yml)"
    assert "use_book_style()" in text
    # nothing before the setup cell imports the package
    assert "reuse_ref" not in source(code[0])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_summary_cell_is_hidden_but_kept_and_announced(path: Path):
    all_cells = cells(path)
    k = next(i for i, c in enumerate(all_cells) if "summary" in tags(c))
    summary = all_cells[k]
    assert k == len(all_cells) - 1, "the summary cell is the last cell"
    assert "remove-cell" in tags(summary), "the summary cell is hidden from the page"
    assert "json.dumps(summary" in source(summary) and summary.get("outputs"), "and still executed"
    before = all_cells[k - 1]
    assert before["cell_type"] == "markdown" and "checks its own claims" in source(before)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_has_alt_text_and_no_cell_stored_an_error(path: Path):
    for cell in cells(path):
        outputs = cell.get("outputs", [])
        assert not [o for o in outputs if o.get("output_type") == "error"], source(cell)[:200]
        if any("image/png" in o.get("data", {}) for o in outputs):
            alt = cell.get("metadata", {}).get("mystnb", {}).get("image", {}).get("alt", "")
            assert len(alt) > 40, f"figure without a real alt text: {source(cell)[:120]!r}"


def test_every_notebook_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    assert all(f"notebooks/{p.stem}" in toc for p in NOTEBOOKS)
    assert "book/install" in toc


def test_repository_and_launch_buttons_are_configured():
    assert CONFIG["html"]["use_repository_button"] is True
    assert REPO_URL.startswith("https://github.com/") and "example" not in REPO_URL
    buttons = CONFIG["launch_buttons"]
    assert buttons["binderhub_url"].startswith("https://") and buttons["colab_url"].startswith("https://")


def test_concepts_numbers_seven_rules_and_prints_the_reasons_from_the_code():
    text = (BOOK / "concepts.md").read_text()
    rules = re.findall(r"^(\d)\. \*\*([^*]+)\*\*", text, re.MULTILINE)
    assert [int(n) for n, _ in rules] == list(range(1, 8))
    assert [name for _, name in rules][5:] == ["Starvation.", "Failure propagation."]
    assert "reasons_table(STOP_REASONS" in text and "reasons_table(FAILURE_REASONS" in text
    assert "one `starvation` record" in text and "FAIL_AFTER_EXECUTABLE_NODES_COMPLETE" in text
    assert "exactly one reason" in text and "lists four" not in text


def book_texts():
    for path in sorted(BOOK.glob("*.md")):
        yield path.name, path.read_text()
    for path in NOTEBOOKS:
        yield path.name, "\n".join(source(c) for c in cells(path)) + "\n".join(
            "".join(o.get("text", "")) for c in cells(path) for o in c.get("outputs", []))
    for path in sorted((ROOT / "reuse_ref").rglob("*.py")):
        yield str(path.relative_to(ROOT)), path.read_text()


def test_no_internal_labels_in_pages_notebooks_or_docstrings():
    leaks = [f"{name}: {m.group(0)!r}" for name, text in book_texts() for m in INTERNAL.finditer(text)]
    assert not leaks, "internal labels a reader cannot look up:\n" + "\n".join(leaks)


def test_the_label_check_can_fail():
    for text in ("the measures of SPEC 6", "(seed 003)", "seeds 001 and 002", "000_1fac2190d19fbec1.txt",
                 "Choices where the brief or the SPEC leave room"):
        assert INTERNAL.search(text), text
    for text in ("kernelspec", "seed=3", "SEED = 7", "rule 3"):
        assert not INTERNAL.search(text), text


def notebook_text(stem: str) -> str:
    path = ROOT / "notebooks" / f"{stem}.ipynb"
    return "\n".join(source(c) for c in cells(path))


def test_tutorials_say_what_the_code_does():
    # 07: Flyte's default is replicas=2, not (1, 1); the summary checks it
    starvation = notebook_text("07_starvation")
    assert "default `(1, 1)`" not in starvation and "assert ReusePolicy().replicas == (2, 2)" in starvation
    # 04: no "min replicas carry over"; the text explains which replicas stay, and the summary counts them
    idle = notebook_text("04_idle_ttl")
    assert "carry over" not in idle and "not a set of them" in idle and "len(kept[label]) == MIN_REPLICAS" in idle
    # 03 says what 06 says: the simulator treats concurrency as free, unless tasks are CPU-bound
    assert "treats concurrency as free" in notebook_text("03_concurrency")
    planning = notebook_text("06_capacity_planning")
    assert "treats concurrency as free" in planning and "cpu_bound=CPU_BOUND" in planning
    # 06: a p99 target the measures can produce, and prices as parameters
    assert "WAIT_PERCENTILE" in planning and "wait_p99" in planning
    assert "PRICE_CPU_HOUR" in source(cells(ROOT / "notebooks" / "06_capacity_planning.ipynb")[1])
    # 10: the leak drawn, with and without cleanup
    state = cells(ROOT / "notebooks" / "10_state.ipynb")
    drawn = [c for c in state if 'held["leaky"]' in source(c) and any("image/png" in o.get("data", {})
                                                                       for o in c.get("outputs", []))]
    assert drawn and 'held["tidy"]' in source(drawn[0])


@pytest.mark.parametrize("stem", ["02_replicas", "04_idle_ttl", "05_scaledown_ttl", "06_capacity_planning",
                                  "12_choosing", "14_known_burst"])
def test_pages_that_compare_footprints_use_one_window(stem: str):
    text = notebook_text(stem)
    # by hand with reuse_ref.trace.window.compare, or through a plan, which charges every candidate over one window
    by_hand = "from reuse_ref.trace.window import" in text and "compare(" in text
    through_plan = re.search(r"from reuse_ref\.plan import [\w, ]*\bplan\b", text) and ".horizon" in text
    assert by_hand or through_plan
    assert "replica_seconds_until" not in text  # the old hand-made window of tutorial 04


def test_the_glossary_is_in_alphabetical_order_and_has_the_terms_the_pages_use():
    text = (BOOK / "glossary.md").read_text()
    body = text[text.index("```{glossary}"):]
    terms = [line for line in body.splitlines()[1:] if line and not line.startswith((" ", "`"))]
    assert terms == sorted(terms, key=str.lower), f"glossary terms out of order: {terms}"
    for term in ("replica-seconds", "makespan", "Pareto front", "cpu_bound", "utilisation", "policy label", "scope"):
        assert term in terms, f"the glossary lacks {term!r}"
    # the scope entry says what Union's guide says of containers
    assert "currently applies only to reusable" in body and "Ray clusters" in body


def test_the_version_is_written_once_and_the_changelog_lists_it_first():
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert reuse_ref.__version__ == version, "pyproject.toml and reuse_ref.__version__ disagree"
    changelog = (BOOK / "changelog.md").read_text()
    versions = re.findall(r"^## (\S+)", changelog, re.MULTILINE)
    assert versions and versions[0] == version, f"the changelog's first version is {versions[:1]}, not {version}"
    toc = (ROOT / "_toc.yml").read_text()
    assert "book/changelog" in toc
