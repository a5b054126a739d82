"""Webhooks against a real receiver on 127.0.0.1: signatures, retries with backoff, a
receiver that is down, dead letters and an operator's retry."""

import json
import time

import pytest

from helpers import auth
from tessera.adapters.webhooks import verify
from tessera.services.dispatch import dispatch_once
from webhook_receiver import Receiver, closed_port_url

SECRET = "whsec_test_secret_0123456789"


@pytest.fixture
def reward(api, tenant):
    """A list with codes, a subscriber, and a way to give them a code."""
    key = tenant[1]
    vl = api.post(
        "/v1/voucher-lists",
        json={"partner": "Java House", "name": "Coffee", "codes_per_subscriber": 3},
        headers=auth(key),
    ).json()
    csv = "code,description,expiry\n" + "".join(
        f"COFFEE-{i},Free coffee,2027-01-31\n" for i in (1, 2)
    )
    assert (
        api.post(f"/v1/voucher-lists/{vl['id']}/codes", content=csv, headers=auth(key)).status_code
        == 200
    )
    api.put(
        "/v1/subscribers/254700000001", json={"attributes": {"language": "sw"}}, headers=auth(key)
    )

    def give():
        answer = api.post(
            "/v1/distributions",
            json={"list_ids": [vl["id"]], "subscriber": "254700000001"},
            headers=auth(key),
        )
        assert answer.status_code == 201, answer.json()
        return answer.json()

    return give


def state(api, key):
    """The tenant's one notification: (status, attempts). A dispatcher round serves every
    tenant, so its own counts include other tests' notifications that fall due."""
    (notification,) = api.get("/v1/notifications", headers=auth(key)).json()["items"]
    return notification["status"], notification["attempts"]


def subscribe(api, key, url, events=("voucher.rewarded",)):
    answer = api.post(
        "/v1/webhooks",
        json={"url": url, "event_types": list(events), "secret": SECRET},
        headers=auth(key),
    )
    assert answer.status_code == 201, answer.json()
    return answer.json()


def test_delivery_is_signed_and_carries_the_rendered_message(api, tenant, container, reward):
    key = tenant[1]
    template = "Vocha yako ya {{ partner }} ni {{ code }}, hadi {{ expiry[:10] }}"
    assert (
        api.put(
            "/v1/templates/voucher.rewarded/sw", json={"body": template}, headers=auth(key)
        ).status_code
        == 201
    )
    with Receiver() as receiver:
        subscribe(api, key, receiver.url)
        given = reward()
        dispatch_once(container)
    assert state(api, key) == ("delivered", 1)
    (request,) = receiver.received
    assert verify(
        SECRET, request.headers["Tessera-Signature"], request.body, now=time.time(), tolerance=10**9
    )
    assert not verify(
        "another-secret-000000",
        request.headers["Tessera-Signature"],
        request.body,
        now=time.time(),
        tolerance=10**9,
    )
    assert not verify(
        SECRET,
        request.headers["Tessera-Signature"],
        request.body + b" ",
        now=time.time(),
        tolerance=10**9,
    )
    payload = json.loads(request.body)
    assert request.headers["Tessera-Event"] == payload["type"] == "voucher.rewarded"
    assert payload["data"]["code"] == given["code"]
    assert payload["data"]["partner"] == "Java House"
    assert payload["data"]["subscriber"] == "254700000001"
    assert payload["message"] == f"Vocha yako ya Java House ni {given['code']}, hadi 2027-02-01"


def test_a_500_answer_is_retried_with_growing_waits(api, tenant, container, clock, reward):
    key = tenant[1]
    with Receiver(answers=[500, 503]) as receiver:
        subscribe(api, key, receiver.url)
        reward()
        dispatch_once(container)
        assert state(api, key) == ("pending", 1)
        dispatch_once(container)
        assert state(api, key) == ("pending", 1)  # not due yet
        clock.advance(seconds=10)
        dispatch_once(container)
        assert state(api, key) == ("pending", 2)
        clock.advance(seconds=10)
        dispatch_once(container)
        assert state(api, key) == ("pending", 2)  # the second wait is 20 s
        clock.advance(seconds=10)
        dispatch_once(container)
        assert state(api, key) == ("delivered", 3)
    assert len(receiver.received) == 3
    assert len({r.headers["Tessera-Delivery"] for r in receiver.received}) == 1
    (notification,) = api.get("/v1/notifications", headers=auth(key)).json()["items"]
    detail = api.get(f"/v1/notifications/{notification['id']}", headers=auth(key)).json()
    assert detail["status"] == "delivered"
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, 503, 200]


def test_a_receiver_that_is_down_is_logged_and_retried(api, tenant, container, clock, reward):
    key = tenant[1]
    subscribe(api, key, closed_port_url())
    reward()
    dispatch_once(container)
    (notification,) = api.get("/v1/notifications?status=pending", headers=auth(key)).json()["items"]
    assert notification["attempts"] == 1
    assert "Connect" in notification["last_error"]
    detail = api.get(f"/v1/notifications/{notification['id']}", headers=auth(key)).json()
    assert detail["attempt_log"][0]["status_code"] is None


def test_a_notification_that_keeps_failing_is_dead_until_an_operator_retries(
    api, tenant, container, clock, reward
):
    key = tenant[1]
    container.settings.webhook_max_attempts = 3
    with Receiver(answers=[500, 500, 500]) as receiver:
        subscribe(api, key, receiver.url)
        reward()
        for _ in range(3):
            dispatch_once(container)
            clock.advance(hours=1)
        dispatch_once(container)
        assert state(api, key) == ("dead", 3)
        assert len(receiver.received) == 3
        dead = api.get("/v1/notifications?status=dead", headers=auth(key)).json()["items"]
        assert [n["attempts"] for n in dead] == [3]
        retried = api.post(f"/v1/notifications/{dead[0]['id']}/retry", headers=auth(key))
        assert retried.status_code == 200
        assert retried.json()["status"] == "pending"
        dispatch_once(container)
        assert state(api, key) == ("delivered", 1)  # a retry starts the count again
    assert len(receiver.received) == 4
    again = api.post(f"/v1/notifications/{dead[0]['id']}/retry", headers=auth(key))
    assert (again.status_code, again.json()["code"]) == (409, "notification_not_dead")


def test_only_subscribed_endpoints_get_an_event_and_tenants_never_see_each_other(
    api, tenant, make_tenant, container, reward
):
    other = make_tenant()
    with Receiver() as mine, Receiver() as theirs, Receiver() as low_stock_only:
        subscribe(api, tenant[1], mine.url)
        subscribe(api, tenant[1], low_stock_only.url, events=("voucher_list.low_stock",))
        subscribe(api, other[1], theirs.url)
        reward()
        dispatch_once(container)
    assert len(mine.received) == 1
    assert theirs.received == []
    assert low_stock_only.received == []
    assert api.get("/v1/notifications", headers=auth(other[1])).json()["items"] == []


def test_notifications_are_written_only_if_the_change_commits(api, tenant, container, reward):
    key = tenant[1]
    with Receiver() as receiver:
        subscribe(api, key, receiver.url)
        reward()
        reward()
        vl = api.get("/v1/voucher-lists", headers=auth(key)).json()["items"][0]
        refused = api.post(
            "/v1/distributions",
            json={"list_ids": [vl["id"]], "subscriber": "254700000001"},
            headers=auth(key),
        )
        assert refused.status_code == 409
        dispatch_once(container)
    assert len(receiver.received) == 2


def test_the_background_dispatcher_delivers_without_being_asked(api, tenant, container, reward):
    from prometheus_client import CollectorRegistry

    from tessera.entrypoints.worker import start_in_process

    container.settings.dispatch_interval_seconds = 0.05
    with Receiver() as receiver:
        subscribe(api, tenant[1], receiver.url)
        stop = start_in_process(container, CollectorRegistry())  # what `tessera worker` runs
        try:
            reward()
            deadline = time.monotonic() + 10
            while not receiver.received and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop()
    assert len(receiver.received) == 1
