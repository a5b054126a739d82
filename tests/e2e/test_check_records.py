"""An EDR for every check: each validation (usable, refused with its reason, unknown) and each
refused use leaves one, naming the key, the reason and the channel, on every path."""

from __future__ import annotations

import pytest

from helpers import auth
from tessera.domain.codes import generate_codes
from tessera.domain.roles import Role
from tessera.services.issuing import DEFAULT_FORMAT
from tessera.services.tenants import create_key
from vouchering import issue, make_type


@pytest.fixture
def till(container, tenant):
    tid, admin = tenant
    key, pos = create_key(container.uow(tid), "till", Role.POS)
    return tid, admin, pos, key.id, make_type(container, tid, validity_days=1, grace_days=0)


def records(api, admin, serial, operation=None):
    params = {"subject_type": "voucher", "subject_id": str(serial)}
    if operation:
        params["operation"] = operation
    r = api.get("/v1/edrs", params=params, headers=auth(admin))
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_every_validation_of_a_known_code_leaves_an_edr_with_its_verdict(api, container, till):
    tid, admin, pos, key_id, type_id = till
    voucher, code = issue(container, tid, type_id)
    r = api.post("/v1/vouchers/validate", json={"code": code}, headers=auth(pos))
    assert r.json()["usable"] is True
    api.post("/v1/vouchers/redeem", json={"code": code, "subscriber": "2547"}, headers=auth(pos))
    r = api.post("/v1/vouchers/validate", json={"code": code}, headers=auth(pos))
    assert r.json()["reason"] == "used"
    r = api.post(f"/v1/vouchers/{voucher.serial}/validate", json={}, headers=auth(admin))
    assert r.json()["reason"] == "used"
    checks = records(api, admin, voucher.serial, "voucher.validate")
    assert [(e["details"]["verdict"], e["details"]["channel"]) for e in checks] == [
        ("usable", "code"),
        ("used", "code"),
        ("used", "serial"),
    ]
    assert checks[0]["actor_key_id"] == str(key_id)
    assert checks[0]["status_before"] == checks[0]["status_after"] == "available"


def test_an_unknown_code_leaves_a_failed_validation_for_the_caller(api, container, till):
    tid, admin, pos, key_id, type_id = till
    issue(container, tid, type_id)  # the tenant issues in the default format
    (unknown,) = generate_codes(DEFAULT_FORMAT, 1)  # well-formed, issued to nobody
    r = api.post("/v1/vouchers/validate", json={"code": unknown}, headers=auth(pos))
    assert r.json()["reason"] == "unknown"
    params = {"operation": "voucher.validate_failed"}
    failed = api.get("/v1/edrs", params=params, headers=auth(admin)).json()["items"]
    assert failed and failed[0]["details"] == {"reason": "unknown", "channel": "code"}
    assert failed[0]["actor_key_id"] == str(key_id)


def test_a_refused_redemption_leaves_an_edr_with_its_reason_on_every_path(
    api, container, till, clock
):
    tid, admin, pos, key_id, type_id = till
    for _ in range(2):  # on PostgreSQL the second goes by the batched ledger's path
        voucher, code = issue(container, tid, type_id)
        body = {"code": code, "subscriber": "2547"}
        assert api.post("/v1/vouchers/redeem", json=body, headers=auth(pos)).status_code == 200
        again = api.post("/v1/vouchers/redeem", json=body, headers=auth(pos))
        assert again.status_code == 409 and again.json()["code"] == "illegal_transition"
        (refused,) = records(api, admin, voucher.serial, "voucher.redeem_refused")
        assert refused["details"]["reason"] == "illegal_transition"
        assert refused["details"]["channel"] == "code"
        assert refused["details"]["subscriber"] == "2547"
        assert refused["actor_key_id"] == str(key_id)
        assert refused["status_before"] == refused["status_after"] == "used"
    expiring, code = issue(container, tid, type_id)
    clock.advance(days=1, seconds=1)
    body = {"code": code, "subscriber": "2547"}
    late = api.post("/v1/vouchers/redeem", json=body, headers=auth(pos))
    assert late.status_code == 409 and late.json()["code"] == "voucher_expired"
    (refused,) = records(api, admin, expiring.serial, "voucher.redeem_refused")
    assert refused["details"]["reason"] == "voucher_expired"


def test_a_refused_operation_by_serial_is_recorded_with_its_channel(api, container, till):
    tid, admin, pos, _key_id, type_id = till
    voucher, code = issue(container, tid, type_id)
    api.post("/v1/vouchers/redeem", json={"code": code, "subscriber": "2547"}, headers=auth(pos))
    r = api.post(f"/v1/vouchers/{voucher.serial}/close", json={}, headers=auth(admin))
    assert r.status_code == 409
    (refused,) = records(api, admin, voucher.serial, "voucher.close_refused")
    assert refused["details"]["channel"] == "serial"
    assert refused["details"]["reason"] == "illegal_transition"


def test_a_refusal_after_a_write_leaves_its_record_and_none_of_the_write(api, container, till):
    # A reversal whose credit was spent had already moved the voucher back when it was
    # refused: the move is rolled back, the refusal recorded.
    tid, admin, pos, _key_id, type_id = till
    voucher, code = issue(container, tid, type_id)
    api.post("/v1/vouchers/redeem", json={"code": code, "subscriber": "2547"}, headers=auth(pos))
    spent = api.post(
        "/v1/subscribers/2547/wallet/debits",
        json={"balance_type": "data_mb", "amount": 100},
        headers=auth(admin),
    )
    assert spent.status_code in (200, 201), spent.text
    r = api.post(f"/v1/vouchers/{voucher.serial}/reverse", json={}, headers=auth(admin))
    assert r.status_code == 409 and r.json()["code"] == "credit_spent"
    assert api.get(f"/v1/vouchers/{voucher.serial}", headers=auth(admin)).json()["status"] == "used"
    (refused,) = records(api, admin, voucher.serial, "voucher.reverse_refused")
    assert refused["details"]["reason"] == "credit_spent"
    assert records(api, admin, voucher.serial, "voucher.reverse") == []


def test_a_replayed_refusal_is_recorded_once(api, container, till):
    tid, admin, pos, _key_id, type_id = till
    voucher, code = issue(container, tid, type_id)
    body = {"code": code, "subscriber": "2547"}
    api.post("/v1/vouchers/redeem", json=body, headers=auth(pos))
    headers = {**auth(pos), "Idempotency-Key": "refused-1"}
    first = api.post("/v1/vouchers/redeem", json=body, headers=headers)
    again = api.post("/v1/vouchers/redeem", json=body, headers=headers)
    assert first.status_code == again.status_code == 409
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(records(api, admin, voucher.serial, "voucher.redeem_refused")) == 1


def test_a_barred_caller_leaves_records_only_of_real_vouchers(api, container, till):
    # The wrong codes are counted towards the bar (one record each, for the caller); once
    # barred, a real code's refusal is recorded on its voucher, a guess on nothing.
    tid, admin, pos, _key_id, type_id = till
    voucher, code = issue(container, tid, type_id)
    for unknown in generate_codes(DEFAULT_FORMAT, 12):  # well past the bar's threshold
        body = {"code": unknown, "subscriber": "2547"}
        api.post("/v1/vouchers/validate", json=body, headers=auth(pos))
    failed = {"operation": "voucher.validate_failed"}
    counted = len(api.get("/v1/edrs", params=failed, headers=auth(admin)).json()["items"])
    r = api.post(
        "/v1/vouchers/redeem", json={"code": code, "subscriber": "2547"}, headers=auth(pos)
    )
    assert r.status_code == 429
    (refused,) = records(api, admin, voucher.serial, "voucher.redeem_refused")
    assert refused["details"]["reason"] == "too_many_attempts"
    (guess,) = generate_codes(DEFAULT_FORMAT, 1)
    again = api.post(
        "/v1/vouchers/redeem", json={"code": guess, "subscriber": "2547"}, headers=auth(pos)
    )
    assert again.status_code == 429
    after = len(api.get("/v1/edrs", params=failed, headers=auth(admin)).json()["items"])
    assert after == counted
