"""The guided notebook as a baker meets it: a real JupyterLab in a real browser, cell by cell.

`jupyter lab` runs on 127.0.0.1 with a temporary root, settings and token (no browser, no news,
no update check); Playwright drives Debian's Chromium. The cells are run one at a time with
Shift+Enter on the demo database; then the kernel is restarted and the switch cell and the rollback
cell are run alone after the settings cell. No cell may show an error, and the database must be
what each step promises. Screenshots (light and dark themes) go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from bakemigrate.db import inspect_database

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "migrate_v0.6_to_v0.7.ipynb"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
NAME = "migrate.ipynb"
QUIET_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A JupyterLab server on 127.0.0.1 serving a folder with the notebook (work folder `work`)."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    settings = next(c for c in nb.cells if c.id == "parameters")
    settings.source = settings.source.replace("WORK_DIR = None", 'WORK_DIR = "work"')
    assert 'WORK_DIR = "work"' in settings.source
    nbformat.write(nb, root / NAME)
    user_settings = base / "settings"
    for name, values in QUIET_SETTINGS.items():
        (user_settings / name).parent.mkdir(parents=True, exist_ok=True)
        (user_settings / name).write_text(json.dumps(values), encoding="utf-8")
    token, port = secrets.token_hex(16), _free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(user_settings), JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
               MPLBACKEND="Agg")
    log = open(base / "lab.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--ServerApp.port_retries=0",
         "--LabApp.extension_manager=readonly", "--allow-root"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not start: {(base / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield f"{url}/lab/tree/{NAME}?token={token}", root
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def page(lab: tuple[str, Path]) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    url, _ = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            tab.goto(url)
            tab.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            tab.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
            yield tab
        finally:
            browser.close()


def busy(tab) -> bool:
    script = "() => [...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'))"
    return tab.evaluate(script)


def wait_idle(tab, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    tab.wait_for_timeout(300)
    while busy(tab) or tab.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() == 0:
        assert time.monotonic() < deadline, "a cell is still running"
        tab.wait_for_timeout(200)



def cell_of(tab, cell_id: str):
    index = [c.id for c in nbformat.read(NOTEBOOK, as_version=4).cells].index(cell_id)
    return tab.locator(".jp-Notebook .jp-Cell").nth(index)


def run_cell(tab, cell_id: str, source: str | None = None) -> str:
    """Click in the cell, optionally replace its text, press Shift+Enter; its output text."""
    target = cell_of(tab, cell_id)
    target.scroll_into_view_if_needed()
    editor = target.locator(".jp-InputArea-editor")
    editor.click()
    if source is not None:
        tab.keyboard.press("Control+A")
        tab.keyboard.press("Delete")
        tab.keyboard.insert_text(source)
    tab.keyboard.press("Shift+Enter")
    wait_idle(tab)
    return target.locator(".jp-OutputArea").text_content()


def error_outputs(tab) -> list[str]:
    found = tab.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    return [found.nth(i).text_content() for i in range(found.count())]


def restart_kernel(tab) -> None:
    tab.locator(".jp-Notebook").click(position={"x": 5, "y": 5})
    tab.keyboard.press("Escape")
    tab.keyboard.press("0")
    tab.keyboard.press("0")
    tab.locator(".jp-Dialog button.jp-mod-accept").click()
    tab.wait_for_timeout(1500)
    wait_idle(tab)


def shot(tab, name: str, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.wait_for_timeout(800)  # cells scrolled into view are painted
    tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def test_a_baker_runs_the_notebook_cell_by_cell_then_switches_and_rolls_back(page, lab) -> None:
    tab = page
    _, root = lab
    demo = root / "work-demo" / "bake_tracker.db"
    # every cell in turn, with Shift+Enter, from the top (markdown cells are rendered on the way)
    tab.locator(".jp-Notebook .jp-Cell").first.click()
    total = len(nbformat.read(NOTEBOOK, as_version=4).cells)
    for _ in range(total):
        tab.keyboard.press("Shift+Enter")
        wait_idle(tab)
    assert error_outputs(tab) == []
    assert inspect_database(demo).schema_version == "0.6"  # nothing switched without CONFIRM_SWITCH

    banner = tab.locator(".bakemigrate-verdict")
    assert banner.count() == 1 and banner.text_content().startswith("Verdict: PASS. Every check passed")
    assert "rgb(46, 125, 50)" in banner.evaluate("e => getComputedStyle(e).backgroundColor")
    rows = cell_of(tab, "step-6-rows")
    rows.scroll_into_view_if_needed()
    headers = [t.strip() for t in rows.locator("table").first.locator("th").all_text_contents()]
    assert headers == ["Table", "Before", "After", "Same"]
    assert "Production runs" in rows.text_content() and "other tables: all equal" in rows.text_content()
    assert "assembly_runs" not in rows.locator("table").first.text_content()  # folded away
    cell_of(tab, "step-2-export").scroll_into_view_if_needed()
    preview = cell_of(tab, "step-2-export").locator("table").nth(1)
    assert "Ingredient cost" in preview.text_content() and "T" not in preview.locator("td").first.text_content()
    # nothing wider than the notebook's column
    column = tab.locator(".jp-Notebook").bounding_box()["width"]
    widest = tab.evaluate("() => Math.max(...[...document.querySelectorAll('.jp-OutputArea-output')]"
                          ".map(e => e.getBoundingClientRect().width))")
    assert widest <= column
    assert "not switched: confirmation needed" in cell_of(tab, "step-7-switch").text_content()
    cell_of(tab, "step-6-verify").scroll_into_view_if_needed()
    shot(tab, "jupyterlab-verify-light")

    # after a kernel restart: the settings with the switch confirmed, then the switch cell alone
    restart_kernel(tab)
    settings = nbformat.read(root / NAME, as_version=4)
    source = next(c for c in settings.cells if c.id == "parameters").source
    confirmed = source.replace("CONFIRM_SWITCH = False", "CONFIRM_SWITCH = True")
    run_cell(tab, "parameters", confirmed)
    switched = run_cell(tab, "step-7-switch")
    assert "switched: work-demo/bake_tracker.db is now the migrated v0.7 database" in switched, switched
    assert error_outputs(tab) == []
    assert inspect_database(demo).schema_version == "0.7"

    # and again after a restart: the settings, then the rollback cell alone
    restart_kernel(tab)
    run_cell(tab, "parameters")
    rollback_source = next(c for c in settings.cells if c.id == "step-8-rollback").source
    restored = run_cell(tab, "step-8-rollback", rollback_source.replace("ROLLBACK = False", "ROLLBACK = True"))
    assert "is the pre-migration database again" in restored, restored
    assert error_outputs(tab) == []
    assert inspect_database(demo).schema_version == "0.6"

    # the dark theme: the charts are drawn on a transparent background
    tab.locator(".lm-MenuBar-itemLabel").get_by_text("Settings", exact=True).click()
    tab.locator(".lm-Menu-itemLabel").get_by_text("Theme", exact=True).hover()
    tab.locator(".lm-Menu-itemLabel").get_by_text("JupyterLab Dark", exact=True).click()
    tab.wait_for_timeout(1500)
    cell_of(tab, "step-6-charts").scroll_into_view_if_needed()
    shot(tab, "jupyterlab-charts-dark")
    cell_of(tab, "step-6-rows").scroll_into_view_if_needed()
    shot(tab, "jupyterlab-rows-dark")
