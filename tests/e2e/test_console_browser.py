"""The console in a real browser (Debian's Chromium driven by Playwright) against a live
`tessera serve` on each store: sign in and out, look up a voucher and reverse its redemption,
CSRF and role refusals, a revoked key's session. Screenshots go to ``.screenshots/console``
(git-ignored; ``TESSERA_SCREENSHOTS`` moves it)."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from browser import CHROMIUM, SCREENSHOTS, require_chromium, tessera_serve
from tessera.bootstrap import build
from tessera.config import Settings
from tessera.services.tenants import create_tenant

CODE_SECRET = "console-code-secret-not-for-production"
LIST_KEY = "dGVzc2VyYS10ZXN0LWxpc3Qta2V5LTMyLWJ5dGVzLiE="


@dataclass
class Live:
    base: str
    store: str
    admin_key: str
    api: httpx.Client

    def key(self, role: str) -> tuple[str, str]:
        made = self.api.post("/v1/keys", json={"name": f"{role} desk", "role": role})
        assert made.status_code == 201, made.text
        return made.json()["id"], made.json()["key"]

    def post(self, path: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        answer = self.api.post(path, json=body, **kw)
        assert answer.status_code in (200, 201, 202), answer.text
        return dict(answer.json())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    require_chromium()
    tmp = tmp_path_factory.mktemp(f"console-{request.param}")
    if request.param == "postgresql":
        url = str(request.getfixturevalue("postgres_database_url"))
    else:
        url = f"sqlite:///{tmp / 'console.db'}"
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp / "console.db")
    env = {"TESSERA_CODE_SECRET": CODE_SECRET, "TESSERA_LIST_KEY": LIST_KEY,
           "TESSERA_PRINT_DIR": str(tmp / "print")}  # fmt: skip
    container = build(Settings(database_url=url))
    _tenant, admin_key = create_tenant(container.directory(), f"console-{uuid.uuid4().hex[:8]}")
    container.close()
    with (
        tessera_serve(url, tmp, env) as base,
        httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30
        ) as api,
    ):
        yield Live(base, request.param, admin_key, api)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, live: Live) -> Iterator[Page]:
    """A fresh browser context (no cookies) whose every request to another host fails."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    elsewhere: list[str] = []

    def closed_network(route: Any) -> None:
        if route.request.url.startswith(live.base):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", closed_network)
    opened = context.new_page()
    yield opened
    context.close()
    assert elsewhere == [], f"the console asked other hosts: {elsewhere}"


def shot(page: Page, live: Live, name: str) -> None:
    folder = SCREENSHOTS / "console"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}-{live.store}.png"), full_page=True)


def sign_in(page: Page, live: Live, key: str) -> None:
    page.goto(f"{live.base}/console")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def redeemed_voucher(live: Live) -> int:
    lifecycle = live.post(
        "/v1/lifecycles",
        {"name": f"lc-{uuid.uuid4().hex[:6]}", "validity_kind": "from_issue", "validity_days": 30},
    )
    vtype = live.post(
        "/v1/voucher-types",
        {"name": f"Data 1GB {uuid.uuid4().hex[:4]}", "cost_minor": 500, "currency": "EUR",
         "lifecycle_id": lifecycle["id"],
         "buckets": [{"balance_type": "data_mb", "amount": 1024, "validity_days": 30}]},
    )  # fmt: skip
    issued = live.post("/v1/vouchers", {"voucher_type_id": vtype["id"]})
    live.post("/v1/vouchers/redeem", {"code": issued["code"], "subscriber": "31600000001"})
    return int(issued["serial"])


def test_sign_in_shows_the_dashboard_and_sign_out_ends_it(page, live):
    page.goto(f"{live.base}/")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    shot(page, live, "sign-in")
    page.get_by_label("API key").fill("tsk_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#e-key")).to_contain_text("unknown or revoked")
    sign_in(page, live, live.admin_key)
    expect(page.get_by_role("img", name=re.compile("Redemptions per hour"))).to_be_visible()
    shot(page, live, "dashboard")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.goto(f"{live.base}/console/vouchers")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))


def test_look_up_a_voucher_and_reverse_its_redemption(page, live):
    serial = redeemed_voucher(live)
    _id, operator = live.key("operator")
    sign_in(page, live, operator)
    page.get_by_role("link", name="Vouchers").click()
    page.get_by_label("Serial number").fill("not a number")
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("#e-serial")).to_contain_text("whole number")
    page.get_by_label("Serial number").fill(str(serial))
    page.get_by_role("button", name="Look up").click()
    heading = page.get_by_role("heading", name=f"Voucher {serial}")
    expect(heading).to_contain_text("used")
    expect(page.get_by_role("cell", name="voucher.redeem")).to_be_visible()
    shot(page, live, "voucher-used")
    page.locator("#reason-reverse").fill("customer complaint")
    page.get_by_role("button", name="Reverse").click()
    expect(page.get_by_role("status")).to_contain_text("reverse")
    expect(heading).to_contain_text("available")
    expect(page.get_by_role("cell", name="voucher.reverse")).to_be_visible()
    shot(page, live, "voucher-reversed")
    assert live.api.get(f"/v1/vouchers/{serial}").json()["status"] == "available"


def test_a_form_posted_without_its_csrf_token_is_refused(page, live):
    serial = redeemed_voucher(live)
    sign_in(page, live, live.admin_key)
    page.goto(f"{live.base}/console/vouchers?serial={serial}")
    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    page.get_by_role("button", name="Reverse").click()
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("CSRF")
    assert live.api.get(f"/v1/vouchers/{serial}").json()["status"] == "used"


def test_an_auditor_sees_no_write_action_and_a_forged_post_is_refused(page, live):
    serial = redeemed_voucher(live)
    _id, auditor = live.key("auditor")
    sign_in(page, live, auditor)
    expect(page.get_by_role("link", name="Keys")).to_have_count(0)
    page.goto(f"{live.base}/console/vouchers?serial={serial}")
    expect(page.get_by_role("heading", name=f"Voucher {serial}")).to_be_visible()
    expect(page.locator("[data-action]")).to_have_count(0)
    shot(page, live, "voucher-auditor")
    status = page.evaluate(
        """async (serial) => {
            const csrf = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
            const body = new URLSearchParams({csrf, reason: 'forged'});
            const answer = await fetch(`/console/vouchers/${serial}/reverse`, {method: 'POST', body});
            return answer.status;
        }""",
        serial,
    )
    assert status == 403
    assert live.api.get(f"/v1/vouchers/{serial}").json()["status"] == "used"


def test_a_revoked_keys_session_ends(page, live):
    key_id, operator = live.key("operator")
    sign_in(page, live, operator)
    assert live.api.delete(f"/v1/keys/{key_id}").status_code == 200
    page.reload()
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
