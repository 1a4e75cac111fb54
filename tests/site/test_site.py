"""Browser check of the built book: what a reader's browser shows, page by page.

* every HTML page of ``_build/html`` is served, loads in headless Chromium, and its
  rendered DOM shows no execution error (a traceback, or an error on stderr);
* every tutorial page (``notebooks/*.html``) shows every figure its stored notebook has;
* every internal link to an ``.html`` page (anchor stripped) and every local image
  resolves to a file of the site;
* screenshots of the landing page and of the first tutorial land in ``_build/screenshots``,
  and a phone-width (390 px) screenshot of every tutorial in ``_build/screenshots/phone``;
* at 1280 px and at 390 px no element reaches past the page's edges and no box hides part
  of its content; every box that scrolls sideways (code, printed output, wide tables)
  shows a cue; figures are shown at least 600 px wide on a desktop;
* every page's footer shows the version; Colab buttons only on notebook pages; every
  tutorial says what it needs;
* no page (the API page included) shows an internal label: the semantics file's name as
  a citation, seed file numbers, "the brief";
* tutorial pages hide their setup and summary cells and say that they check themselves;
* every notebook page has the repository button and the Binder and Colab launch buttons;
* every figure in a cell output has a real alt text;
* the Concepts page lists every stop and failure reason of ``reuse_ref.core.records``.

Every page is loaded once per width by one Playwright-driven Chromium (``conftest.py``).
Run with ``pytest tests/site --site`` after ``make book``.
"""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import pytest

# The fixtures (site_dir, site_url, visits, screenshot_dir) live in conftest.py.
LANDING = "book/intro.html"
REPO = Path(__file__).resolve().parents[2]


class PageDOM(HTMLParser):
    """What the checks need from one rendered page, gathered in one pass."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[str] = []
        self.output_images = 0  # <img> inside a cell's output
        self.output_alts: list[str] = []  # their alt texts ("" when absent)
        self.text: list[str] = []  # visible text (not scripts or styles)
        self.errors: list[str] = []  # execution errors shown on the page
        self.title = ""
        self._stack: list[set[str]] = []  # class sets of the open elements
        self._in_title = False
        self._stderr_text: list[str] | None = None
        self._stderr_depth = 0
        self._hidden_depth = 0

    def _inside(self, cls: str) -> bool:
        return any(cls in classes for classes in self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        classes = set(attr.get("class", "").split())
        if tag == "a" and attr.get("href"):
            self.links.append(attr["href"])
        if tag == "img" and attr.get("src"):
            self.images.append(attr["src"])
            if self._inside("cell_output"):
                self.output_images += 1
                self.output_alts.append(attr.get("alt", ""))
        if tag == "title":
            self._in_title = True
        if tag in ("script", "style"):
            self._hidden_depth += 1
        if "traceback" in classes or ("output" in classes and "error" in classes):
            self.errors.append(f"<{tag} class={attr['class']!r}> (a cell raised)")
        if tag in ("img", "br", "hr", "meta", "link", "input", "source", "col", "wbr"):
            return  # void elements have no end tag
        if "stderr" in classes and self._stderr_text is None:
            self._stderr_text, self._stderr_depth = [], len(self._stack)
        self._stack.append(classes)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in ("script", "style") and self._hidden_depth:
            self._hidden_depth -= 1
        if tag in ("img", "br", "hr", "meta", "link", "input", "source", "col", "wbr"):
            return
        if self._stack:
            self._stack.pop()
        if self._stderr_text is not None and len(self._stack) <= self._stderr_depth:
            text = "".join(self._stderr_text)
            if "Traceback" in text or "Error" in text:
                self.errors.append(f"stderr output: {text.strip()[:300]!r}")
            self._stderr_text = None

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.text.append(data)
        if self._in_title:
            self.title += data
        if self._stderr_text is not None:
            self._stderr_text.append(data)
        if "Traceback (most recent call last)" in data and self._inside("cell_output"):
            self.errors.append("a traceback printed in a cell output")


def redirect_target(file: Path) -> str | None:
    """The URL a page sends the browser on to with ``<meta http-equiv="refresh">``, if any."""
    match = re.search(r'<meta[^>]+http-equiv="refresh"[^>]+content="[^";]*;\s*url=([^"]+)"',
                      file.read_text(encoding="utf-8", errors="replace"), re.IGNORECASE)
    return match.group(1) if match else None


@pytest.fixture(scope="session")
def rendered(visits) -> dict[str, tuple[str, PageDOM]]:
    """``{page: (dom, parsed)}`` for every page, from its DOM at desktop width."""
    out = {}
    for page, visit in visits.items():
        parsed = PageDOM()
        parsed.feed(visit.dom)
        parsed.close()
        out[page] = (visit.dom, parsed)
    return out


def test_every_page_loads_without_execution_errors(rendered: dict[str, tuple[str, PageDOM]], visits) -> None:
    problems = []
    for page, (dom, parsed) in rendered.items():
        if visits[page].redirect:
            continue  # index.html only sends the browser on; test_internal_links_... checks where
        if "</html>" not in dom.lower() or "<body" not in dom.lower():
            problems.append(f"{page}: Chromium rendered no complete document")
            continue
        if not parsed.title.strip():
            problems.append(f"{page}: rendered page has no <title>")
        problems += [f"{page}: {error}" for error in parsed.errors]
    assert not problems, "pages with problems:\n" + "\n".join(problems)


def stored_figures(page: str) -> int:
    """Figures (image outputs) the tutorial's notebook stores as its documented output."""
    notebook = REPO / PurePosixPath(page).with_suffix(".ipynb")
    cells = json.loads(notebook.read_text())["cells"]
    return sum(1 for c in cells for o in c.get("outputs", [])
               if any(k.startswith("image/") for k in o.get("data", {})))


def test_every_tutorial_shows_its_figures(rendered: dict[str, tuple[str, PageDOM]]) -> None:
    tutorials = [page for page in rendered if page.startswith("notebooks/")]
    assert tutorials, "the build has no tutorial pages (notebooks/*.html): are they in _toc.yml?"
    missing = []
    for page in tutorials:
        expected, shown = stored_figures(page), rendered[page][1].output_images
        if shown < expected:
            missing.append(f"{page}: shows {shown} of the {expected} figures its notebook stores")
    assert not missing, "tutorial pages missing figures:\n" + "\n".join(missing)
    assert sum(stored_figures(p) for p in tutorials) > 0, "no tutorial has any figure"


def test_internal_links_and_images_resolve(site_dir: Path, site_url: str,
                                           rendered: dict[str, tuple[str, PageDOM]]) -> None:
    host = urlsplit(site_url).netloc
    broken = []
    for page, (_, parsed) in rendered.items():
        page_url = urljoin(site_url, page)
        redirect = redirect_target(site_dir / page)
        if redirect is not None:  # Chromium followed it: check the target, not the DOM
            target = urlsplit(urljoin(page_url, redirect))
            if not (site_dir / unquote(target.path).lstrip("/")).is_file():
                broken.append(f"{page}: redirects to {redirect!r}, which does not exist")
            continue
        targets = [(href, True) for href in parsed.links] + [(src, False) for src in parsed.images]
        for ref, is_link in targets:
            url = urlsplit(urljoin(page_url, ref))
            if url.scheme not in ("http", "https") or url.netloc != host:
                continue  # external site, mailto:, javascript:, data: ...
            path = PurePosixPath(unquote(url.path).lstrip("/"))
            if is_link and not (url.path.endswith(".html") or url.path.endswith("/")):
                continue  # links to sources, downloads and assets are not pages
            file = site_dir / path
            if url.path.endswith("/"):
                file = file / "index.html"
            if not file.is_file():
                broken.append(f"{page}: {ref!r} -> {path} does not exist")
    assert not broken, "broken internal links or images:\n" + "\n".join(sorted(set(broken)))


def test_screenshots(screenshot_dir: Path, rendered) -> None:
    for name in ("landing.png", "tutorial.png"):
        data = (screenshot_dir / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"
        assert len(data) > 20_000, f"{name} is suspiciously small ({len(data)} bytes): blank page?"


# --- what a reader meets (issue: the book as its readers meet it) --------------------------

INTERNAL = re.compile(r"\bSPEC\b|\b00[0-4]_[0-9a-f]{6,}|\bseeds? 00[0-4]\b|\(seed 00[0-4]|\bthe brief\b")
CHECKS_LINE = "checks its own claims"


def tutorial_pages(rendered) -> list[str]:
    pages = sorted(page for page in rendered if page.startswith("notebooks/"))
    assert pages, "the build has no tutorial pages"
    return pages


def test_no_internal_labels_on_any_page(rendered) -> None:
    leaks = []
    for page, (_, parsed) in rendered.items():
        text = " ".join(parsed.text)
        leaks += [f"{page}: {m.group(0)!r} in ...{text[max(0, m.start() - 60):m.end() + 20]!r}"
                  for m in INTERNAL.finditer(text)]
    assert "book/api.html" in rendered, "the API page was not built"
    assert not leaks, "internal labels shown to readers:\n" + "\n".join(leaks[:40])


def test_setup_and_summary_cells_are_hidden_and_the_page_says_it_checks_itself(rendered) -> None:
    problems = []
    for page in tutorial_pages(rendered):
        text = " ".join(rendered[page][1].text)
        for marker in ("json.dumps(summary", "use_book_style()", "subprocess.run([sys.executable"):
            if marker in text:
                problems.append(f"{page}: shows {marker!r} (a setup or summary cell is visible)")
        if CHECKS_LINE not in text:
            problems.append(f"{page}: does not say that it {CHECKS_LINE}")
    assert not problems, "\n".join(problems)


def test_repository_and_launch_buttons(rendered) -> None:
    import yaml

    repo = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"].rstrip("/")
    owner_name = repo.removeprefix("https://github.com/")
    missing = []
    for page in tutorial_pages(rendered):
        links = rendered[page][1].links
        stem = PurePosixPath(page).stem
        wanted = {
            "repository button": lambda h: h.rstrip("/") == repo,
            "Binder button": lambda h: h.startswith(f"https://mybinder.org/v2/gh/{owner_name}/") and stem in h,
            "Colab button": lambda h: h.startswith(f"https://colab.research.google.com/github/{owner_name}/")
                                      and h.endswith(f"{stem}.ipynb"),
        }
        missing += [f"{page}: no {name}" for name, ok in wanted.items() if not any(ok(h) for h in links)]
    assert not missing, "\n".join(missing)


def test_every_figure_has_alt_text(rendered) -> None:
    bad = []
    for page, (_, parsed) in rendered.items():
        for alt in parsed.output_alts:
            if len(alt) < 40 or alt.endswith((".png", ".svg", ".jpg")):
                bad.append(f"{page}: figure with alt text {alt!r}")
    assert sum(len(p.output_alts) for _, p in rendered.values()) > 0, "no figures at all?"
    assert not bad, "figures without a real alt text:\n" + "\n".join(bad)


def test_concepts_lists_every_reason_of_the_code(rendered) -> None:
    from reuse_ref.core.records import FAILURE_REASONS, STOP_REASONS

    text = " ".join(rendered["book/concepts.html"][1].text)
    missing = [reason for reason in [*STOP_REASONS, *FAILURE_REASONS] if f"{reason} " not in text + " "]
    meanings = [m for m in [*STOP_REASONS.values(), *FAILURE_REASONS.values()] if m not in text]
    assert not missing and not meanings, f"reasons not on the Concepts page: {missing} {meanings}"


def test_phone_width_screenshot_of_every_tutorial(screenshot_dir: Path, rendered) -> None:
    import struct

    from conftest import PHONE

    for page in tutorial_pages(rendered):
        path = screenshot_dir / "phone" / f"{PurePosixPath(page).stem}.png"
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
        width, height = struct.unpack(">II", data[16:24])
        assert width == PHONE[0], f"{path}: {width} px wide, not {PHONE[0]}"
        assert len(data) > 20_000, f"{path} is suspiciously small ({len(data)} bytes): blank page?"


def png_texts(data: bytes) -> dict[str, str]:
    """The tEXt chunks of a PNG file, as a dict."""
    import struct

    texts, i = {}, 8
    while i + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        if kind == b"tEXt":
            key, _, value = data[i + 8:i + 8 + size].partition(b"\0")
            texts[key.decode("latin-1")] = value.decode("latin-1")
        i += 12 + size
    return texts


def test_every_figure_is_readable_at_phone_width(site_dir: Path, site_url: str, rendered) -> None:
    """Each figure records, when it is drawn, the size its smallest text has when the
    figure is shown 360 px wide (a 400 px phone less the page's margins); none is under 8 pt."""
    from reuse_ref.figures import MIN_TEXT_PT, PNG_TEXT_KEY

    problems, seen = [], 0
    for page, (_, parsed) in rendered.items():
        page_url = urljoin(site_url, page)
        for src in parsed.images:
            path = PurePosixPath(unquote(urlsplit(urljoin(page_url, src)).path).lstrip("/"))
            if not path.parts or path.parts[0] != "_images" or path.suffix != ".png":
                continue  # logos and icons of the theme
            seen += 1
            size = png_texts((site_dir / path).read_bytes()).get(PNG_TEXT_KEY)
            if size is None:
                problems.append(f"{page}: {path.name} was drawn without the book's figure check")
            elif float(size) < MIN_TEXT_PT:
                problems.append(f"{page}: {path.name} has text of {size} pt at phone width")
    assert seen, "no figures found"
    assert not problems, "figures not readable on a phone:\n" + "\n".join(problems)


# --- pages that fit the screen (issue: the book for a user who must choose this week) -------

def _layouts(visits):
    for page, visit in sorted(visits.items()):
        for width, layout in sorted(visit.layout.items()):
            yield page, width, layout


def test_no_element_overflows_its_page_at_desktop_or_phone_width(visits) -> None:
    """At 1280 px and at 390 px, nothing reaches past the page's edges (the page never
    scrolls sideways), and no box in the page's content hides part of what it holds."""
    from conftest import DESKTOP, PHONE

    problems, measured = [], set()
    for page, width, layout in _layouts(visits):
        measured.add(width)
        if layout["page_width"] > layout["viewport"] + 1:
            problems.append(f"{page} at {width} px: the page is {layout['page_width']} px wide")
        problems += [f"{page} at {width} px: overflows: {what}" for what in layout["overflowing"][:5]]
        problems += [f"{page} at {width} px: hides content: {what}" for what in layout["hidden"][:5]]
    assert measured == {DESKTOP[0], PHONE[0]}, f"pages were measured at {sorted(measured)} px only"
    assert not problems, f"{len(problems)} layout problems:\n" + "\n".join(problems[:60])


def test_every_box_that_scrolls_sideways_shows_a_cue(visits) -> None:
    """Code, printed output and tables wider than the screen scroll inside their own box,
    and that box shows that it has more (a fade at its right edge): none is silently cut."""
    missing, boxes = [], 0
    for page, width, layout in _layouts(visits):
        for box in layout["scrolling"]:
            boxes += 1
            if not box["cue"]:
                missing.append(f"{page} at {width} px: {box['what']}")
    assert boxes > 0, "no box scrolls sideways anywhere: is the phone width really measured?"
    assert not missing, f"{len(missing)} scroll boxes without a cue:\n" + "\n".join(missing[:40])


DESKTOP_FIGURE_PX = 600
"""The least width, in CSS pixels, at which a figure is shown on a 1280 px screen."""


def test_figures_are_shown_large_at_desktop_width(visits) -> None:
    """On a desktop a figure fills most of the text column (at least 600 px, or the whole
    column when that is narrower), instead of a small image with small text."""
    from conftest import DESKTOP

    small, seen = [], 0
    for page, visit in sorted(visits.items()):
        layout = visit.layout.get(DESKTOP[0])
        if not layout:
            continue
        wanted = min(DESKTOP_FIGURE_PX, 0.95 * layout["column"])
        for fig in layout["figures"]:
            seen += 1
            if fig["shown"] < wanted:
                small.append(f"{page}: {fig['src']} shown {fig['shown']:.0f} px wide "
                             f"(natural {fig['natural']} px); wanted {wanted:.0f} px")
    assert seen, "no figures found at desktop width"
    assert not small, "figures too small at desktop width:\n" + "\n".join(small)


def test_every_page_shows_the_version_in_its_footer(visits) -> None:
    from conftest import DESKTOP

    import reuse_ref

    wanted = f"reuse-ref {reuse_ref.__version__}"
    missing = [page for page, visit in visits.items()
               if DESKTOP[0] in visit.layout and wanted not in visit.layout[DESKTOP[0]]["footer"]]
    assert "book/changelog.html" in visits, "the book has no Changelog page"
    assert not missing, f"pages whose footer does not say {wanted!r}: {missing}"


def test_colab_buttons_only_on_pages_colab_can_open(rendered) -> None:
    """Colab opens notebooks (.ipynb); the book's text pages are MyST files it cannot open."""
    wrong = [page for page, (_, parsed) in rendered.items()
             if not page.startswith("notebooks/")
             and any(h.startswith("https://colab.research.google.com/") for h in parsed.links)]
    assert not wrong, f"Colab buttons on pages that are not notebooks: {wrong}"


def test_every_tutorial_opens_with_what_it_needs(rendered) -> None:
    """Each tutorial's first paragraph after its title says what running it needs."""
    missing = []
    for page in tutorial_pages(rendered):
        text = " ".join(rendered[page][1].text)
        if not re.search(r"\bNeeds:", text):
            missing.append(page)
    assert not missing, f"tutorials without a 'Needs:' line: {missing}"
