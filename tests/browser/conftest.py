"""Browser tests: the real app under uvicorn, driven by Debian's Chromium through Playwright.

One uvicorn process serves the whole session (start-up costs seconds; each test then takes well
under one). Tests stay independent anyway: every test gets a workspace of its own — a new tenant
at `<slug>.localhost` (Chromium resolves every *.localhost name to loopback) with an owner
account — so nothing one test changes is seen by another.

Chromium and axe-core are services in the sense of tests/conftest.py: missing, they fail the run
under CI and skip it elsewhere. `SC_BROWSER_SCREENSHOTS=<dir>` saves a desktop and a phone
screenshot of every page a test checks, for a human to look at.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import drop_database, make_tenant, migrated_database, service_missing, settings_env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = Path("/usr/bin/chromium")
#: DESIGN.md §8: Playwright's own browser download does not work here.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
SERVER_START_SECONDS = 30.0
#: Playwright's default of 30 s would turn a broken page into a slow suite.
TIMEOUT_MS = 5_000

T = TypeVar("T")


# --- The database and the server -----------------------------------------------------------


class Database:
    """The session's database, reachable from the tests' own process for seeding.

    Seeding runs on a thread of its own with its own event loop: Playwright's sync API owns an
    event loop on the test's thread, and `asyncio.run` refuses to nest inside it.
    """

    def __init__(self, template: dict, env: dict[str, str]) -> None:
        self.template = template  # {"url", "path"} (SQLite) or {"url", "owner_url", ...} (PostgreSQL)
        self.env = env
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed")

    def run(self, action: Callable[[], Awaitable[T]]) -> T:
        return self._pool.submit(asyncio.run, self._connected(action)).result(timeout=60)

    async def _connected(self, action: Callable[[], Awaitable[T]]) -> T:
        from salescopilot.db.engine import start_database, stop_database
        from salescopilot.settings import get_settings

        saved = {key: os.environ.get(key) for key in self.env}
        os.environ.update(self.env)
        get_settings.cache_clear()
        try:
            await start_database(get_settings())
            try:
                return await action()
            finally:
                await stop_database()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            get_settings.cache_clear()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


@pytest.fixture(scope="session")
def browser_database(tmp_path_factory) -> Iterator[Database]:
    """The server's own migrated database, never the other tests' one: the server lives for the
    whole session, and its in-process scheduler sends for every active tenant of its database
    on the real clock. Sharing the PostgreSQL test database let it send, mid-test, the messages
    of later tests' tenants (it happened to an analytics test under CI)."""
    base = tmp_path_factory.mktemp("browser")
    template = migrated_database(base)
    env = settings_env(base / "var", template)
    env["SALESCOPILOT_LOG_LEVEL"] = "WARNING"
    database = Database(template, env)
    yield database
    database.close()
    drop_database(template)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the app exited with code {process.returncode} while starting:\n"
                        f"{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError as error:
            last_error = error
        time.sleep(0.05)  # polling a port that is not open yet; no event to wait for
    pytest.fail(f"the app did not answer /healthz within {SERVER_START_SECONDS}s ({last_error!r}):\n"
                f"{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def live_server(browser_database, tmp_path_factory) -> Iterator[int]:
    """The app served by uvicorn on a free loopback port; yields the port."""
    port = _free_port()
    workdir = tmp_path_factory.mktemp("server")  # no stray .env is read from the repository
    log = workdir / "server.log"
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith("SALESCOPILOT_") or key.startswith("SALESCOPILOT_TEST_")
    }
    env.update(browser_database.env)
    command = [
        sys.executable, "-m", "uvicorn", "salescopilot.web.asgi:app",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_until_serving(process, port, log)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Workspace:
    """A tenant of this test's own, with an owner who can sign in."""

    slug: str
    name: str
    port: int
    database: Database
    tenant: Any
    owner_email: str

    @property
    def host(self) -> str:
        return f"{self.slug}.localhost"

    @property
    def base(self) -> str:
        """The tenant's origin, without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base + path

    def add_member(self, email: str, role: str = "member") -> str:
        from tests.support import add_member

        self.database.run(lambda: add_member(self.tenant, email, role))
        return email


@pytest.fixture
def workspace(live_server, browser_database) -> Workspace:
    slug = "t" + uuid.uuid4().hex[:10]
    name = "Acme Corp"
    tenant = browser_database.run(lambda: make_tenant(slug, name))
    space = Workspace(slug=slug, name=name, port=live_server, database=browser_database, tenant=tenant,
                      owner_email=f"owner@{slug}.test")
    space.add_member(space.owner_email, "owner")
    return space


# --- Chromium --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.is_file():
        missing = FileNotFoundError(f"{AXE} (`python3 dev.py test` installs it with `npm ci`)")
        service_missing("axe-core", missing)
    return AXE.read_text(encoding="utf-8")


class Chromium:
    """One Chromium for the run of browser tests, stopped as soon as the next test is not one.

    Not a session fixture: while Playwright's sync API runs, its event loop is the thread's
    running loop, so the async tests of other folders could not start theirs.
    """

    def __init__(self) -> None:
        self._playwright = None
        self._browser = None
        #: Set while tearing down the last browser test before others (or the end of the run).
        self.leaving = False

    def get(self):
        if self._browser is not None:
            return self._browser
        if not os.access(CHROMIUM, os.X_OK):
            service_missing("Chromium", FileNotFoundError(f"{CHROMIUM} (apt-get install chromium)"))
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as error:
            service_missing("Playwright for Python", error)
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
        except Exception as error:  # noqa: BLE001 - any launch failure means no browser
            self.stop()
            service_missing("Chromium", error)
        return self._browser

    def stop(self) -> None:
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None


_chromium = Chromium()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    _chromium.leaving = nextitem is None or HERE not in Path(str(nextitem.path)).parents
    yield
    _chromium.leaving = False


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """A run stopped early (-x, Ctrl-C) ends without a last teardown: stop Chromium before the
    session fixtures are torn down."""
    _chromium.stop()


@pytest.fixture
def browser(live_server):
    """The shared Chromium (`live_server` first: its set-up runs `asyncio.run`, which cannot
    run once Playwright has started). Stopped after the last browser test's own fixtures are
    torn down, before any session fixture (those run `asyncio.run` too)."""
    yield _chromium.get()
    if _chromium.leaving:
        _chromium.stop()


@pytest.fixture
def new_page(browser):
    """Open pages in fresh browser contexts (no shared cookies); all closed after the test."""
    contexts = []

    def open_page():
        # bypass_csp: axe is injected as an inline script, whatever policy the app sends.
        context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def check(axe_source, request):
    """`check(page, name)`: the accessibility and phone checks of every page a test visits."""
    from tests.browser.quality import PageChecker

    shots = os.environ.get("SC_BROWSER_SCREENSHOTS")
    return PageChecker(axe_source, Path(shots) if shots else None, request.node.name)

