"""The docs site in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright):
from the index to a model page and to a notebook report, with a screenshot, and not one
request leaving the machine."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tests.support.browser import launch, need_chromium
from tests.support.project import copy_project, run_tool

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    need_chromium()
    root = copy_project(tmp_path_factory.mktemp("docs") / "project")
    done = run_tool(
        root, "ploomber", "build", "--env--demo_size", "0.05", "--env--run_date", "2024-01-03",
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return root


def _local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("file", "data", "about", "blob"):
        return True
    return parts.scheme in ("http", "https", "ws") and parts.hostname in ("localhost", "127.0.0.1")


def test_docs_site_in_a_browser(built):
    from playwright.sync_api import sync_playwright

    index = built / "output" / "docs" / "index.html"
    assert index.is_file()
    requested: list[str] = []
    blocked: list[str] = []

    def guard(route):
        url = route.request.url
        if _local(url):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    with sync_playwright() as p:
        browser = launch(p)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", guard)
            page = context.new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.goto(index.as_uri())
            assert "models and data quality" in page.title()
            assert page.locator("img[alt='Pipeline DAG']").evaluate("i => i.naturalWidth") > 0
            shot = built / "output" / "docs-index.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000

            page.click("a[href='models/fct_orders.html']")
            page.wait_for_load_state()
            assert page.url.endswith("/docs/models/fct_orders.html")
            assert page.locator("h1").inner_text() == "fct_orders"
            assert page.locator("#tests ~ table .sl-status").count() >= 5
            assert page.get_by_text("one row per order line").count() == 1
            page.screenshot(path=str(built / "output" / "docs-fct_orders.png"), full_page=True)
            page.click("a[href='stg_shop__orders.html']")  # upstream link
            assert page.url.endswith("/docs/models/stg_shop__orders.html")

            page.goto(index.as_uri())
            page.click("a[href='../reports/05_report_shop.html']")
            page.wait_for_load_state()
            assert page.url.endswith("/output/reports/05_report_shop.html")
            assert page.locator("h1").first.inner_text().startswith("Shop report")
            assert page.locator("img[src^='data:image/png']").count() >= 1
            assert requested, "the browser made no request at all"
            assert not blocked, f"requests left the machine: {blocked}"
            assert all(_local(u) for u in requested), requested

            # the guard itself: a request to the outside is seen and stopped
            page.evaluate("fetch('https://example.invalid/probe').catch(() => null)")
            assert blocked == ["https://example.invalid/probe"]
        finally:
            browser.close()
