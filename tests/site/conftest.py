"""Fixtures of the browser check of the built book (``_build/html``).

These tests only run with ``--site`` (``make test`` runs ``pytest tests/site --site`` right
after ``make book``); a plain ``pytest`` collects and skips them. With ``--site`` a missing
build is a failure, not a skip. The check serves the site on 127.0.0.1 from a thread and
drives headless Chromium through its command line (``--dump-dom``, ``--screenshot``), so it
needs no Python dependency beyond pytest.

Do not add an ``__init__.py`` here: the package would be named ``site``, like the stdlib module.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
ENSURE_CHROMIUM = Path(__file__).with_name("ensure_chromium.sh")

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # needed as root (containers, CI images)
    "--disable-gpu",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
CALL_TIMEOUT = 30  # seconds for one Chromium invocation


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
def base_url(site_dir: Path) -> Iterator[str]:
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


class Browser:
    """Headless Chromium driven through its command line, one fresh profile per call."""

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        profile = tempfile.mkdtemp(prefix="reuse-ref-chromium-")
        try:
            return subprocess.run(
                [self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                capture_output=True, text=True, timeout=CALL_TIMEOUT,
            )
        finally:
            shutil.rmtree(profile, ignore_errors=True)

    def dump_dom(self, url: str) -> str:
        """The DOM of ``url`` after it loaded and its scripts ran, serialised as HTML."""
        proc = self._run("--virtual-time-budget=3000", "--dump-dom", url)
        if proc.returncode != 0:
            raise RuntimeError(f"chromium --dump-dom {url} exited {proc.returncode}: {proc.stderr[-1500:]}")
        return proc.stdout

    def screenshot(self, url: str, path: Path, size: str = "1280,2000") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        proc = self._run("--virtual-time-budget=3000", f"--window-size={size}", f"--screenshot={path}", url)
        if proc.returncode != 0 or not path.is_file():
            raise RuntimeError(f"chromium --screenshot {url} exited {proc.returncode}: {proc.stderr[-1500:]}")
        return path


@pytest.fixture(scope="session")
def browser(chromium: str) -> Browser:
    return Browser(chromium)


@pytest.fixture(scope="session")
def screenshot_dir(site_dir: Path) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS

