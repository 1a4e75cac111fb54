"""Fixtures of the browser check of the built book (``_build/html``).

These tests only run with ``--site`` (``make test`` runs ``pytest tests/site --site`` right
after ``make book``); a plain ``pytest`` collects and skips them. With ``--site`` a missing
build is a failure, not a skip. The check serves the site on 127.0.0.1 from a thread and
drives one headless Chromium with Playwright: Debian's ``chromium`` (found, or installed
with apt-get, by ensure_chromium.sh), launched through ``executable_path`` because
Playwright's own browser download cannot be fetched everywhere this runs. Every page is
loaded once at each of two widths, a desktop (1280 px) and a phone (390 px), each in one
browser context that is reused from page to page; :class:`Visit` keeps what the tests
need from both loads.

Do not add an ``__init__.py`` here: the package would be named ``site``, like the stdlib module.
"""
from __future__ import annotations

import functools
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
ENSURE_CHROMIUM = Path(__file__).with_name("ensure_chromium.sh")
SKIP_DIRS = {"_static", "_sources", "_images"}

CHROMIUM_ARGS = (
    "--no-sandbox",  # needed as root (containers, CI images)
    "--disable-gpu",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DESKTOP = (1280, 900)
PHONE = (390, 844)
LOAD_TIMEOUT_MS = 30_000  # one page load

# What a page's layout looks like to a reader, measured in the page itself. An element,
# or a line of text, overflows its page when it is visible, reaches past the viewport's
# left or right edge, and no box above it clips it (a box clips when its overflow-x is not
# "visible"; such a box is checked itself). Inside the page's content, an element or a
# line of text that reaches past a clipping box that does not scroll is *hidden*: the
# reader cannot see it at all. A box that scrolls sideways must show a cue (a mask at
# its edge, which _static/scroll-cue.js sets on every box that has more to show).
LAYOUT_JS = r"""
() => {
  const vw = document.documentElement.clientWidth;
  const describe = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    const cls = (typeof el.className === "string" ? el.className : "").trim().split(/\s+/).filter(Boolean);
    if (cls.length) s += "." + cls.slice(0, 3).join(".");
    const text = (el.innerText || el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 70);
    return text ? `${s} "${text}"` : s;
  };
  const shown = (cs) => cs.display !== "none" && cs.visibility !== "hidden" && cs.visibility !== "collapse"
                        && parseFloat(cs.opacity) !== 0;
  const clipper = (from) => {  // the nearest box at or above `from` that clips sideways
    for (let a = from; a && a !== document.body && a !== document.documentElement; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") return a;
    }
    return null;
  };
  const scrolls = (box) => ["auto", "scroll"].includes(getComputedStyle(box).overflowX);
  const overflowing = new Map(), hidden = new Map(), scrolling = [];
  const check = (owner, rect, clip) => {
    if (rect.width < 1 || rect.height < 1) return;
    if (!clip) {
      if (rect.right > vw + 1 || rect.left < -1) {
        overflowing.set(owner, `${describe(owner)}: from x=${Math.round(rect.left)} to x=${Math.round(rect.right)} px`);
      }
    } else if (!scrolls(clip) && clip.closest("main")) {
      const c = clip.getBoundingClientRect();
      if (rect.right > c.right + 1 || rect.left < c.left - 1) {
        hidden.set(owner, `${describe(owner)}: cut by ${describe(clip)} at x=${Math.round(c.left)}..${Math.round(c.right)} px`);
      }
    }
  };
  for (const el of document.body.querySelectorAll("*")) {
    const cs = getComputedStyle(el);
    if (!shown(cs)) continue;
    check(el, el.getBoundingClientRect(), clipper(el.parentElement));
    if (scrolls(el) && el.scrollWidth > el.clientWidth + 1) {
      const mask = cs.maskImage || cs.webkitMaskImage || "none";
      scrolling.push({what: describe(el), cue: mask !== "none" || el.scrollLeft > 0});
    }
  }
  // text can run past the element that holds it (a long word, a line that may not wrap)
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || !node.textContent.trim() || !shown(getComputedStyle(el))) continue;
    range.selectNodeContents(node);
    const clip = clipper(el);
    for (const rect of range.getClientRects()) check(el, rect, clip);
  }
  const figures = [...document.querySelectorAll("main .cell_output img")].map((img) => ({
    src: img.getAttribute("src"), shown: img.getBoundingClientRect().width, natural: img.naturalWidth,
  }));
  const column = document.querySelector("main article, main") || document.body;
  const footer = document.querySelector("footer.bd-footer-content, .bd-footer-content");
  return {
    viewport: vw, page_width: document.documentElement.scrollWidth, overflowing: [...overflowing.values()],
    hidden: [...hidden.values()], scrolling, figures, column: column.clientWidth,
    footer: footer ? footer.innerText : "",
  };
}
"""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--site",
        action="store_true",
        default=False,
        help="run the browser check of the built book in _build/html (after `make book`)",
    )


@pytest.fixture(scope="session")
def site_dir(request: pytest.FixtureRequest) -> Path:
    """The built site; skips without ``--site``, fails when the book was not built."""
    if not request.config.getoption("--site", default=False):
        pytest.skip("browser check of the built book: run `make book`, then `pytest tests/site --site`")
    if not (SITE / "index.html").is_file():
        pytest.fail(f"no built book at {SITE} (index.html missing): run `make book` first", pytrace=False)
    return SITE


@pytest.fixture(scope="session")
def chromium(site_dir: Path) -> str:
    """Path of a headless-capable Chromium, installed by ensure_chromium.sh if needed."""
    proc = subprocess.run(["bash", str(ENSURE_CHROMIUM)], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.fail(f"could not find or install Chromium:\n{proc.stderr[-3000:]}", pytrace=False)
    return proc.stdout.strip().splitlines()[-1]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib's name)
        pass


@pytest.fixture(scope="session")
def site_url(site_dir: Path) -> Iterator[str]:
    """``http://127.0.0.1:<free port>/`` serving the built site from a background thread."""
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def chromium_browser(chromium: str) -> Iterator[Any]:
    """One Playwright-driven Chromium for the whole session."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


def site_pages(site_dir: Path) -> list[str]:
    """Every HTML page of the site, as a path relative to its root."""
    pages = []
    for path in sorted(site_dir.rglob("*.html")):
        rel = path.relative_to(site_dir)
        if not SKIP_DIRS.intersection(rel.parts[:1]):
            pages.append(rel.as_posix())
    return pages


@dataclass
class Visit:
    """One page as the browser showed it: its DOM at desktop width, and its layout
    (:data:`LAYOUT_JS`) at each width; ``redirect`` when it only sends the browser on."""

    page: str
    dom: str = field(default="", repr=False)
    layout: dict[int, dict] = field(default_factory=dict, repr=False)
    redirect: bool = False


def _is_redirect(file: Path) -> bool:
    head = file.read_text(encoding="utf-8", errors="replace")[:4000].lower()
    return 'http-equiv="refresh"' in head


@pytest.fixture(scope="session")
def screenshot_dir(site_dir: Path) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def visits(site_dir: Path, site_url: str, chromium_browser: Any, screenshot_dir: Path) -> dict[str, Visit]:
    """Every page loaded at desktop width, then at phone width, one context per width.

    Screenshots land in ``_build/screenshots``: the landing page and the first tutorial at
    desktop width, and every tutorial at phone width (``phone/<name>.png``, its first
    6000 px), for a person to look at."""
    pages = site_pages(site_dir)
    assert pages, f"no HTML pages under {site_dir}"
    tutorials = [p for p in pages if p.startswith("notebooks/")]
    desktop_shots = {"book/intro.html": "landing.png"}
    if tutorials:
        desktop_shots[tutorials[0]] = "tutorial.png"
    out = {page: Visit(page, redirect=_is_redirect(site_dir / page)) for page in pages}
    for width, height in (DESKTOP, PHONE):
        context = chromium_browser.new_context(viewport={"width": width, "height": height})
        try:
            tab = context.new_page()
            tab.set_default_timeout(LOAD_TIMEOUT_MS)
            for page in pages:
                visit = out[page]
                if visit.redirect:  # served, but not loaded: the browser would move on to its target
                    served = tab.request.get(site_url + page)
                    assert served.ok, f"{page}: HTTP {served.status}"
                    visit.dom = (site_dir / page).read_text(encoding="utf-8", errors="replace")
                    continue
                response = tab.goto(site_url + page, wait_until="load")
                assert response is not None and response.ok, f"{page}: HTTP {response and response.status}"
                visit.layout[width] = tab.evaluate(LAYOUT_JS)
                if width == DESKTOP[0]:
                    visit.dom = tab.content()
                    if page in desktop_shots:
                        tab.screenshot(path=str(screenshot_dir / desktop_shots[page]))
                elif page in tutorials:
                    full = tab.evaluate("document.documentElement.scrollHeight")
                    shot = screenshot_dir / "phone" / f"{PurePosixPath(page).stem}.png"
                    shot.parent.mkdir(parents=True, exist_ok=True)
                    tab.screenshot(path=str(shot), full_page=True,
                                   clip={"x": 0, "y": 0, "width": width, "height": min(full, 6000)})
        finally:
            context.close()
    return out
