"""The built site in a real browser: every page loads cleanly from 127.0.0.1 alone, search works,
the notebook record and the rollback steps are on screen. Screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from docs_site import REPO, build_site, nav_pages

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    built = build_site(tmp_path_factory.mktemp("site"))
    assert built.returncode == 0, built.log
    handler = functools.partial(_QuietHandler, directory=str(built.site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class PageWatch:
    """A browser tab that records console errors, failed requests and requests to other hosts."""

    def __init__(self, browser, base: str) -> None:  # noqa: ANN001
        self.base = base
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.problems: list[str] = []
        self.context.route("**/*", self._only_local)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("requestfailed", lambda req: self.problems.append(f"failed: {req.url} {req.failure}"))
        self.page.on("response", self._response)

    def _only_local(self, route) -> None:  # noqa: ANN001
        host = urlparse(route.request.url).hostname
        if route.request.url.startswith("data:") or host == "127.0.0.1":
            route.continue_()
        else:
            self.problems.append(f"request to another host: {route.request.url}")
            route.abort()

    def _console(self, message) -> None:  # noqa: ANN001
        if message.type == "error":
            self.problems.append(f"console error: {message.text} at {message.location}")

    def _response(self, response) -> None:  # noqa: ANN001
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def open(self, path: str) -> None:
        self.page.goto(self.base + path, wait_until="networkidle")

    def shot(self, name: str, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(target), full_page=full_page)
        return target

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def tab(browser, site_url: str) -> Iterator[PageWatch]:  # noqa: ANN001
    watch = PageWatch(browser, site_url)
    try:
        yield watch
    finally:
        watch.close()


def _shot_name(path: str) -> str:
    return path.strip("/").replace("/", "-") or "home"


def test_every_navigation_page_loads_cleanly(tab: PageWatch) -> None:
    pages = nav_pages(Path("."))
    assert len(pages) >= 14
    for path in pages:
        tab.open(path)
        heading = tab.page.locator("article h1").first
        assert heading.is_visible(), path
        assert tab.page.title().endswith("bakemigrate"), path
        tab.shot(_shot_name(path))
    assert tab.problems == []


def test_search_finds_the_rollback_page(tab: PageWatch) -> None:
    tab.open("")
    search = tab.page.locator("input.md-search__input")
    search.click()
    tab.page.keyboard.type("rollback", delay=30)  # typed key by key, as search listens to keystrokes
    results = tab.page.locator(".md-search-result__item a")
    results.first.wait_for(timeout=15000)
    hrefs = [results.nth(i).get_attribute("href") or "" for i in range(results.count())]
    assert any("rollback/" in href for href in hrefs), hrefs
    tab.shot("search-rollback", full_page=False)
    assert tab.problems == []


def test_notebook_record_shows_the_comparison_table(tab: PageWatch) -> None:
    tab.open("notebook/migration-record/")
    tables = tab.page.locator(".jp-Notebook table")
    assert tables.count() >= 1
    tables.first.scroll_into_view_if_needed()
    assert tables.first.is_visible()
    text = tab.page.locator(".jp-Notebook").inner_text()
    assert "production_runs" in text
    assert "Verdict: PASS" in text
    assert tab.problems == []


def test_rollback_page_shows_its_steps(tab: PageWatch) -> None:
    tab.open("rollback/")
    steps = tab.page.locator("article ol > li")
    assert steps.count() >= 5
    assert all(steps.nth(i).is_visible() for i in range(steps.count()))
    command = tab.page.locator("article pre code", has_text="bakemigrate rollback data/bake_tracker.db").first
    assert command.is_visible()
    assert tab.problems == []


def test_dark_mode_toggle(tab: PageWatch) -> None:
    tab.open("guide/command-line/")
    body = tab.page.locator("body")
    before = body.get_attribute("data-md-color-scheme")
    tab.page.locator("form[data-md-component='palette'] label:visible").first.click()
    tab.page.wait_for_timeout(300)
    after = body.get_attribute("data-md-color-scheme")
    assert {before, after} == {"default", "slate"}
    tab.shot("command-line-dark", full_page=False)
    assert tab.problems == []


def test_record_page_on_a_phone_scrolls_each_table_in_its_own_box(tab: PageWatch) -> None:
    tab.page.set_viewport_size({"width": 390, "height": 844})
    tab.open("notebook/migration-record/")
    assert tab.page.locator("article h1").first.inner_text().strip() == "A real migration record"
    assert tab.page.locator(".jp-CodeCell .jp-InputArea").count() == 0  # the code is left out
    sizes = tab.page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert sizes[0] <= sizes[1]  # the page itself does not scroll sideways
    boxes = tab.page.locator(".bakemigrate-table")
    widths = boxes.evaluate_all("els => els.map(e => [e.scrollWidth, e.clientWidth, getComputedStyle(e).overflowX])")
    assert all(client <= 390 for _, client, _ in widths)
    wide = [w for w in widths if w[0] > w[1]]
    assert wide and all(overflow == "auto" for _, _, overflow in wide)  # wider tables scroll in their box
    boxes.nth(8).scroll_into_view_if_needed()
    tab.shot("record-phone", full_page=False)
    tab.page.set_viewport_size({"width": 1280, "height": 900})
    tab.page.locator(".bakemigrate-verdict").scroll_into_view_if_needed()
    tab.shot("record-desktop-verdict", full_page=False)
    assert tab.problems == []
