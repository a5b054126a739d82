"""Partner settlement statements per period with a close (GET /v1/reports/settlement, POST
/v1/reports/settlement/close): a closed statement never changes, a later reversal lands on
the next open statement, closes follow each other and only admin and finance keys close.
Both stores."""

from __future__ import annotations

from datetime import timedelta

import pytest

from helpers import auth

SPAN = {"since": "2026-01-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"}
CAMPAIGN = {
    "name": "Streaming bonus",
    "trigger_types": ["usage.data"],
    "condition": "true",
    "rewards": [{"kind": "credit_bucket", "balance_type": "sms", "amount": 1}],
    "status": "active",
    "funding_partner": "StreamCo",
    "cost_per_reward_minor": 30,
    "currency": "EUR",
}


@pytest.fixture
def admin(api, tenant):
    h = auth(tenant[1])
    assert api.post("/v1/campaigns", json=CAMPAIGN, headers=h).status_code == 201
    return h


def _reward(api, admin, event_id: str) -> str:
    event = {"id": event_id, "subscriber": "254700000001", "type": "usage.data",
             "occurred_at": "2026-11-23T10:00:00Z", "attributes": {}}  # fmt: skip
    got = api.post("/v1/events", json=event, headers=admin).json()
    return got["results"][0]["rewards"][0]["reward_id"]


def _statements(api, headers) -> list[dict]:
    got = api.get("/v1/reports/settlement", params=SPAN, headers=headers)
    assert got.status_code == 200, got.text
    return got.json()


def _figures(statement: dict) -> tuple:
    (line,) = statement["lines"]
    return (line["events"], line["amount_minor"], line["reversed"], line["reversed_minor"],
            line["net_minor"])  # fmt: skip


def _close(api, container, headers):
    container.clock.advance(minutes=1)
    return api.post(
        "/v1/reports/settlement/close",
        json={"until": container.clock().isoformat()},
        headers=headers,
    )


def test_a_closed_statement_never_changes_and_a_later_reversal_lands_on_the_next(
    api, container, admin
):
    first = _reward(api, admin, "e1")
    _reward(api, admin, "e2")
    _reward(api, admin, "e3")
    closed = _close(api, container, admin)
    assert closed.status_code == 201, closed.text
    assert (closed.json()["seq"], _figures(closed.json())) == (1, (3, 90, 0, 0, 90))
    container.clock.advance(minutes=1)
    reversed_ = api.post(f"/v1/rewards/{first}/reverse", json={}, headers=admin)
    assert reversed_.status_code == 200, reversed_.text
    _reward(api, admin, "e4")
    one, open_ = _statements(api, admin)
    assert one == closed.json()  # as written when it was closed
    assert (open_["status"], open_["seq"], open_["ends_at"]) == ("open", None, None)
    assert open_["starts_at"] == closed.json()["ends_at"]
    assert _figures(open_) == (1, 30, 1, 30, 0)  # e4 granted, e1's reversal landed here
    second = _close(api, container, admin).json()
    assert _figures(second) == (1, 30, 1, 30, 0)
    one_again, two, still_open = _statements(api, admin)
    assert (one_again, two) == (closed.json(), second)
    assert still_open["lines"] == []
    # A partner's key sees the statements of its own lists' partners only.
    tea = api.post("/v1/voucher-lists", json={"partner": "Tea", "name": "Tea"}, headers=admin)
    bound = api.post("/v1/keys", headers=admin, json={
        "name": "tea", "role": "partner", "list_ids": [tea.json()["id"]]}).json()["key"]  # fmt: skip
    assert [s["lines"] for s in _statements(api, auth(bound))] == [[], [], []]


def test_closes_follow_each_other_and_never_reach_the_future(api, container, admin):
    _reward(api, admin, "e1")
    assert _close(api, container, admin).status_code == 201
    for until in (container.clock() - timedelta(seconds=1), container.clock() + timedelta(hours=1)):
        again = api.post(
            "/v1/reports/settlement/close", json={"until": until.isoformat()}, headers=admin
        )
        assert again.status_code == 422, again.text
        assert again.json()["field"] == "until"


def test_only_admin_and_finance_keys_close_a_period(api, container, admin):
    keys = {
        role: api.post("/v1/keys", json={"name": role, "role": role}, headers=admin).json()["key"]
        for role in ("operator", "auditor", "finance")
    }
    for role in ("operator", "auditor"):
        assert _close(api, container, auth(keys[role])).status_code == 403, role
    assert _statements(api, auth(keys["auditor"]))  # reading is theirs
    assert _close(api, container, auth(keys["finance"])).status_code == 201
