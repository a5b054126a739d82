"""A campaign whose condition keeps failing at run time pauses itself and tells the tenant
(TESSERA_CAMPAIGN_PAUSE_AFTER_FAILURES failures in a row, no successful evaluation between)."""

import json
import threading

import pytest
from fastapi.testclient import TestClient

from helpers import auth
from tessera.bootstrap import build
from tessera.entrypoints.http.app import create_app
from tessera.services.dispatch import dispatch_once
from webhook_receiver import Receiver

T = "2026-11-23T10:00:00Z"
SUBSCRIBER = "254700000051"


@pytest.fixture
def pausing(container, clock):
    """An app (and its container) on the test store with the setting at ``limit``: what a
    process started with TESSERA_CAMPAIGN_PAUSE_AFTER_FAILURES=limit serves."""
    made = []

    def make(limit):
        settings = container.settings.model_copy(update={"campaign_pause_after_failures": limit})
        built = build(settings, clock=clock)
        client = TestClient(create_app(built), raise_server_exceptions=False)
        client.__enter__()
        made.append((client, built))
        return client, built

    yield make
    for client, built in made:
        client.__exit__(None, None, None)
        built.close()


def campaign(name, condition):
    return {
        "name": name,
        "trigger_types": ["usage.data"],
        "condition": condition,
        "rewards": [{"kind": "credit_bucket", "balance_type": "data_mb", "amount": 10}],
        "status": "active",
        "cost_per_reward_minor": 0,
        "currency": "EUR",
    }


def make_campaign(api, headers, name, condition):
    made = api.post("/v1/campaigns", json=campaign(name, condition), headers=headers)
    assert made.status_code == 201, made.text
    return made.json()["id"]


class Events:
    """Sends usage events with new ids; ``div`` 0 makes the ratio condition fail."""

    def __init__(self, api, headers):
        self.api, self.headers, self.sent = api, headers, 0

    def send(self, *divs):
        events = []
        for div in divs:
            self.sent += 1
            events.append(
                {
                    "id": f"e{self.sent}",
                    "subscriber": SUBSCRIBER,
                    "type": "usage.data",
                    "occurred_at": T,
                    "attributes": {"mb": 150, "div": div},
                }
            )
        answer = self.api.post("/v1/events", json={"events": events}, headers=self.headers)
        assert answer.status_code == 200, answer.text
        return [[r["campaign"] for r in e["rewards"]] for e in answer.json()["results"]]


def shown(api, headers, cid):
    body = api.get(f"/v1/campaigns/{cid}", headers=headers).json()
    return body["status"], body["condition_failures"]["in_a_row"]


def pause_edrs(api, headers, cid):
    query = f"/v1/edrs?operation=campaign.pause&subject_id={cid}"
    return api.get(query, headers=headers).json()["items"]


def test_a_campaign_pauses_itself_after_n_failures_in_a_row(pausing, tenant):
    api, built = pausing(3)
    admin = auth(tenant[1])
    failing = make_campaign(api, admin, "Gold only", "subscriber.tier == 'gold'")
    healthy = make_campaign(api, admin, "Data lover", "event.attributes.mb >= 100")
    events = Events(api, admin)
    with Receiver() as receiver:
        hook = {"url": receiver.url, "event_types": ["campaign.paused"]}
        assert api.post("/v1/webhooks", json=hook, headers=admin).status_code == 201
        assert events.send(1, 1) == [["Data lover"], ["Data lover"]]
        assert shown(api, admin, failing) == ("active", 2)
        assert events.send(1) == [["Data lover"]]  # the third in a row: paused
        assert shown(api, admin, failing) == ("paused", 0)  # a new streak if set active again
        assert (
            api.get(f"/v1/campaigns/{failing}", headers=admin).json()["condition_failures"]["count"]
            == 3
        )
        assert shown(api, admin, healthy) == ("active", 0)
        assert events.send(1) == [["Data lover"]]  # a paused campaign is not evaluated
        assert (
            api.get(f"/v1/campaigns/{failing}", headers=admin).json()["condition_failures"]["count"]
            == 3
        )
        dispatch_once(built)
    (edr,) = pause_edrs(api, admin, failing)
    assert (edr["status_before"], edr["status_after"]) == ("active", "paused")
    assert edr["details"]["reason"] == "condition_failures"
    assert edr["details"]["failures"] == 3
    assert "tier" in edr["details"]["last_message"]
    (delivery,) = receiver.received
    payload = json.loads(delivery.body)
    assert payload["type"] == "campaign.paused"
    data = payload["data"]
    assert (data["campaign_id"], data["campaign"], data["failures"]) == (failing, "Gold only", 3)
    assert "tier" in data["last_message"]
    assert pause_edrs(api, admin, healthy) == []


def test_a_successful_evaluation_resets_the_failure_streak(pausing, tenant):
    api, _built = pausing(3)
    admin = auth(tenant[1])
    ratio = make_campaign(api, admin, "Ratio", "event.attributes.mb / event.attributes.div > 1")
    events = Events(api, admin)
    events.send(0, 0, 1, 0)  # within a batch in event order: one failure after the success
    assert shown(api, admin, ratio) == ("active", 1)
    events.send(0)
    assert shown(api, admin, ratio) == ("active", 2)
    events.send(1)  # a success (matched and rewarded): the streak ends
    assert shown(api, admin, ratio) == ("active", 0)
    events.send(0, 0)
    assert shown(api, admin, ratio) == ("active", 2)
    events.send(200)  # 150 / 200 is 0: settled by the screen on the event alone, a success
    assert shown(api, admin, ratio) == ("active", 0)
    events.send(0, 0, 0)
    assert shown(api, admin, ratio) == ("paused", 0)
    failures = api.get(f"/v1/campaigns/{ratio}", headers=admin).json()["condition_failures"]
    assert failures["count"] == 9
    assert "division by zero" in failures["last_message"]


def test_an_edit_starts_a_new_failure_streak(pausing, tenant):
    api, _built = pausing(3)
    admin = auth(tenant[1])
    gold = make_campaign(api, admin, "Gold only", "subscriber.tier == 'gold'")
    events = Events(api, admin)
    events.send(1, 1)
    assert shown(api, admin, gold) == ("active", 2)
    edited = api.patch(
        f"/v1/campaigns/{gold}", json={"condition": "subscriber.tier == 'silver'"}, headers=admin
    )
    assert edited.status_code == 200
    assert edited.json()["condition_failures"]["in_a_row"] == 0
    events.send(1, 1)
    assert shown(api, admin, gold) == ("active", 2)
    events.send(1)
    assert shown(api, admin, gold) == ("paused", 0)
    resumed = api.patch(f"/v1/campaigns/{gold}", json={"status": "active"}, headers=admin)
    assert resumed.status_code == 200
    events.send(1, 1)
    assert shown(api, admin, gold) == ("active", 2)
    assert len(pause_edrs(api, admin, gold)) == 1


def test_a_pause_limit_of_zero_never_pauses(pausing, tenant):
    api, _built = pausing(0)
    admin = auth(tenant[1])
    gold = make_campaign(api, admin, "Gold only", "subscriber.tier == 'gold'")
    events = Events(api, admin)
    events.send(*[1] * 150)
    assert shown(api, admin, gold) == ("active", 150)


def test_the_default_limit_is_100_failures_in_a_row(container):
    assert container.settings.campaign_pause_after_failures == 100
    assert container.rewards.pause_after_failures == 100


def test_two_processes_pause_a_failing_campaign_once(pausing, tenant):
    """Two processes (two apps on one store) send failing events at once: however their
    batches interleave, the campaign is paused once, with one EDR and one notification."""
    first, built = pausing(2)
    second, _other = pausing(2)
    admin = auth(tenant[1])
    gold = make_campaign(first, admin, "Gold only", "subscriber.tier == 'gold'")
    with Receiver() as receiver:
        hook = {"url": receiver.url, "event_types": ["campaign.paused"]}
        assert first.post("/v1/webhooks", json=hook, headers=admin).status_code == 201
        errors = []

        def send(api, prefix):
            for n in range(8):
                body = {
                    "events": [
                        {
                            "id": f"{prefix}{n}-{i}",
                            "subscriber": SUBSCRIBER,
                            "type": "usage.data",
                            "occurred_at": T,
                            "attributes": {"mb": 1},
                        }
                        for i in range(2)
                    ]
                }
                answer = api.post("/v1/events", json=body, headers=admin)
                if answer.status_code != 200:
                    errors.append(answer.text)

        threads = [
            threading.Thread(target=send, args=(first, "a")),
            threading.Thread(target=send, args=(second, "b")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert shown(first, admin, gold)[0] == "paused"
        dispatch_once(built)
    assert len(pause_edrs(first, admin, gold)) == 1
    assert len(receiver.received) == 1
