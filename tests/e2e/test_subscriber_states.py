"""Subscriber context as the seeds mean it: a ``service.state_changed`` event moves the
subscriber's service state, and a terminated subscriber can neither redeem nor be rewarded."""

import pytest

from helpers import auth
from tessera.domain.roles import Role
from tessera.services.tenants import create_key
from vouchering import issue, make_type

T = "2026-11-23T12:00:00Z"


@pytest.fixture
def admin(tenant):
    return auth(tenant[1])


def state_event(subscriber, state, n=1):
    return {
        "id": f"st-{subscriber}-{n}", "type": "service.state_changed", "subscriber": subscriber,
        "occurred_at": T, "attributes": {"state": state},
    }  # fmt: skip


def usage(subscriber, n=1):
    return {
        "id": f"u-{subscriber}-{n}", "type": "usage.data", "subscriber": subscriber,
        "occurred_at": T, "attributes": {"mb": 500},
    }  # fmt: skip


def test_a_state_changed_event_moves_the_subscribers_service_state(api, admin):
    answer = api.post("/v1/events", json={"events": [state_event("2547", "suspended")]},
                      headers=admin)  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert api.get("/v1/subscribers/2547", headers=admin).json()["service_state"] == "suspended"
    later = {**state_event("2547", "terminated", 2), "occurred_at": "2026-11-23T13:00:00Z"}
    api.post("/v1/events", json={"events": [later, state_event("2547", "active", 3)]},
             headers=admin)  # fmt: skip
    assert api.get("/v1/subscribers/2547", headers=admin).json()["service_state"] == "terminated"
    edrs = api.get("/v1/edrs", params={"operation": "subscriber.state_change"}, headers=admin)
    assert [e["status_after"] for e in edrs.json()["items"]] == ["suspended", "terminated"]


def test_a_state_event_must_name_a_known_state(api, admin):
    bad = state_event("2547", "gone")
    answer = api.post("/v1/events", json={"events": [bad]}, headers=admin)
    assert answer.status_code == 422
    assert answer.json()["field"] == "events[0].attributes.state"


def test_a_terminated_subscriber_cannot_redeem(api, admin, container, tenant):
    tid = tenant[0]
    _k, pos = create_key(container.uow(tid), "till", Role.POS)
    type_id = make_type(container, tid)
    api.post("/v1/events", json={"events": [state_event("2547", "terminated")]}, headers=admin)
    for _ in range(2):  # the second by code is one the quick path could take (PostgreSQL)
        voucher, code = issue(container, tid, type_id)
        body = {"code": code, "subscriber": "2547"}
        answer = api.post("/v1/vouchers/redeem", json=body, headers=auth(pos))
        assert answer.status_code == 409, answer.text
        assert answer.json()["code"] == "subscriber_inactive"
        shown = api.get(f"/v1/vouchers/{voucher.serial}", headers=admin).json()
        assert shown["status"] == "available"
    assert api.get("/v1/subscribers/2547/wallet", headers=admin).json()["totals"] == {}


def test_a_terminated_subscriber_is_rewarded_nothing(api, admin):
    campaign = {
        "name": "Data lover", "trigger_types": ["usage.data"], "status": "active",
        "condition": "event.attributes.mb >= 100",
        "rewards": [{"kind": "credit_bucket", "balance_type": "data_mb", "amount": 50}],
    }  # fmt: skip
    assert api.post("/v1/campaigns", json=campaign, headers=admin).status_code == 201
    api.post("/v1/events", json={"events": [state_event("gone", "terminated")]}, headers=admin)
    answer = api.post("/v1/events", json={"events": [usage("gone"), usage("here")]},
                      headers=admin).json()  # fmt: skip
    rewarded = {r["id"]: len(r["rewards"]) for r in answer["results"]}
    assert rewarded == {"u-gone-1": 0, "u-here-1": 1}
