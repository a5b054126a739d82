"""Webhooks cannot reach inside the host's network: loopback, link-local, private,
multicast and reserved addresses are refused when an endpoint is saved and again, after
resolution, before each delivery, unless the operator allows the network; plain http only
inside an allowed network."""

import ipaddress

import pytest

from helpers import auth
from tessera.adapters.webhooks import WebhookTargets, resolve
from tessera.config import Settings
from tessera.services.dispatch import dispatch_once
from webhook_receiver import Receiver

PUBLIC = "93.184.216.34"  # a public address: nothing is sent to it in these tests


@pytest.fixture
def closed(container):
    """The default: no network allowed (the suite's container allows loopback receivers)."""
    container.webhook_targets = WebhookTargets(())
    return container


def save(api, key, url):
    return api.post(
        "/v1/webhooks", json={"url": url, "event_types": ["voucher.rewarded"]}, headers=auth(key)
    )


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://127.0.0.1/hooks", "loopback"),
        ("https://localhost:8000/hooks", "loopback"),
        ("https://[::1]/hooks", "loopback"),
        ("https://[::ffff:127.0.0.1]/hooks", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://10.1.2.3/hooks", "private"),
        ("https://192.168.0.10/hooks", "private"),
        ("https://[fd00::1]/hooks", "private"),
        ("https://224.0.0.1/hooks", "multicast"),
        ("https://0.0.0.0/hooks", "reserved"),
        ("https://100.64.0.1/hooks", "non-public"),
    ],
)
def test_an_address_inside_the_host_network_is_refused_at_save(api, tenant, closed, url, kind):
    answer = save(api, tenant[1], url)
    assert answer.status_code == 422, answer.json()
    problem = answer.json()
    assert problem["field"] == "url"
    assert f"a {kind} address" in problem["detail"]
    assert "TESSERA_WEBHOOK_ALLOWED_NETWORKS" in problem["detail"]
    assert api.get("/v1/webhooks", headers=auth(tenant[1])).json()["items"] == []


def test_plain_http_is_refused_outside_allowed_networks(api, tenant, closed):
    answer = save(api, tenant[1], f"http://{PUBLIC}/hooks")
    assert answer.status_code == 422
    assert "must be https" in answer.json()["detail"]
    assert save(api, tenant[1], f"https://{PUBLIC}/hooks").status_code == 201


def test_a_host_that_does_not_resolve_is_refused_at_save(api, tenant, closed):
    answer = save(api, tenant[1], "https://no-such-host.invalid/hooks")
    assert answer.status_code == 422
    assert "does not resolve" in answer.json()["detail"]


def test_changing_the_url_to_an_inside_address_is_refused(api, tenant, closed):
    key = tenant[1]
    endpoint = save(api, key, f"https://{PUBLIC}/hooks").json()
    answer = api.patch(
        f"/v1/webhooks/{endpoint['id']}", json={"url": "https://10.0.0.1/x"}, headers=auth(key)
    )
    assert answer.status_code == 422
    assert answer.json()["field"] == "url"
    assert api.get(f"/v1/webhooks/{endpoint['id']}", headers=auth(key)).json()["url"] == (
        f"https://{PUBLIC}/hooks"
    )


def test_an_allowed_network_may_receive_plain_http(api, tenant, container):
    container.webhook_targets = WebhookTargets([ipaddress.ip_network("10.20.0.0/16")])
    assert save(api, tenant[1], "http://10.20.3.4:8080/orders").status_code == 201
    assert save(api, tenant[1], "http://10.21.0.1/orders").status_code == 422


def test_the_allowed_networks_setting_names_a_bad_entry():
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not a network"):
        Settings(webhook_allowed_networks="127.0.0.0/8, 10.0.0.0/33")
    allowed = Settings(webhook_allowed_networks="127.0.0.0/8, 10.1.2.3").allowed_webhook_networks
    assert allowed == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.1.2.3/32"))


def rewarded(api, key):
    """A code given to a subscriber: one voucher.rewarded notification queued."""
    vl = api.post("/v1/voucher-lists", json={"partner": "P", "name": "L"}, headers=auth(key)).json()
    csv = "code,description,expiry\nCODE-1,Coffee,2027-01-31\n"
    api.post(f"/v1/voucher-lists/{vl['id']}/codes", content=csv, headers=auth(key))
    api.put("/v1/subscribers/s1", json={"attributes": {}}, headers=auth(key))
    answer = api.post(
        "/v1/distributions", json={"list_ids": [vl["id"]], "subscriber": "s1"}, headers=auth(key)
    )
    assert answer.status_code == 201, answer.json()


def test_a_name_that_resolves_inside_at_delivery_is_not_posted(api, tenant, container):
    """DNS rebinding: public when saved, loopback when delivered; nothing is sent."""
    key = tenant[1]
    answers = {"hooks.example.net": [ipaddress.ip_address(PUBLIC)]}

    def resolve(host: str, _port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        # A dispatcher round serves every tenant of the store: other tests' endpoints are
        # address literals, resolved as themselves (and refused: no network is allowed here).
        return answers.get(host) or [ipaddress.ip_address(host)]

    container.webhook_targets = WebhookTargets((), resolver=resolve)
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        assert save(api, key, f"https://hooks.example.net:{port}/hooks").status_code == 201
        answers["hooks.example.net"] = [ipaddress.ip_address("127.0.0.1")]
        rewarded(api, key)
        dispatch_once(container)
    assert receiver.received == []
    (notification,) = api.get("/v1/notifications", headers=auth(key)).json()["items"]
    attempts = api.get(f"/v1/notifications/{notification['id']}", headers=auth(key)).json()
    assert notification["status"] == "pending"
    assert "refused: the host hooks.example.net is at 127.0.0.1, a loopback address" in str(
        attempts
    )


def test_a_delivery_goes_to_the_address_that_was_checked(api, tenant, container):
    """The post connects to the resolved, checked address and names the host in Host."""
    key = tenant[1]
    container.webhook_targets = WebhookTargets(
        [ipaddress.ip_network("127.0.0.0/8")],
        resolver=lambda host, port: [ipaddress.ip_address("127.0.0.1")],
    )
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        assert save(api, key, f"http://orders.internal:{port}/hooks").status_code == 201
        rewarded(api, key)
        dispatch_once(container)
    (request,) = receiver.received
    assert request.headers["Host"] == f"orders.internal:{port}"


def test_resolve_answers_every_address_of_a_name():
    assert resolve("localhost", 443)[0].is_loopback
    assert resolve("10.0.0.1", 80) == [ipaddress.ip_address("10.0.0.1")]
    assert resolve("no-such-host.invalid", 443) == []
