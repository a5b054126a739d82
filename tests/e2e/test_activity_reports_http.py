"""GET /v1/reports/campaigns and /v1/reports/lists: per campaign or list and day, each
event and subscriber counted once, the budget and the codes left at each day's end; a
partner key sees its own lists only. Both stores."""

from __future__ import annotations

from datetime import timedelta

from helpers import auth


def _day_rows(api, headers, path, container) -> list[dict]:
    params = {
        "since": (container.clock() - timedelta(days=3)).isoformat(),
        "until": (container.clock() + timedelta(hours=1)).isoformat(),
    }
    got = api.get(path, params=params, headers=headers)
    assert got.status_code == 200, got.text
    return got.json()


def test_campaign_days_count_each_event_and_subscriber_once_and_the_budget_left(
    api, container, tenant
):
    h = auth(tenant[1])
    made = api.post("/v1/campaigns", headers=h, json={
        "name": "Data bonus", "trigger_types": ["usage.data"], "condition": "true",
        "rewards": [{"kind": "credit_bucket", "balance_type": "sms", "amount": 1}],
        "status": "active", "cost_per_reward_minor": 30, "currency": "EUR",
        "caps": {"total_budget_minor": 1000},
    })  # fmt: skip
    assert made.status_code == 201, made.text

    def event(event_id: str, subscriber: str) -> str:
        body = {"id": event_id, "subscriber": subscriber, "type": "usage.data",
                "occurred_at": container.clock().isoformat(), "attributes": {}}  # fmt: skip
        return api.post("/v1/events", json=body, headers=h).json()["results"][0]["rewards"][0][
            "reward_id"
        ]

    first = event("e1", "254700000001")
    event("e2", "254700000001")
    event("e3", "254700000002")
    container.clock.advance(days=1)
    event("e4", "254700000003")
    assert api.post(f"/v1/rewards/{first}/reverse", json={}, headers=h).status_code == 200
    rows = _day_rows(api, h, "/v1/reports/campaigns", container)
    figures = [
        (r["events"], r["rewards"], r["subscribers"], r["cost_minor"], r["reversed_minor"],
         r["budget_left_minor"])
        for r in rows
    ]  # fmt: skip
    assert figures == [(3, 3, 2, 90, 0, 910), (1, 1, 1, 30, 30, 910)]
    assert {r["campaign"] for r in rows} == {"Data bonus"}


def test_list_days_show_codes_issued_and_left_and_a_partner_sees_its_own(api, container, tenant):
    h = auth(tenant[1])
    ids = {}
    for partner, name in (("Java House", "Coffee"), ("CinemaCo", "Tickets")):
        made = api.post("/v1/voucher-lists", json={"partner": partner, "name": name}, headers=h)
        assert made.status_code == 201, made.text
        ids[name] = made.json()["id"]
        up = api.post(
            f"/v1/voucher-lists/{ids[name]}/codes", content="code\nA-1\nA-2\nA-3\n", headers=h
        )
        assert up.status_code in (200, 201), up.text

    def give(name: str, subscriber: str) -> None:
        given = api.post("/v1/distributions", headers=h,
                         json={"list_ids": [ids[name]], "subscriber": subscriber})  # fmt: skip
        assert given.status_code in (200, 201), given.text

    give("Coffee", "254700000001")
    container.clock.advance(days=1)
    give("Coffee", "254700000002")
    told = api.post(f"/v1/voucher-lists/{ids['Coffee']}/redemptions", headers=h,
                    json={"codes": ["A-1"]})  # fmt: skip
    assert told.status_code == 200, told.text
    rows = _day_rows(api, h, "/v1/reports/lists", container)
    coffee = [
        (r["uploaded"], r["issued"], r["redeemed"], r["issued_total"], r["remaining"])
        for r in rows
        if r["list"] == "Coffee"
    ]
    assert coffee == [(3, 1, 0, 1, 2), (0, 1, 1, 2, 1)]
    assert [r["remaining"] for r in rows if r["list"] == "Tickets"] == [3]
    partner = api.post("/v1/keys", headers=h, json={
        "name": "cinema", "role": "partner", "list_ids": [ids["Tickets"]]}).json()["key"]  # fmt: skip
    theirs = _day_rows(api, auth(partner), "/v1/reports/lists", container)
    assert {r["list"] for r in theirs} == {"Tickets"}
