"""Every reward notifies the tenant (``voucher.rewarded``): an issued voucher, a bucket credit
and a partner list code alike, each with the campaign, the reward, the event and what was
given; a code travels in the webhook payload only."""

import json
import logging

from helpers import auth
from tessera.services.dispatch import dispatch_once
from vouchering import make_type
from webhook_receiver import Receiver

T = "2026-11-23T10:00:00Z"
SUBSCRIBER = "254700000061"
TEMPLATE = (
    "{{ kind }}|{{ serial }}|{{ voucher_type }}|{{ code }}|{{ balance_type }}|{{ amount }}"
    "|{{ list }}|{{ description }}|{{ expiry[:10] }}"
)


def setup(api, container, tenant, receiver):
    """A campaign giving all three kinds of reward for one event, a webhook and a template."""
    tenant_id, key = tenant
    admin = auth(key)
    type_id = make_type(container, tenant_id, validity_days=30)
    vl = api.post(
        "/v1/voucher-lists", json={"partner": "Java House", "name": "Coffee"}, headers=admin
    ).json()
    csv = "code,description,expiry\nCOFFEE-7788,Free coffee,2027-01-31\n"
    loaded = api.post(f"/v1/voucher-lists/{vl['id']}/codes", content=csv, headers=admin)
    assert loaded.status_code == 200, loaded.text
    body = {
        "name": "All three",
        "trigger_types": ["usage.data"],
        "condition": "event.attributes.mb >= 100",
        "rewards": [
            {"kind": "issue_voucher", "voucher_type_id": str(type_id)},
            {"kind": "credit_bucket", "balance_type": "data_mb", "amount": 500, "validity_days": 7},
            {"kind": "list_code", "list_ids": [vl["id"]]},
        ],
        "status": "active",
        "cost_per_reward_minor": 0,
        "currency": "EUR",
    }
    made = api.post("/v1/campaigns", json=body, headers=admin)
    assert made.status_code == 201, made.text
    hook = {"url": receiver.url, "event_types": ["voucher.rewarded"]}
    assert api.post("/v1/webhooks", json=hook, headers=admin).status_code == 201
    saved = api.put("/v1/templates/voucher.rewarded/en", json={"body": TEMPLATE}, headers=admin)
    assert saved.status_code == 201, saved.text
    voucher_type = api.get(f"/v1/voucher-types/{type_id}", headers=admin).json()
    return admin, made.json()["id"], voucher_type, vl


def send(api, admin, event_id="n1"):
    event = {
        "id": event_id,
        "subscriber": SUBSCRIBER,
        "type": "usage.data",
        "occurred_at": T,
        "attributes": {"mb": 150},
    }
    answer = api.post("/v1/events", json=event, headers=admin)
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]["rewards"]


def test_every_reward_notifies_with_the_campaign_the_event_and_what_was_given(
    api, container, tenant, caplog
):
    caplog.set_level(logging.DEBUG)
    with Receiver() as receiver:
        admin, campaign_id, voucher_type, vl = setup(api, container, tenant, receiver)
        rewards = send(api, admin)
        dispatch_once(container)
    by_kind = {r["kind"]: r for r in rewards}
    assert sorted(by_kind) == ["credit_bucket", "issue_voucher", "list_code"]
    payloads = [json.loads(r.body) for r in receiver.received]
    assert sorted(p["data"]["kind"] for p in payloads) == sorted(by_kind)
    notices = {p["data"]["kind"]: p for p in payloads}
    for kind, payload in notices.items():
        data = payload["data"]
        assert payload["type"] == "voucher.rewarded"
        assert data["campaign"] == "All three"
        assert data["campaign_id"] == campaign_id
        assert data["reward_id"] == by_kind[kind]["reward_id"]
        assert data["event_id"] == "n1"
        assert data["subscriber"] == SUBSCRIBER
        assert "None" not in payload["message"], payload["message"]
    issued = notices["issue_voucher"]["data"]
    code = by_kind["issue_voucher"]["details"]["code"]
    assert issued["code"] == code
    assert issued["serial"] == by_kind["issue_voucher"]["details"]["serial"]
    assert issued["voucher_type"] == voucher_type["name"]
    assert issued["expiry"].startswith("2026-12-23")  # issued now, valid 30 days
    credit = notices["credit_bucket"]["data"]
    assert (credit["balance_type"], credit["amount"]) == ("data_mb", 500)
    assert credit["expiry"].startswith("2026-11-30")
    assert credit.get("code") is None
    listed = notices["list_code"]["data"]
    assert (listed["list"], listed["list_id"], listed["partner"]) == (
        "Coffee",
        vl["id"],
        "Java House",
    )
    assert (listed["code"], listed["description"]) == ("COFFEE-7788", "Free coffee")
    assert listed["expiry"].startswith("2027-02-01")  # valid through the 31st
    # A template renders what a kind does not carry as empty, never as None.
    serial, name = issued["serial"], voucher_type["name"]
    assert (
        notices["issue_voucher"]["message"]
        == f"issue_voucher|{serial}|{name}|{code}|||||2026-12-23"
    )
    assert notices["credit_bucket"]["message"] == "credit_bucket||||data_mb|500|||2026-11-30"
    assert (
        notices["list_code"]["message"] == "list_code|||COFFEE-7788|||Coffee|Free coffee|2027-02-01"
    )
    # The codes travel to the webhook only: not in the API's view of the outbox, nor a log.
    shown = api.get("/v1/notifications", headers=admin).text
    assert len(json.loads(shown)["items"]) == 3
    for secret in (code, "COFFEE-7788"):
        assert secret not in shown
        assert secret not in caplog.text
    for item in json.loads(shown)["items"]:
        one = api.get(f"/v1/notifications/{item['id']}", headers=admin).text
        assert code not in one and "COFFEE-7788" not in one


def test_a_simulated_reward_notifies_nobody(api, container, tenant):
    with Receiver() as receiver:
        admin, campaign_id, _type, _vl = setup(api, container, tenant, receiver)
        sample = {
            "events": [
                {
                    "id": "s1",
                    "subscriber": SUBSCRIBER,
                    "type": "usage.data",
                    "occurred_at": T,
                    "attributes": {"mb": 150},
                }
            ]
        }
        simulated = api.post(f"/v1/campaigns/{campaign_id}/simulate", json=sample, headers=admin)
        assert simulated.status_code == 200, simulated.text
        dispatch_once(container)
    assert receiver.received == []
    assert api.get("/v1/notifications", headers=admin).json()["items"] == []


def test_a_reward_without_a_listening_endpoint_queues_nothing(api, container, tenant):
    with Receiver() as receiver:
        admin, _cid, _type, _vl = setup(api, container, tenant, receiver)
    (hook,) = api.get("/v1/webhooks", headers=admin).json()["items"]
    patched = api.patch(
        f"/v1/webhooks/{hook['id']}", json={"event_types": ["voucher.expired"]}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    assert len(send(api, admin)) == 3
    assert api.get("/v1/notifications", headers=admin).json()["items"] == []
