"""/docs and /redoc work on a closed network: every script, style and image they load comes
from this server, checked in a real browser that is refused every other host."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Route, sync_playwright

from browser import CHROMIUM, live_server, require_chromium
from tessera.bootstrap import build
from tessera.config import Settings
from tessera.entrypoints.http.app import create_app


@pytest.fixture(scope="module")
def base_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("docs") / "tessera.db"
    shutil.copy(sqlite_template, database)
    container = build(Settings(database_url=f"sqlite:///{database}"))
    try:
        with live_server(create_app(container)) as url:
            yield url
    finally:
        container.close()


@pytest.fixture(scope="module")
def offline_page(base_url: str) -> Iterator[tuple[Page, list[str]]]:
    """A page whose every request to another host is aborted and written down."""
    require_chromium()
    elsewhere: list[str] = []

    def closed_network(route: Route) -> None:
        if route.request.url.startswith(base_url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        page = browser.new_page()
        page.route("**/*", closed_network)
        yield page, elsewhere
        browser.close()


def test_swagger_ui_renders_the_api_from_this_server_alone(offline_page, base_url):
    page, elsewhere = offline_page
    elsewhere.clear()
    page.goto(f"{base_url}/docs")
    page.wait_for_selector(".opblock-tag", timeout=60_000)  # the operations, grouped by tag
    assert page.locator(".opblock").count() > 20
    assert "/v1/vouchers" in page.content()
    assert elsewhere == []


def test_redoc_renders_the_api_from_this_server_alone(offline_page, base_url):
    page, elsewhere = offline_page
    elsewhere.clear()
    page.goto(f"{base_url}/redoc")
    page.wait_for_selector("[data-section-id]", timeout=60_000)  # the reference's sections
    assert page.locator("[data-section-id]").count() > 20
    assert elsewhere == []


def test_docs_pages_allow_no_other_host(base_url):
    for path in ("/docs", "/redoc"):
        answer = httpx.get(f"{base_url}{path}")
        assert answer.status_code == 200
        assert "cdn." not in answer.text
        policy = answer.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "https:" not in policy
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        assert httpx.get(f"{base_url}/docs-assets/{asset}").status_code == 200
