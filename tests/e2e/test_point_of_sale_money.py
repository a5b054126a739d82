"""Vouchers worth money over HTTP, as a point of sale uses them: the purchase goes with
validate, reserve and redeem, the answer says what the voucher takes off; a purchase in
another currency is a 422 naming the field; a retried redemption takes nothing twice."""

from __future__ import annotations

import pytest

from helpers import auth
from tessera.domain.roles import Role
from tessera.services.tenants import create_key
from vouchering import make_lifecycle


@pytest.fixture
def till(container, tenant, api):
    tid, admin = tenant
    _k, pos = create_key(container.uow(tid), "till", Role.POS)
    return tid, admin, pos, make_lifecycle(container, tid)


def _type(api, admin, lifecycle_id, value, name="gift card"):
    body = {
        "name": name,
        "cost_minor": 0,
        "currency": "EUR",
        "lifecycle_id": str(lifecycle_id),
        "purchase_value": value,
    }
    return api.post("/v1/voucher-types", json=body, headers=auth(admin))


def _code(api, admin, type_id):
    r = api.post("/v1/vouchers", json={"voucher_type_id": type_id}, headers=auth(admin))
    assert r.status_code == 201, r.text
    return r.json()["code"]


def _sale(code, amount, currency="EUR", **more):
    return {"code": code, "purchase": {"amount_minor": amount, "currency": currency}, **more}


def test_percentage_with_cap_answers_what_it_takes_off_the_purchase(api, till):
    _tid, admin, pos, lifecycle_id = till
    value = {"kind": "percentage", "basis_points": 1000, "cap_minor": 250}
    created = _type(api, admin, lifecycle_id, value)
    assert created.status_code == 201, created.text
    assert created.json()["purchase_value"] == {**value, "amount_minor": None}
    code = _code(api, admin, created.json()["id"])
    checked = api.post("/v1/vouchers/validate", json=_sale(code, 1_800), headers=auth(pos))
    assert checked.json()["taken_off"]["amount_minor"] == 180
    used = api.post(
        "/v1/vouchers/redeem", json=_sale(code, 9_000, subscriber="2547"), headers=auth(pos)
    )
    assert used.status_code == 200, used.text
    assert used.json()["taken_off"] == {
        "amount_minor": 250, "currency": "EUR", "purchase_minor": 9_000, "due_minor": 8_750,
        "left_minor": None,
    }  # fmt: skip
    assert used.json()["voucher"]["status"] == "used"


def test_currency_mismatch_answers_422_naming_the_field(api, till):
    _tid, admin, pos, lifecycle_id = till
    created = _type(api, admin, lifecycle_id, {"kind": "fixed", "amount_minor": 500})
    code = _code(api, admin, created.json()["id"])
    for path in ("validate", "reserve", "redeem"):
        sale = _sale(code, 1_000, "USD", subscriber="2547")
        r = api.post(f"/v1/vouchers/{path}", json=sale, headers=auth(pos))
        assert r.status_code == 422, (path, r.text)
        assert (r.json()["field"], r.json()["code"]) == ("purchase.currency", "currency_mismatch")
    r = api.post("/v1/vouchers/redeem", json={"code": code, "subscriber": "1"}, headers=auth(pos))
    assert r.status_code == 422 and r.json()["field"] == "purchase"


def test_a_purchase_value_that_cannot_be_answers_422_naming_the_field(api, till):
    _tid, admin, _pos, lifecycle_id = till
    r = _type(api, admin, lifecycle_id, {"kind": "percentage", "basis_points": 0})
    assert r.status_code == 422 and r.json()["field"] == "purchase_value.basis_points"
    r = _type(api, admin, lifecycle_id, {"kind": "stored_value"})
    assert r.status_code == 422 and r.json()["field"] == "purchase_value.amount_minor"


def test_retried_stored_value_use_with_the_same_key_takes_nothing_twice(api, till):
    _tid, admin, pos, lifecycle_id = till
    created = _type(api, admin, lifecycle_id, {"kind": "stored_value", "amount_minor": 1_000})
    code = _code(api, admin, created.json()["id"])
    sale = _sale(code, 300, subscriber="2547")
    headers = {**auth(pos), "Idempotency-Key": "till-7-sale-41"}
    first = api.post("/v1/vouchers/redeem", json=sale, headers=headers)
    again = api.post("/v1/vouchers/redeem", json=sale, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["taken_off"] == again.json()["taken_off"]
    assert first.json()["taken_off"]["left_minor"] == 700
    checked = api.post("/v1/vouchers/validate", json=_sale(code, 5_000), headers=auth(pos))
    assert checked.json()["taken_off"]["amount_minor"] == 700
    assert checked.json()["grants"]["value_left_minor"] == 700
    assert checked.json()["voucher"]["status"] == "available"
    serial = first.json()["voucher"]["serial"]
    read = api.get(f"/v1/vouchers/{serial}", headers=auth(admin)).json()
    assert read["value_left_minor"] == 700


def test_stored_value_uses_leave_the_quick_path_counted_by_their_reason(api, till, store):
    _tid, admin, pos, lifecycle_id = till
    stored = _type(api, admin, lifecycle_id, {"kind": "stored_value", "amount_minor": 900})
    fixed = _type(api, admin, lifecycle_id, {"kind": "fixed", "amount_minor": 100}, "coupon")
    for type_id in (fixed.json()["id"], fixed.json()["id"], stored.json()["id"]):
        code = _code(api, admin, type_id)
        r = api.post(
            "/v1/vouchers/redeem", json=_sale(code, 500, subscriber="2547"), headers=auth(pos)
        )
        assert r.status_code == 200, r.text
    metrics = api.get("/metrics").text
    declined = 'tessera_redemption_path_total{path="transactional",reason="stored_value"} 1.0'
    assert (declined in metrics) is (store == "postgresql")
