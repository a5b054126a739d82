"""Fulfilment that completes: a redemption of a type with an offer asks the order system
(webhook with the request id and the subscriber), which completes or fails it with its key;
a failed or timed-out activation gives the voucher back; nobody subscribed, no redemption."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from helpers import auth
from tessera.domain.roles import Role
from tessera.services import fulfilment
from tessera.services.tenants import create_key
from vouchering import issue, make_lifecycle

SECRET = "order-system-webhook-secret-0123456789"


@pytest.fixture
def shop(api, container, tenant):
    """A tenant whose order system listens to fulfilment.requested, with an offer type."""
    tid, admin = tenant
    _k, pos = create_key(container.uow(tid), "till", Role.POS)
    _k, orders = create_key(container.uow(tid), "orders", Role.ORDER_SYSTEM)
    hook = api.post(
        "/v1/webhooks",
        json={
            "url": "http://127.0.0.1:9/orders",
            "event_types": ["fulfilment.requested"],
            "secret": SECRET,
        },
        headers=auth(admin),
    )
    assert hook.status_code == 201, hook.text
    typed = api.post(
        "/v1/voucher-types",
        json={
            "name": "XL bundle",
            "cost_minor": 1500,
            "currency": "EUR",
            "lifecycle_id": str(make_lifecycle(container, tid)),
            "fulfilment_offer": "BUNDLE-XL",
            "fulfilment_parameters": ["offer_id"],
        },
        headers=auth(admin),
    )
    assert typed.status_code == 201, typed.text
    return tid, admin, pos, orders, uuid.UUID(typed.json()["id"])


def redeem(api, pos, code, **extra):
    body = {"code": code, "subscriber": "254700000001", **extra}
    return api.post("/v1/vouchers/redeem", json=body, headers=auth(pos))


def status_of(api, admin, serial):
    return api.get(f"/v1/vouchers/{serial}", headers=auth(admin)).json()["status"]


def test_the_webhook_carries_the_request_id_the_subscriber_and_the_parameters(api, container, shop):
    tid, admin, pos, orders, type_id = shop
    voucher, code = issue(container, tid, type_id)
    used = redeem(api, pos, code, offer_parameters={"offer_id": "XMAS-25"})
    assert used.status_code == 200, used.text
    request_id = used.json()["fulfilment_request_id"]
    (sent,) = api.get("/v1/notifications", headers=auth(admin)).json()["items"]
    data = sent["payload"]["data"]
    assert (data["request_id"], data["subscriber"], data["serial"]) == (
        request_id, "254700000001", voucher.serial,
    )  # fmt: skip
    assert data["parameters"] == {"offer_id": "XMAS-25"} and data["action"] == "activate"
    (pending,) = api.get(
        "/v1/fulfilments", params={"status": "pending"}, headers=auth(orders)
    ).json()["items"]
    assert pending["id"] == request_id and pending["parameters"] == {"offer_id": "XMAS-25"}


def test_the_order_system_completes_a_request_once(api, container, shop):
    tid, admin, pos, orders, type_id = shop
    voucher, code = issue(container, tid, type_id)
    request_id = redeem(api, pos, code).json()["fulfilment_request_id"]
    done = api.post(f"/v1/fulfilments/{request_id}/complete", headers=auth(orders))
    assert done.status_code == 200, done.text
    assert done.json()["request"]["status"] == "completed"
    assert done.json()["voucher_restored"] is False
    again = api.post(f"/v1/fulfilments/{request_id}/complete", headers=auth(orders))
    assert again.status_code == 409 and again.json()["code"] == "fulfilment_settled"
    late = api.post(
        f"/v1/fulfilments/{request_id}/fail", json={"reason": "x"}, headers=auth(orders)
    )
    assert late.status_code == 409
    assert status_of(api, admin, voucher.serial) == "used"
    ops = api.get("/v1/edrs", params={"subject_id": request_id}, headers=auth(admin)).json()
    assert [e["operation"] for e in ops["items"]] == ["fulfilment.complete"]


def test_a_failed_activation_gives_the_voucher_back_with_its_records(api, container, shop):
    tid, admin, pos, orders, type_id = shop
    voucher, code = issue(container, tid, type_id)
    request_id = redeem(api, pos, code).json()["fulfilment_request_id"]
    failed = api.post(
        f"/v1/fulfilments/{request_id}/fail", json={"reason": "out of stock"}, headers=auth(orders)
    )
    assert failed.status_code == 200, failed.text
    assert failed.json()["request"]["status"] == "failed"
    assert failed.json()["request"]["reason"] == "out of stock"
    assert failed.json()["voucher_restored"] is True
    assert status_of(api, admin, voucher.serial) == "available"
    edrs = api.get(
        "/v1/edrs", params={"subject_id": str(voucher.serial)}, headers=auth(admin)
    ).json()["items"]
    (reverse,) = [e for e in edrs if e["operation"] == "voucher.reverse"]
    assert reverse["details"]["cause"] == "fulfilment_failed"
    assert reverse["details"]["revenue"] == "reversed" and reverse["amount_minor"] == 1500
    (revenue,) = [e for e in edrs if e["operation"] == "revenue.reversed"]  # back to deferred
    assert (revenue["amount_minor"], revenue["currency"]) == (1500, "EUR")
    again = redeem(api, pos, code)  # the subscriber can use it again: a new request
    assert again.status_code == 200 and again.json()["fulfilment_request_id"] != request_id


def test_a_request_left_pending_times_out_and_gives_the_voucher_back(api, container, shop, clock):
    tid, admin, pos, orders, type_id = shop
    voucher, code = issue(container, tid, type_id)
    request_id = redeem(api, pos, code).json()["fulfilment_request_id"]
    timeout = timedelta(seconds=container.settings.fulfilment_timeout_seconds)
    clock.advance(seconds=timeout.total_seconds() - 1)
    assert fulfilment.time_out(container.uow(tid), timeout) == 0
    clock.advance(seconds=2)
    assert fulfilment.time_out(container.uow(tid), timeout) == 1
    assert fulfilment.time_out(container.uow(tid), timeout) == 0
    shown = api.get(f"/v1/fulfilments/{request_id}", headers=auth(orders)).json()
    assert shown["status"] == "timed_out" and shown["settled_at"] is not None
    assert status_of(api, admin, voucher.serial) == "available"


def test_an_offer_nobody_is_subscribed_to_deliver_is_not_redeemed(api, container, make_tenant):
    tid, admin = make_tenant()
    _k, pos = create_key(container.uow(tid), "till", Role.POS)
    typed = api.post(
        "/v1/voucher-types",
        json={
            "name": "bundle",
            "cost_minor": 100,
            "currency": "EUR",
            "lifecycle_id": str(make_lifecycle(container, tid)),
            "fulfilment_offer": "BUNDLE-S",
        },
        headers=auth(admin),
    ).json()
    voucher, code = issue(container, tid, uuid.UUID(typed["id"]))
    for _ in range(2):  # on PostgreSQL the second is decided on the batched path
        refused = redeem(api, pos, code)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "fulfilment_unavailable"
        _v, code = issue(container, tid, uuid.UUID(typed["id"]))
    assert status_of(api, admin, voucher.serial) == "available"


def test_offer_parameters_are_held_to_what_the_type_allows(api, container, shop):
    tid, _admin, pos, _orders, type_id = shop
    _v, code = issue(container, tid, type_id)
    for wrong, field in (
        ({"price": "0"}, "offer_parameters.price"),
        ({"offer_id": "x" * 101}, "offer_parameters.offer_id"),
    ):
        refused = redeem(api, pos, code, offer_parameters=wrong)
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == field


def test_a_type_declares_parameters_only_with_an_offer(api, container, tenant):
    tid, admin = tenant
    body = {
        "name": "plain",
        "cost_minor": 100,
        "currency": "EUR",
        "lifecycle_id": str(make_lifecycle(container, tid)),
        "fulfilment_parameters": ["offer_id"],
    }
    refused = api.post("/v1/voucher-types", json=body, headers=auth(admin))
    assert refused.status_code == 422 and refused.json()["field"] == "fulfilment_parameters"
    body |= {"fulfilment_offer": "X", "fulfilment_parameters": ["Offer Id"]}
    refused = api.post("/v1/voucher-types", json=body, headers=auth(admin))
    assert refused.status_code == 422 and refused.json()["field"] == "fulfilment_parameters"


def test_only_the_order_system_and_operators_settle_and_only_their_tenants(
    api, container, shop, make_tenant
):
    tid, admin, pos, orders, type_id = shop
    _v, code = issue(container, tid, type_id)
    request_id = redeem(api, pos, code).json()["fulfilment_request_id"]
    assert api.get("/v1/fulfilments", headers=auth(pos)).status_code == 403
    assert api.post(f"/v1/fulfilments/{request_id}/complete", headers=auth(pos)).status_code == 403
    assert api.get("/v1/vouchers/1", headers=auth(orders)).status_code == 403
    other_tid, _other_admin = make_tenant()
    _k, stranger = create_key(container.uow(other_tid), "orders", Role.ORDER_SYSTEM)
    foreign = api.post(f"/v1/fulfilments/{request_id}/complete", headers=auth(stranger))
    assert foreign.status_code == 404 and foreign.json()["code"] == "fulfilment_not_found"
    assert api.get(f"/v1/fulfilments/{request_id}", headers=auth(stranger)).status_code == 404
    assert api.get("/v1/fulfilments", headers=auth(stranger)).json()["items"] == []
    done = api.post(f"/v1/fulfilments/{request_id}/complete", headers=auth(admin))
    assert done.status_code == 200
