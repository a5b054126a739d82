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
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from browser import CHROMIUM, SCREENSHOTS, axe_violations, require_chromium, tessera_serve
from tessera.bootstrap import build
from tessera.config import Settings
from tessera.domain.codes import generate_codes
from tessera.services.issuing import DEFAULT_FORMAT
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
           "TESSERA_PRINT_DIR": str(tmp / "print"), "TESSERA_BATCH_CHUNK_SIZE": "1000"}  # fmt: skip
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


def test_create_a_lifecycle_a_type_and_a_batch_watch_it_and_take_its_print_file_once(page, live):
    tag = uuid.uuid4().hex[:6]
    sign_in(page, live, live.admin_key)
    page.get_by_role("link", name="Lifecycles and types").click()
    form = page.locator("#lifecycle-form")
    form.get_by_label("Lifecycle name").fill(f"Scratch cards {tag}")
    form.get_by_label("Valid for (days)").fill("-3")
    form.get_by_role("button", name="Create lifecycle").click()
    expect(page.locator("#e-lc-validity_days")).to_contain_text("greater than 0")
    shot(page, live, "catalog-error")
    form = page.locator("#lifecycle-form")
    form.get_by_label("Valid for (days)").fill("90")
    form.get_by_role("button", name="Create lifecycle").click()
    expect(page.get_by_role("status")).to_contain_text(f"lifecycle Scratch cards {tag}")
    form = page.locator("#type-form")
    form.get_by_label("Type name").fill(f"Airtime 5 EUR {tag}")
    form.get_by_label("Cost (minor units)").fill("500")
    form.get_by_label("Lifecycle").select_option(label=f"Scratch cards {tag}")
    form.get_by_label("Balance type").fill("airtime")
    form.get_by_label("Amount").fill("500")
    form.get_by_role("button", name="Create voucher type").click()
    expect(page.get_by_role("status")).to_contain_text(f"voucher type Airtime 5 EUR {tag}")
    shot(page, live, "catalog")

    page.get_by_role("link", name="Batches").click()
    form = page.locator("#batch-form")
    form.get_by_label("Voucher type").select_option(label=f"Airtime 5 EUR {tag}")
    form.get_by_label("How many vouchers").fill("20000")
    form.get_by_role("button", name="Create batch").click()
    state = page.locator("#progress [data-state]")
    # Generated 1,000 at a time (TESSERA_BATCH_CHUNK_SIZE): the page opens while it runs,
    # and htmx polls the progress until the batch is done.
    assert state.get_attribute("data-state") == "generating"
    shot(page, live, "batch-generating")
    expect(page.locator("#progress [data-state]")).to_have_attribute(
        "data-state", "generated", timeout=60_000
    )
    expect(page.locator("#progress .count")).to_contain_text("20000 of 20000")
    expect(page.get_by_role("row", name="pending 20000")).to_be_visible()
    shot(page, live, "batch-generated")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download print file").click()
    printed = Path(download_info.value.path()).read_text()
    lines = printed.splitlines()
    assert len(lines) == 20001  # the header and every voucher
    page.get_by_role("button", name="Download print file").click()
    expect(page.get_by_role("heading", name="Gone")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("no longer available")
    shot(page, live, "print-file-gone")
    page.go_back()
    page.reload()
    first = int(lines[1].split(",")[0])
    form = page.locator("#operate-form")
    form.get_by_label("Operation").select_option("activate")
    form.get_by_label("From serial").fill(str(first))
    form.get_by_label("To serial").fill(str(first + 99))
    form.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("status").first).to_contain_text("activate: 100 vouchers changed")
    expect(page.get_by_role("row", name="available 100")).to_be_visible()
    expect(page.get_by_role("row", name="pending 19900")).to_be_visible()
    shot(page, live, "batch-activated")


def test_write_a_campaign_with_a_typo_see_it_at_its_line_and_column_fix_simulate_activate(
    page, live
):
    tag = uuid.uuid4().hex[:6]
    sign_in(page, live, live.admin_key)
    page.get_by_role("link", name="Campaigns").click()
    form = page.locator("#campaign-form")
    form.get_by_label("Campaign name").fill(f"Big data users {tag}")
    form.get_by_label("Trigger event types").fill("usage.data")
    editor = form.get_by_label("Condition (CEL over event, subscriber, agg and now)")
    editor.press_sequentially("event.attributes.mb >= 100 &&\n  event.type = 'usage.data'")
    check = page.locator("#condition-check .error")
    expect(check).to_contain_text("line 2, column 14")
    assert check.get_attribute("data-line") == "2"
    shot(page, live, "campaign-typo")
    form.get_by_label("Balance type").fill("data_mb")
    form.get_by_label("Amount").fill("100")
    form.get_by_role("button", name="Create campaign").click()  # refused, shown in place
    expect(page.locator("#condition-check .error")).to_contain_text("line 2, column 14")
    editor = page.locator("#campaign-form").get_by_label(re.compile("^Condition"))
    expect(editor).to_have_value("event.attributes.mb >= 100 &&\n  event.type = 'usage.data'")
    editor.fill("event.attributes.mb >= 100 &&\n  event.type == 'usage.data'")
    expect(page.locator("#condition-check")).to_contain_text("The condition compiles")
    page.locator("#campaign-form").get_by_role("button", name="Create campaign").click()
    expect(page.get_by_role("heading", name=f"Big data users {tag}")).to_contain_text("draft")

    page.get_by_role("button", name="Simulate").click()
    expect(page.locator("#simulation")).to_contain_text("1 event(s) rewarded")
    expect(page.locator("#simulation")).to_contain_text("sample-1")
    shot(page, live, "campaign-simulated")
    page.get_by_role("button", name="Activate").click()
    expect(page.locator("h1 [data-status]")).to_have_text("active")
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    shot(page, live, "campaign-active")


def test_upload_a_list_with_bad_rows_and_read_the_report(page, live, tmp_path):
    tag = uuid.uuid4().hex[:6]
    sign_in(page, live, live.admin_key)
    page.get_by_role("link", name="Partner lists").click()
    form = page.locator("#list-form")
    form.get_by_label("Partner").fill("Java House")
    form.get_by_label("List name").fill(f"Free coffee {tag}")
    form.get_by_role("button", name="Create list").click()
    expect(page.get_by_role("heading", name=f"Free coffee {tag}")).to_be_visible()
    csv = tmp_path / "codes.csv"
    csv.write_text(
        "code,description,expiry\n"
        f"COFFEE-{tag}-1,one cup,2030-01-01\n"
        f"COFFEE-{tag}-2,one cup,not a date\n"
        f"COFFEE-{tag}-1,again,2030-01-01\n"
        ",no code,2030-01-01\n"
        f"COFFEE-{tag}-3,one cup,\n"
    )
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Upload").click()
    report = page.locator("#upload-report")
    expect(report).to_contain_text("2 of 5 rows accepted")
    expect(report.get_by_role("row", name=re.compile(r"^3 "))).to_contain_text("expiry")
    expect(report.get_by_role("row", name=re.compile(r"^4 "))).to_be_visible()
    expect(report.get_by_role("row", name=re.compile(r"^5 "))).to_be_visible()
    shot(page, live, "list-upload-report")
    expect(page.get_by_role("row", name=re.compile(r"codes\.csv 5 2"))).to_be_visible()


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (768, 1024)], ids=["laptop", "tablet"])
def test_every_page_passes_axe_at_laptop_and_tablet_width(browser, live, width, height):
    serial = redeemed_voucher(live)
    batch = live.post("/v1/batches", {"voucher_type_id": live.api.get(
        "/v1/voucher-types").json()["items"][0]["id"], "count": 3})  # fmt: skip
    campaign = live.post("/v1/campaigns", {
        "name": f"axe {uuid.uuid4().hex[:6]}", "trigger_types": ["usage.data"],
        "condition": "event.attributes.mb >= 100",
        "rewards": [{"kind": "credit_bucket", "balance_type": "data_mb", "amount": 100}]})  # fmt: skip
    vlist = live.post("/v1/voucher-lists", {"partner": "P", "name": f"axe {uuid.uuid4().hex[:6]}"})
    # The axe script is injected inline, which the console's CSP forbids: this context
    # bypasses it (the other tests run under it).
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(f"{live.base}/console/sign-in")
        problems = {"sign-in": axe_violations(page)}
        sign_in(page, live, live.admin_key)
        for name, path in [
            ("dashboard", "/console"),
            ("voucher", f"/console/vouchers?serial={serial}"),
            ("subscriber", "/console/subscribers?id=31600000001"),
            ("catalog", "/console/catalog"),
            ("batches", "/console/batches"),
            ("batch", f"/console/batches/{batch['id']}"),
            ("campaigns", "/console/campaigns"),
            ("campaign", f"/console/campaigns/{campaign['id']}"),
            ("lists", "/console/lists"),
            ("list", f"/console/lists/{vlist['id']}"),
            ("webhooks", "/console/webhooks"),
            ("keys", "/console/keys"),
        ]:
            page.goto(f"{live.base}{path}")
            problems[name] = axe_violations(page)
            if width < 1000:
                shot(page, live, f"tablet-{name}")
        assert {k: v for k, v in problems.items() if v} == {}
    finally:
        context.close()


def test_read_the_revenue_report_see_a_bad_span_refused_and_download_its_csv(page, live):
    redeemed_voucher(live)  # a sale: revenue added today
    sign_in(page, live, live.admin_key)
    page.get_by_role("link", name="Reports").click()
    page.get_by_role("link", name="Revenue").click()
    form = page.locator("#report-form")
    to = form.get_by_label("To (UTC day, included)").input_value()
    form.get_by_label("From (UTC day)").fill("2099-01-01")
    form.get_by_role("button", name="Show").click()
    expect(page.locator("#e-to")).to_contain_text("must be after since")
    form = page.locator("#report-form")
    form.get_by_label("From (UTC day)").fill(to)
    form.get_by_label("Group by").select_option("currency")
    form.get_by_role("button", name="Show").click()
    total = page.get_by_role("row", name=re.compile(r"^.*total.*EUR"))
    expect(total.first).to_be_visible()
    shot(page, live, "report-revenue")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    rows = Path(download_info.value.path()).read_text().splitlines()
    assert rows[0].split(",")[:5] == ["start", "end", "group", "name", "currency"]
    assert any(",total,,EUR," in row for row in rows[1:]), rows


def test_see_a_barred_subscribers_aggregates_and_lift_the_bar(page, live):
    subscriber = f"3161{uuid.uuid4().int % 10**7:07d}"
    _id, till = live.key("pos")
    # TESSERA_BAR_THRESHOLD's default: five wrong codes bar the subscriber.
    for unknown in generate_codes(DEFAULT_FORMAT, 5):
        live.api.post("/v1/vouchers/redeem", json={"code": unknown, "subscriber": subscriber},
                      headers={"Authorization": f"Bearer {till}"})  # fmt: skip
    live.api.put(f"/v1/subscribers/{subscriber}", json={"attributes": {"plan": "prepaid"}})
    _id, operator = live.key("operator")
    sign_in(page, live, operator)
    page.get_by_role("link", name="Subscribers").click()
    page.locator("#bars").get_by_role("link", name=subscriber).click()
    expect(page.locator("#bar-state")).to_contain_text("Barred until")
    expect(page.get_by_role("heading", name="Aggregates and caps")).to_be_visible()
    shot(page, live, "subscriber-barred")
    page.get_by_label("Why (for the record)").fill("customer mistyped at the till")
    page.get_by_role("button", name="Lift the bar").click()
    expect(page.get_by_role("status")).to_contain_text("bar lifted")
    expect(page.locator("#bar-state")).to_have_text("Not barred.")
    lifts = live.api.get("/v1/edrs", params={"operation": "voucher.bar_lift"}).json()["items"]
    assert any(e["details"]["reason"] == "customer mistyped at the till" for e in lifts)
