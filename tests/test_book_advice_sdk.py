"""Every policy and task option the book offers as advice runs on the real Flyte SDK.

A reader copies what the pages show into a Flyte 2 program, so each ``ReusePolicy(...)``,
``TaskEnvironment(...)``, ``@env.task(...)`` and ``task.override(...)`` in a code cell of
``notebooks/*.ipynb`` or ``book/*.md`` is built with the installed ``flyte`` (2.x, the
``test`` extra), and so is every policy a page prints: a repr ``ReusePolicy(...)`` in a
stored output, and the short label (``r=(1,4) c=4 sd=60 idle=300``) of a printed
recommendation or cheat-sheet row.

Collected statically (the cells are parsed, not run): an argument is evaluated when it is
a literal, a ``timedelta``, one of the option classes (``ReusePolicy``, ``Resources``,
``Cache``, ``Secret``...), or a name bound to one of those earlier on the page. A call
whose arguments come from a loop or a function's parameters is not advice the reader can
copy as it is, and is left out (its printed result, when there is one, is checked).
A call inside ``try:`` whose ``except`` catches the error is a page showing a refusal on
purpose, and is left out too.

Where the reference itself uses a value the SDK refuses (``idle_ttl=None``, always on),
the page must say so at that spot: the cell, or the Markdown right before or after it,
says "the SDK refuses" and gives, in backticks, an ``idle_ttl=...`` spelling that the SDK
accepts (which is built too).
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest

flyte = pytest.importorskip("flyte")  # the `test` extra installs it

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PAGES = sorted((ROOT / "book").glob("*.md"))
SAYS_SO = re.compile(r"SDK refuses", re.IGNORECASE)
SDK_SPELLING = re.compile(r"`[^`]*\bidle_ttl=([^`,]+)")


class Unknown(Exception):
    """An argument that cannot be known without running the page."""


@dataclass
class Block:
    """One code cell (or ``{code-cell}`` / ``python`` block) of a page, with its neighbours' text."""

    page: str
    index: int
    source: str
    outputs: str  # the stored outputs' text (notebooks only)
    nearby: str  # the Markdown right before and right after
    tags: tuple


def _notebook_blocks(path: Path) -> Iterator[Block]:
    cells = json.loads(path.read_text())["cells"]
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        text = []
        for out in cell.get("outputs", []):
            if "text" in out:
                text.append("".join(out["text"]))
            for key in ("text/plain", "text/html"):
                if key in out.get("data", {}):
                    text.append("".join(out["data"][key]))
        nearby = [cells[j] for j in (i - 1, i + 1) if 0 <= j < len(cells) and cells[j]["cell_type"] == "markdown"]
        yield Block(path.name, i, "".join(cell["source"]), "\n".join(text),
                    "\n".join("".join(c["source"]) for c in nearby), tuple(cell.get("metadata", {}).get("tags", ())))


_FENCE = re.compile(r"^```(\{code-cell\}[^\n]*|python)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _page_blocks(path: Path) -> Iterator[Block]:
    text = path.read_text()
    matches = list(_FENCE.finditer(text))
    for k, m in enumerate(matches):
        body = re.sub(r"\A(---\n.*?\n---\n|(:[a-z-]+:.*\n)+)", "", m.group(2), flags=re.DOTALL)
        before = text[matches[k - 1].end() if k else 0:m.start()]
        after = text[m.end():matches[k + 1].start() if k + 1 < len(matches) else len(text)]
        yield Block(path.name, k, body, "", before + "\n" + after, ())


def blocks() -> List[Block]:
    out = [b for p in NOTEBOOKS for b in _notebook_blocks(p)] + [b for p in PAGES for b in _page_blocks(p)]
    return [b for b in out if not {"summary", "setup"} & set(b.tags)]


# ---------------------------------------------------------------------------- building
def _sdk_classes() -> dict:
    return {"ReusePolicy": flyte.ReusePolicy, "Resources": flyte.Resources, "Cache": flyte.Cache,
            "Secret": flyte.Secret, "Timeout": flyte.Timeout, "RetryStrategy": flyte.RetryStrategy,
            "timedelta": timedelta}


class Evaluator:
    """Evaluates the arguments of one page's calls, with the names bound earlier on it."""

    def __init__(self) -> None:
        self.names: dict = {}
        self.classes = _sdk_classes()

    def value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.Tuple, ast.List)):
            items = [self.value(e) for e in node.elts]
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.Dict) and all(k is not None for k in node.keys):
            return {self.value(k): self.value(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self.value(node.operand)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Add)):
            left, right = self.value(node.left), self.value(node.right)
            return left * right if isinstance(node.op, ast.Mult) else left + right
        if isinstance(node, ast.Name) and node.id in self.names:
            return self.names[node.id]
        if isinstance(node, ast.Call):
            name = _callee(node)
            if name in self.classes:
                args, kwargs = self.arguments(node)
                return self.classes[name](*args, **kwargs)
        raise Unknown(ast.unparse(node))

    def arguments(self, call: ast.Call) -> tuple:
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            raise Unknown("*args or **kwargs")
        return [self.value(a) for a in call.args], {k.arg: self.value(k.value) for k in call.keywords}


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _catching_tries(tree: ast.AST) -> set:
    """Ids of every node inside the body of a ``try`` that catches errors (a refusal shown on purpose)."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and node.handlers:
            for stmt in node.body:
                inside.update(id(n) for n in ast.walk(stmt))
    return inside


@dataclass
class Advice:
    where: str
    code: str
    error: Optional[str]  # what the SDK said, or None when it built it
    says_so: bool  # the page says the SDK refuses it, and gives a spelling it accepts


def _page_says_so(block: Block) -> bool:
    text = "\n".join((block.source, block.outputs, block.nearby))
    if not SAYS_SO.search(text):
        return False
    for spelling in SDK_SPELLING.findall(text):
        while spelling.count(")") > spelling.count("("):  # the end of an enclosing call
            spelling = spelling[:-1]
        try:
            flyte.ReusePolicy(idle_ttl=eval(spelling, {"timedelta": timedelta}))  # noqa: S307 (the page's own text)
            return True
        except Exception:  # noqa: BLE001 (a spelling the SDK refuses does not count)
            continue
    return False


def _build(where: str, code: str, make, block: Block) -> Advice:
    try:
        make()
        return Advice(where, code, None, False)
    except Exception as e:  # noqa: BLE001 (the SDK's refusal, whatever its type, is the finding)
        return Advice(where, code, f"{type(e).__name__}: {e}", _page_says_so(block))


def _probe_function(is_async: bool):
    if is_async:
        async def probe(x: int) -> int:
            return x
    else:
        def probe(x: int) -> int:
            return x
    return probe


def code_advice(page_blocks: List[Block]) -> Iterator[Advice]:
    """The calls of one page's code cells, in order, built with the SDK."""
    ev = Evaluator()
    envs: dict = {}  # variable -> the SDK environment built for it
    tasks: dict = {}  # variable -> (SDK environment, is async)
    for block in page_blocks:
        try:
            tree = ast.parse(block.source)
        except SyntaxError:
            continue
        shown_refusals = _catching_tries(tree)
        for node in ast.walk(tree):
            where = f"{block.page} cell {block.index} line {getattr(node, 'lineno', '?')}"
            if id(node) in shown_refusals:
                continue
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                try:
                    ev.names[node.targets[0].id] = ev.value(node.value)
                except Exception:  # noqa: BLE001 (unknown, or refused: the call itself is checked below)
                    ev.names.pop(node.targets[0].id, None)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for dec in node.decorator_list:
                    call = dec if isinstance(dec, ast.Call) else None
                    target = dec.func if call else dec
                    if isinstance(target, ast.Attribute) and target.attr == "task" \
                            and isinstance(target.value, ast.Name):
                        env = envs.get(target.value.id) or flyte.TaskEnvironment(name="probe")
                        is_async = isinstance(node, ast.AsyncFunctionDef)
                        tasks[node.name] = (env, is_async)
                        if call is None:
                            continue
                        try:
                            args, kwargs = ev.arguments(call)
                        except Unknown:
                            continue
                        yield _build(where, f"@{ast.unparse(dec)}", lambda e=env, k=kwargs, a=is_async:
                                     e.task(**k)(_probe_function(a)), block)
            if not isinstance(node, ast.Call):
                continue
            name = _callee(node)
            if name in ("ReusePolicy", "TaskEnvironment"):
                try:
                    args, kwargs = ev.arguments(node)
                except Unknown:
                    continue
                if name == "ReusePolicy":
                    yield _build(where, ast.unparse(node), lambda a=args, k=kwargs: flyte.ReusePolicy(*a, **k), block)
                else:
                    advice = _build(where, ast.unparse(node),
                                    lambda a=args, k=kwargs: flyte.TaskEnvironment(*a, **k), block)
                    yield advice
            elif name == "override" and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in tasks:
                try:
                    args, kwargs = ev.arguments(node)
                except Unknown:
                    continue
                env, is_async = tasks[node.func.value.id]
                yield _build(where, ast.unparse(node), lambda e=env, k=kwargs, a=is_async:
                             e.task(_probe_function(a)).override(**k), block)
        # environments bound on this cell, for the tasks decorated later
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                    and isinstance(node.value, ast.Call) and _callee(node.value) == "TaskEnvironment":
                try:
                    args, kwargs = ev.arguments(node.value)
                    envs[node.targets[0].id] = flyte.TaskEnvironment(*args, **kwargs)
                except Exception:  # noqa: BLE001 (reported by the call itself)
                    envs.pop(node.targets[0].id, None)


# ------------------------------------------------------------------ printed policies
_REPR = re.compile(r"ReusePolicy\((?:[^()]|\([^()]*\))*\)")
_LABEL = re.compile(r"r=(\(\d+,\s*\d+\)|\d+) c=(\d+) sd=(\d+) idle=(None|\d+)")


def _label_policy(m: re.Match) -> tuple:
    reps = m.group(1)
    replicas = tuple(int(x) for x in reps.strip("()").split(",")) if reps.startswith("(") else int(reps)
    idle = None if m.group(4) == "None" else int(m.group(4))
    return replicas, int(m.group(2)), int(m.group(3)), idle


def printed_advice(block: Block) -> Iterator[Advice]:
    """Every policy repr in a cell's outputs, and every label on a line (or table row)
    that recommends it: a "recommended" line, or a row of a cheat sheet."""
    where = f"{block.page} cell {block.index} (printed)"
    for text in set(_REPR.findall(block.outputs)):
        inner = text[len("ReusePolicy("):-1]
        yield _build(where, text, lambda s=inner: eval(f"ReusePolicy({s})", {"ReusePolicy": flyte.ReusePolicy}),
                     block)
    rows = re.split(r"\n|</tr>", block.outputs)
    cheat_sheet = "Cheat sheet" in block.outputs
    for row in rows:
        if not (cheat_sheet or re.search(r"\brecommended\b", row)):
            continue
        for m in _LABEL.finditer(row):
            replicas, conc, sd, idle = _label_policy(m)
            yield _build(where, m.group(0), lambda r=replicas, c=conc, s=sd, i=idle:
                         flyte.ReusePolicy(replicas=r, concurrency=c, scaledown_ttl=s, idle_ttl=i), block)


def all_advice() -> List[Advice]:
    out: List[Advice] = []
    by_page: dict = {}
    for block in blocks():
        by_page.setdefault(block.page, []).append(block)
    for page_blocks in by_page.values():
        out.extend(code_advice(page_blocks))
        for block in page_blocks:
            out.extend(printed_advice(block))
    return out


@pytest.fixture(scope="module")
def advice() -> List[Advice]:
    return all_advice()


def test_the_pages_offer_policies_environments_and_task_options(advice) -> None:
    """The collection finds what the pages show (so the next test checks something real)."""
    codes = " ".join(a.code for a in advice)
    assert len(advice) >= 100, f"only {len(advice)} calls collected"
    for kind in ("ReusePolicy(", "TaskEnvironment(", ".task(", ".override("):
        assert kind in codes, f"no {kind} collected from the pages"
    assert any("(printed)" in a.where for a in advice), "no printed policy collected"


def test_every_advised_policy_and_task_option_runs_on_the_sdk(advice) -> None:
    refused = [a for a in advice if a.error is not None and not a.says_so]
    assert not refused, f"{len(refused)} pieces of advice the SDK refuses, with no word on the page:\n" + "\n".join(
        f"{a.where}: {a.code[:110]}\n    -> {a.error[:160]}" for a in refused[:40])


def test_a_refused_value_is_explained_where_it_is_used(advice) -> None:
    """What the SDK refuses (the reference's idle_ttl=None) appears only where the page says
    so, with a spelling the SDK accepts: the previous test lets those pass; this one lists
    them and checks they are only the always-on policy."""
    explained = [a for a in advice if a.error is not None and a.says_so]
    for a in explained:
        assert "idle_ttl" in a.error, f"{a.where}: {a.code} is refused for another reason: {a.error}"


def test_a_page_that_only_says_so_is_not_enough() -> None:
    """The note must give an accepted spelling: "the SDK refuses" alone does not pass."""
    bare = Block("x", 0, "", "", "The SDK refuses `idle_ttl=None`.", ())
    spelled = Block("x", 0, "", "", "The SDK refuses it; write `idle_ttl=timedelta(days=1)`.", ())
    wrong = Block("x", 0, "", "", "The SDK refuses it; write `idle_ttl=10`.", ())
    assert not _page_says_so(bare) and _page_says_so(spelled) and not _page_says_so(wrong)


def test_the_task_option_table_of_tutorial_11_spells_options_the_sdk_takes() -> None:
    """Each Flyte 2 spelling in the table from flytekit's TaskMetadata is an ``@env.task``
    argument the SDK accepts, and every flytekit option of the table has a row."""
    cells = json.loads((ROOT / "notebooks" / "11_failures_and_options.ipynb").read_text())["cells"]
    (table,) = [c for c in cells if c["cell_type"] == "markdown" and "| flytekit `TaskMetadata` |" in "".join(c["source"])]
    rows = [r for r in "".join(table["source"]).splitlines() if r.startswith("| `")]
    flytekit = {re.match(r"\| `(\w+)", r).group(1) for r in rows}
    assert flytekit == {"cache", "cache_version", "cache_serialize", "cache_ignore_input_vars", "retries", "timeout",
                        "interruptible", "deprecated", "pod_template_name"}
    built = 0
    for row in rows:
        flyte2 = row.split("|")[2]
        if "no Flyte 2 equivalent" in flyte2:
            continue
        for name, value in re.findall(r"`(\w+)=([^`]+)`", flyte2):
            env = flyte.TaskEnvironment(name="table")
            env.task(**{name: eval(value, {"flyte": flyte, "timedelta": timedelta})})(_probe_function(True))  # noqa: S307
            built += 1
    assert built >= 9


def test_the_planners_default_candidates_are_values_the_sdk_accepts_and_none_stays_available() -> None:
    """A knob left out of a plan keeps ReusePolicy's default, which the SDK takes as it is;
    the reference's always-on (idle_ttl=None) is tried only when asked for."""
    from reuse_ref.plan.candidates import candidate_policies

    def sdk(p):
        idle = p.idle_ttl
        return flyte.ReusePolicy(replicas=(p.min_replicas, p.max_replicas), concurrency=p.concurrency,
                                 scaledown_ttl=p.scaledown_ttl, idle_ttl=idle)

    defaults, skipped = candidate_policies({})
    assert len(defaults) == 1 and not skipped
    sdk(defaults[0])  # raises if the SDK refuses it
    asked, _ = candidate_policies({"idle_ttl": [300, None]})
    assert [p.idle_ttl for p in asked][1] is None
    with pytest.raises(ValueError, match="idle_ttl"):
        sdk(asked[1])
