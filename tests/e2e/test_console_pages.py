"""Every console page renders for every role, a role without a permission is shown no form
that needs it and is refused when it posts one anyway, and the pages show what the API
knows (the dashboard's hourly counts, the CEL check's line and column)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from consoling import sign_in
from helpers import auth
from tessera.domain.codes import generate_codes
from tessera.services.issuing import DEFAULT_FORMAT


def _made(answer: Any) -> dict[str, Any]:
    assert answer.status_code in (200, 201, 202), answer.text
    return dict(answer.json())


@pytest.fixture
def seeded(api, tenant) -> dict[str, Any]:
    _tenant_id, key = tenant
    h = auth(key)
    lc = _made(api.post("/v1/lifecycles", headers=h,
                        json={"name": "90 days", "validity_kind": "from_issue", "validity_days": 90}))  # fmt: skip
    vt = _made(api.post("/v1/voucher-types", headers=h, json={
        "name": "Data 1GB", "cost_minor": 500, "currency": "EUR", "lifecycle_id": lc["id"],
        "buckets": [{"balance_type": "data_mb", "amount": 1024, "validity_days": 30}]}))  # fmt: skip
    batch = _made(
        api.post("/v1/batches", headers=h, json={"voucher_type_id": vt["id"], "count": 5})
    )
    campaign = _made(api.post("/v1/campaigns", headers=h, json={
        "name": "Big users", "trigger_types": ["usage.data"],
        "condition": "event.attributes.mb >= 100",
        "rewards": [{"kind": "credit_bucket", "balance_type": "data_mb", "amount": 100}]}))  # fmt: skip
    vlist = _made(
        api.post("/v1/voucher-lists", headers=h, json={"partner": "Java House", "name": "Coffee"})
    )
    api.post(f"/v1/voucher-lists/{vlist['id']}/codes", headers={**h, "Content-Type": "text/csv"},
             content=b"code\nCOFFEE-1\nCOFFEE-2\n")  # fmt: skip
    serials = []
    for _ in range(3):
        issued = _made(api.post("/v1/vouchers", headers=h, json={"voucher_type_id": vt["id"]}))
        _made(api.post("/v1/vouchers/redeem", headers=h,
                       json={"code": issued["code"], "subscriber": "31600000009"}))  # fmt: skip
        serials.append(issued["serial"])
    keys = {"admin": key}
    for role in ("operator", "auditor", "pos"):
        keys[role] = _made(api.post("/v1/keys", headers=h, json={"name": role, "role": role}))[
            "key"
        ]
    return {"batch": batch, "campaign": campaign, "serial": serials[0], "keys": keys, "list": vlist}


def _pages(seeded: dict[str, Any]) -> list[str]:
    return [
        "/console",
        "/console/vouchers",
        f"/console/vouchers?serial={seeded['serial']}",
        "/console/catalog",
        "/console/batches",
        f"/console/batches/{seeded['batch']['id']}",
        "/console/campaigns",
        f"/console/campaigns/{seeded['campaign']['id']}",
        "/console/subscribers",
        "/console/subscribers?id=31600000009",
        "/console/lists",
        f"/console/lists/{seeded['list']['id']}",
        "/console/webhooks",
        "/console/webhooks?status=dead",
        "/console/reports",
        "/console/reports/revenue",
        "/console/reports/settlement",
        "/console/reports/status",
        "/console/reports/status?as_of=2026-11-01&group_by=batch",
        "/console/reports/liability",
        "/console/reports/campaigns",
        "/console/reports/lists?since=2026-11-01&to=2026-11-30&period=month",
    ]


@contextmanager
def _as(api: TestClient) -> Iterator[TestClient]:
    """The app's test client (one per container: its lifespan owns the pools)."""
    yield api


WRITE_FORM = re.compile(r'<form method="post" action="(?!/console/sign-out)')


@pytest.mark.parametrize("role", ["admin", "operator", "auditor"])
def test_every_page_renders_for_every_role_and_read_only_roles_get_no_write_form(api, seeded, role):
    client = api
    sign_in(client, seeded["keys"][role])
    for path in _pages(seeded):
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        if role in ("auditor", "pos"):
            assert not WRITE_FORM.search(page.text), path
    keys_page = client.get("/console/keys")
    assert keys_page.status_code == (200 if role == "admin" else 403)
    assert ('href="/console/keys"' in client.get("/console").text) is (role == "admin")


def test_a_pos_key_reads_no_records_in_the_console(api, seeded):
    """A till works by code (issue 15 item 2): it lists no subscribers, vouchers or EDRs."""
    sign_in(api, seeded["keys"]["pos"])
    refused = 0
    for path in _pages(seeded):
        page = api.get(path)
        assert page.status_code in (200, 403), (path, page.status_code)
        refused += page.status_code == 403
        for record in ("31600000009", "Java House", seeded["campaign"]["name"]):
            assert record not in page.text, (path, record)
    assert refused >= len(_pages(seeded)) - 2  # at most an empty search form renders


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/console/catalog/lifecycles", {"name": "x", "validity_kind": "from_issue", "validity_days": "9"}),
        ("/console/batches", {"voucher_type_id": "00000000-0000-0000-0000-000000000000", "count": "5"}),
        ("/console/campaigns", {"name": "x", "trigger_types": "usage.data", "condition": "true"}),
        ("/console/lists", {"partner": "x", "name": "y"}),
        ("/console/webhooks", {"url": "https://example.com/h", "event_types": "voucher.rewarded"}),
    ],
)  # fmt: skip
def test_an_auditor_posting_a_write_form_anyway_is_refused(api, seeded, path, data):
    with _as(api) as client:
        csrf = sign_in(client, seeded["keys"]["auditor"])
        answer = client.post(path, data={**data, "csrf": csrf})
    assert answer.status_code == 403
    assert "may not manage catalog" in answer.text


def test_the_dashboard_counts_the_redemptions_of_the_hour(api, seeded):
    with _as(api) as client:
        sign_in(client, seeded["keys"]["auditor"])
        page = client.get("/console").text
    assert 'aria-label="Redemptions per hour: 3 in the last 24 hours"' in page
    assert 'aria-label="Rewards per hour: 0 in the last 24 hours"' in page


def test_the_condition_check_names_the_line_and_column_of_an_error(api, seeded):
    with _as(api) as client:
        csrf = sign_in(client, seeded["keys"]["operator"])
        bad = client.post(
            "/console/campaigns/check",
            data={
                "condition": "event.attributes.mb > 1 &&\n  evnt.x",
                "trigger_types": "usage.data",
            },
            headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
        )
        good = client.post(
            "/console/campaigns/check",
            data={"condition": "event.attributes.mb > 1", "trigger_types": "usage.data"},
            headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
        )
        unsigned = client.post(
            "/console/campaigns/check", data={"condition": "true"}, headers={"HX-Request": "true"}
        )
    assert 'data-line="2" data-column="3"' in bad.text
    assert "unknown variable &#39;evnt&#39;" in bad.text
    assert "compiles" in good.text
    assert unsigned.status_code == 403  # no CSRF token


def test_a_refused_form_shows_the_reason_next_to_the_field_and_keeps_what_was_typed(api, seeded):
    with _as(api) as client:
        csrf = sign_in(client, seeded["keys"]["operator"])
        answer = client.post(
            "/console/catalog/lifecycles",
            data={
                "csrf": csrf,
                "name": "Typo",
                "validity_kind": "from_issue",
                "validity_days": "0",
            },
        )
    assert answer.status_code == 422
    assert re.search(r'id="e-lc-validity_days"[^>]*>[^<]*greater than 0', answer.text)
    assert 'value="Typo"' in answer.text


def test_only_an_admin_may_make_or_revoke_keys(api, seeded):
    csrf = sign_in(api, seeded["keys"]["operator"])
    answer = api.post("/console/keys", data={"csrf": csrf, "name": "mine", "role": "admin"})
    assert answer.status_code == 403
    assert "may not manage keys" in answer.text
    api.cookies.clear()
    csrf = sign_in(api, seeded["keys"]["admin"])
    made = api.post("/console/keys", data={"csrf": csrf, "name": "till 4", "role": "pos"})
    assert made.status_code == 200
    assert re.search(r'id="new-key">tsk_', made.text)


def test_a_subscriber_shows_the_wallet_its_redemptions_credited_and_its_history(api, seeded):
    sign_in(api, seeded["keys"]["auditor"])
    page = api.get("/console/subscribers?id=31600000009").text
    assert re.search(r"<td>data_mb</td><td>3072</td>", page)  # three redemptions of 1024
    assert page.count("<td>wallet.credit</td>") == 3
    missing = api.get("/console/subscribers?id=nobody")
    assert missing.status_code == 404
    assert 'id="e-id"' in missing.text


def test_the_dashboard_lists_a_list_whose_low_stock_alert_was_raised(api, seeded):
    h = auth(seeded["keys"]["admin"])
    low = _made(api.post("/v1/voucher-lists", headers=h,
                         json={"partner": "Java House", "name": "Nearly gone", "low_stock_percent": 50}))  # fmt: skip
    api.post(f"/v1/voucher-lists/{low['id']}/codes", headers={**h, "Content-Type": "text/csv"},
             content=b"code\nLOW-1\nLOW-2\n")  # fmt: skip
    sign_in(api, seeded["keys"]["auditor"])
    assert "No list is low on stock" in api.get("/console").text
    _made(api.post("/v1/distributions", headers=h,
                   json={"list_ids": [low["id"]], "subscriber": "31600000001"}))  # fmt: skip
    page = api.get("/console").text
    assert "Nearly gone</a> (Java House): 1 of 2 issued, alert at 50%" in page
    assert "Coffee</a>" not in page  # 0 of 2 issued: not low


def test_a_report_page_shows_the_apis_rows_and_its_csv_download_holds_the_same(api, seeded):
    h = auth(seeded["keys"]["admin"])
    sign_in(api, seeded["keys"]["auditor"])
    page = api.get("/console/reports/revenue")  # the last 30 days, by type
    assert page.status_code == 200
    since = re.search(r'name="since" type="date" value="([0-9-]+)"', page.text).group(1)
    to = re.search(r'name="to" type="date" value="([0-9-]+)"', page.text).group(1)
    asked = {"since": since, "to": to, "period": "month", "group_by": "type"}
    shown = api.get("/console/reports/revenue", params=asked)
    csv_link = re.search(r'href="(/console/reports/revenue\.csv\?[^"]+)"', shown.text).group(1)
    download = api.get(csv_link.replace("&amp;", "&"))
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    lines = download.text.splitlines()
    assert lines[0].startswith("start,end,group,name,currency,opening_deferred,added")
    until = (date.fromisoformat(to) + timedelta(days=1)).isoformat()
    answer = api.get(
        "/v1/reports/revenue", headers=h,
        params={"since": f"{since}T00:00:00Z", "until": f"{until}T00:00:00Z", "period": "month"},
    ).json()  # fmt: skip
    expected = [g for p in answer["periods"] for g in p["groups"] + p["totals"]]
    assert len(lines) - 1 == len(expected) > 0
    data_row = next(line for line in lines[1:] if ",Data 1GB," in line)
    added = next(g for g in expected if g["name"] == "Data 1GB")["added"]
    assert data_row.split(",")[6] == str(added) == "1500"  # three sold at 500
    assert f'<td class="num">{added}</td>' in shown.text


def test_a_report_refused_by_the_api_says_why_next_to_the_field(api, seeded):
    sign_in(api, seeded["keys"]["operator"])
    backwards = {"since": "2026-12-07", "to": "2026-12-01", "period": "day", "group_by": "type"}
    page = api.get("/console/reports/revenue", params=backwards)
    assert page.status_code == 422
    assert re.search(r'id="e-to"[^>]*>must be after since', page.text)
    bad_day = api.get("/console/reports/settlement", params={**backwards, "since": "yesterday"})
    assert bad_day.status_code == 422
    assert 'id="e-since"' in bad_day.text
    assert api.get("/console/reports/revenue.csv", params=backwards).status_code == 422


def test_a_partner_key_reads_the_settlement_of_its_own_partners_only(api, seeded):
    h = auth(seeded["keys"]["admin"])
    other = _made(
        api.post("/v1/voucher-lists", headers=h, json={"partner": "Tea Shop", "name": "Tea"})
    )
    partner = _made(api.post("/v1/keys", headers=h, json={
        "name": "tea", "role": "partner", "list_ids": [other["id"]]}))["key"]  # fmt: skip
    sign_in(api, partner)
    index = api.get("/console/reports").text
    assert "/console/reports/settlement" in index
    assert "/console/reports/revenue" not in index  # revenue needs read
    assert api.get("/console/reports/revenue").status_code == 403
    assert api.get("/console/reports/settlement").status_code == 200


def test_a_subscriber_shows_the_aggregates_a_condition_reads_and_the_caps_counted(
    api, seeded, clock
):
    h = auth(seeded["keys"]["admin"])
    _made(api.post("/v1/aggregates", headers=h, json={
        "name": "data_mb_month", "event_type": "usage.data", "function": "sum",
        "attribute": "mb", "window": "month"}))  # fmt: skip
    for n, mb in enumerate((600, 650)):
        event = {"id": f"e{n}", "subscriber": "31600000009", "type": "usage.data",
                 "occurred_at": clock().isoformat(), "attributes": {"mb": mb}}  # fmt: skip
        _made(api.post("/v1/events", headers=h, json=event))
    sign_in(api, seeded["keys"]["auditor"])
    page = api.get("/console/subscribers?id=31600000009").text
    assert re.search(r"<code>agg.data_mb_month</code>.*?<td class=\"num\">1250</td>", page)
    assert 'data-barred="false"' in page


def test_an_operator_lifts_a_subscribers_bar_and_an_auditor_may_not(api, seeded, container):
    pos = seeded["keys"]["pos"]
    for unknown in generate_codes(DEFAULT_FORMAT, container.settings.bar_threshold):
        api.post("/v1/vouchers/redeem", headers=auth(pos),
                 json={"code": unknown, "subscriber": "31600000009"})  # fmt: skip
    csrf = sign_in(api, seeded["keys"]["auditor"])
    page = api.get("/console/subscribers?id=31600000009").text
    assert 'data-barred="true"' in page
    assert 'id="lift-form"' not in page
    assert 'id="bars"' not in api.get("/console/subscribers").text  # GET /v1/bars: operators'
    scope = "subscriber:31600000009"
    forged = api.post("/console/subscribers/bars/lift", data={"csrf": csrf, "scope": scope})
    assert forged.status_code == 403
    api.cookies.clear()
    csrf = sign_in(api, seeded["keys"]["operator"])
    listed = api.get("/console/subscribers").text
    assert 'href="/console/subscribers?id=31600000009"' in listed
    lifted = api.post(
        "/console/subscribers/bars/lift",
        data={"csrf": csrf, "scope": scope, "subscriber": "31600000009", "reason": "x" * 201},
    )
    assert lifted.status_code == 422
    assert re.search(r'id="e-reason"[^>]*>[^<]*200 characters', lifted.text)
    lifted = api.post(
        "/console/subscribers/bars/lift",
        data={"csrf": csrf, "scope": scope, "subscriber": "31600000009", "reason": "vouched"},
    )
    assert lifted.status_code == 200  # back on the subscriber's page
    assert 'data-barred="false"' in lifted.text
    assert "Nobody is barred" in api.get("/console/subscribers").text
    (edr,) = api.get("/v1/edrs", params={"operation": "voucher.bar_lift"},
                     headers=auth(seeded["keys"]["admin"])).json()["items"]  # fmt: skip
    assert edr["details"]["reason"] == "vouched"
