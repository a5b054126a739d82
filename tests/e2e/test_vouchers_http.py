"""The voucher API over HTTP: roles, 409s with allowed operations, idempotency, barring."""

from __future__ import annotations

import pytest

from helpers import auth
from tessera.domain.codes import generate_codes
from tessera.domain.roles import Role
from tessera.services.issuing import DEFAULT_FORMAT
from tessera.services.tenants import create_key
from vouchering import make_type


@pytest.fixture
def setup(container, tenant, api):
    tid, admin = tenant
    _k, pos = create_key(container.uow(tid), "till", Role.POS)
    type_id = make_type(container, tid)
    return tid, admin, pos, type_id


def issue(api, admin, type_id):
    r = api.post("/v1/vouchers", json={"voucher_type_id": str(type_id)}, headers=auth(admin))
    assert r.status_code == 201, r.text
    return r.json()


def test_issue_returns_the_code_once_and_pos_redeems_it(api, setup):
    _tid, admin, pos, type_id = setup
    v = issue(api, admin, type_id)
    assert len(v["code"]) == 13 and v["status"] == "available"
    assert "code" not in api.get(f"/v1/vouchers/{v['serial']}", headers=auth(admin)).json()
    # a till reads no voucher by serial: it works by code
    assert api.get(f"/v1/vouchers/{v['serial']}", headers=auth(pos)).status_code == 403
    ok = api.post("/v1/vouchers/validate", json={"code": v["code"]}, headers=auth(pos))
    assert ok.json()["usable"] and ok.json()["grants"]["buckets"][0]["amount"] == 500
    r = api.post(
        "/v1/vouchers/redeem", json={"code": v["code"], "subscriber": "2547"}, headers=auth(pos)
    )
    assert r.status_code == 200, r.text
    assert r.json()["voucher"]["status"] == "used" and r.json()["credits"][0]["amount"] == 500
    wallet = api.get("/v1/subscribers/2547/wallet", headers=auth(admin)).json()
    assert wallet["totals"] == {"data_mb": 500}


def test_illegal_operation_answers_409_with_status_and_allowed_operations(api, setup):
    _tid, admin, pos, type_id = setup
    v = issue(api, admin, type_id)
    body = {"code": v["code"], "subscriber": "2547"}
    api.post("/v1/vouchers/redeem", json=body, headers=auth(pos))
    r = api.post("/v1/vouchers/redeem", json=body, headers=auth(pos))
    assert r.status_code == 409
    assert r.json()["code"] == "illegal_transition" and r.json()["current_status"] == "used"
    assert r.json()["allowed_operations"] == []  # a till cannot reverse
    by_serial = {"subscriber": "2547"}
    r = api.post(f"/v1/vouchers/{v['serial']}/redeem", json=by_serial, headers=auth(admin))
    assert r.status_code == 409 and r.json()["allowed_operations"] == ["reverse"]


def test_a_409_offers_only_operations_the_callers_role_has_an_endpoint_for(api, setup):
    _tid, admin, pos, type_id = setup
    v = issue(api, admin, type_id)
    api.post("/v1/vouchers/reserve", json={"code": v["code"]}, headers=auth(pos))
    body = {"code": v["code"], "subscriber": "2547"}
    r = api.post("/v1/vouchers/redeem", json=body, headers=auth(pos))
    assert r.status_code == 409 and r.json()["current_status"] == "reserved"
    assert r.json()["allowed_operations"] == ["release", "confirm"]
    by_serial = {"subscriber": "2547"}
    r = api.post(f"/v1/vouchers/{v['serial']}/redeem", json=by_serial, headers=auth(admin))
    assert r.json()["allowed_operations"] == ["release", "confirm", "reissue", "cancel", "close"]


def test_issue_answers_the_expiry_a_read_shows(api, setup):
    _tid, admin, _pos, type_id = setup
    v = issue(api, admin, type_id)
    assert v["expires_at"] is not None
    read = api.get(f"/v1/vouchers/{v['serial']}", headers=auth(admin)).json()
    assert read["expires_at"] == v["expires_at"]


def test_a_reissued_voucher_shows_what_it_replaced_and_what_replaced_it(api, setup):
    _tid, admin, _pos, type_id = setup
    v = issue(api, admin, type_id)
    r = api.post(f"/v1/vouchers/{v['serial']}/reissue", json={}, headers=auth(admin))
    assert r.status_code == 200, r.text
    new_serial = r.json()["replacement"]["serial"]
    old = api.get(f"/v1/vouchers/{v['serial']}", headers=auth(admin)).json()
    new = api.get(f"/v1/vouchers/{new_serial}", headers=auth(admin)).json()
    assert (old["status"], old["replaced_by_serial"], old["replaces_serial"]) == (
        "reissued", new_serial, None,
    )  # fmt: skip
    assert (new["replaces_serial"], new["replaced_by_serial"]) == (v["serial"], None)


def test_pos_may_not_operate_by_serial(api, setup):
    _tid, admin, pos, type_id = setup
    v = issue(api, admin, type_id)
    r = api.post(f"/v1/vouchers/{v['serial']}/close", json={}, headers=auth(pos))
    assert r.status_code == 403
    r = api.post("/v1/vouchers/close", json={"code": v["code"]}, headers=auth(pos))
    assert r.status_code == 403
    r = api.post(f"/v1/vouchers/{v['serial']}/close", json={}, headers=auth(admin))
    assert r.json()["voucher"]["status"] == "closed"


def test_idempotency_key_replays_the_first_answer_and_grants_nothing_twice(api, setup):
    _tid, admin, pos, type_id = setup
    v = issue(api, admin, type_id)
    body = {"code": v["code"], "subscriber": "2547"}
    headers = {**auth(pos), "Idempotency-Key": "k-1"}
    first = api.post("/v1/vouchers/redeem", json=body, headers=headers)
    again = api.post("/v1/vouchers/redeem", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    wallet = api.get("/v1/subscribers/2547/wallet", headers=auth(admin)).json()
    assert wallet["totals"] == {"data_mb": 500}
    other = api.post("/v1/vouchers/redeem", json={**body, "subscriber": "999"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


def test_refusals_with_an_idempotency_key_are_replayed_too(api, setup):
    _tid, admin, pos, type_id = setup
    v = issue(api, admin, type_id)
    api.post(f"/v1/vouchers/{v['serial']}/cancel", json={}, headers=auth(admin))
    headers = {**auth(pos), "Idempotency-Key": "k-2"}
    body = {"code": v["code"], "subscriber": "1"}
    first = api.post("/v1/vouchers/redeem", json=body, headers=headers)
    again = api.post("/v1/vouchers/redeem", json=body, headers=headers)
    assert first.status_code == again.status_code == 409
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"


def test_reissue_over_http_returns_the_new_code_once(api, setup):
    _tid, admin, pos, type_id = setup
    v = issue(api, admin, type_id)
    r = api.post(f"/v1/vouchers/{v['serial']}/reissue", json={}, headers=auth(admin))
    out = r.json()
    assert out["voucher"]["status"] == "reissued"
    assert out["replacement"]["status"] == "available" and len(out["replacement_code"]) == 13
    old = api.post("/v1/vouchers/validate", json={"code": v["code"]}, headers=auth(pos))
    assert old.json()["reason"] == "reissued"
    new = api.post(
        "/v1/vouchers/redeem",
        json={"code": out["replacement_code"], "subscriber": "1"},
        headers=auth(pos),
    )
    assert new.status_code == 200


def test_wrong_codes_bar_their_subscriber_with_retry_after_even_for_a_correct_code(
    api, setup, container
):
    _tid, admin, pos, type_id = setup
    v = issue(api, admin, type_id)
    for unknown in generate_codes(DEFAULT_FORMAT, container.settings.bar_threshold):
        r = api.post(
            "/v1/vouchers/redeem", json={"code": unknown, "subscriber": "x"}, headers=auth(pos)
        )
        assert r.status_code == 404 and r.json()["code"] == "code_unknown"
    r = api.post(
        "/v1/vouchers/redeem", json={"code": v["code"], "subscriber": "x"}, headers=auth(pos)
    )
    assert r.status_code == 429 and r.json()["code"] == "too_many_attempts"
    assert int(r.headers["Retry-After"]) > 0


def test_validate_unknown_code_says_unknown(api, setup):
    _tid, _admin, pos, _type_id = setup
    (unknown,) = generate_codes(DEFAULT_FORMAT, 1)
    r = api.post("/v1/vouchers/validate", json={"code": unknown}, headers=auth(pos))
    assert r.status_code == 200 and r.json() == {
        "usable": False,
        "reason": "unknown",
        "voucher": None,
        "grants": None,
        "taken_off": None,
    }


def test_a_replayed_issue_does_not_show_the_code_again_and_none_is_stored(api, container, tenant):
    import sqlalchemy as sa

    from vouchering import make_type

    tenant_id, admin_key = tenant
    type_id = make_type(container, tenant_id)
    headers = {**auth(admin_key), "Idempotency-Key": "issue-once-1"}
    first = api.post("/v1/vouchers", json={"voucher_type_id": str(type_id)}, headers=headers)
    assert first.status_code == 201, first.text
    code = first.json()["code"]
    again = api.post("/v1/vouchers", json={"voucher_type_id": str(type_id)}, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["code"] is None
    assert again.json()["serial"] == first.json()["serial"]
    with container.engine.connect() as conn:
        stored = " ".join(
            str(r)
            for r in conn.execute(
                sa.text("SELECT response, request_fingerprint FROM idempotency_keys")
            )
        )
    assert code not in stored


def test_the_schema_says_a_replayed_issue_answers_its_code_as_null(api):
    """The answer of a replay is what the schema declares: the code is shown once."""
    operation = api.get("/openapi.json").json()["paths"]["/v1/vouchers"]["post"]
    created = operation["responses"]["201"]
    assert "Idempotent-Replayed" in created["headers"]
    schema = api.get("/openapi.json").json()["components"]["schemas"]["IssuedOut"]
    code = schema["properties"]["code"]
    assert {"type": "null"} in code["anyOf"]
    assert "replay" in code["description"]


def _deadlock_once(monkeypatch):
    """The first compare-and-set on a voucher fails as PostgreSQL's deadlock detector would
    fail it (the transaction rolled back); later ones run."""
    import psycopg
    import sqlalchemy as sa

    from tessera.adapters.db.repositories.vouchers import VoucherRepository

    real = VoucherRepository.transition
    failures = []

    def transition(self, *args, **kwargs):
        if not failures:
            failures.append(1)
            raise sa.exc.OperationalError("UPDATE vouchers", {}, psycopg.errors.DeadlockDetected())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(VoucherRepository, "transition", transition)
    return failures


@pytest.mark.parametrize("retry_key", [None, "deadlock-1"])
def test_a_deadlocked_operation_is_run_again_never_a_500(api, setup, monkeypatch, retry_key):
    _tid, admin, _pos, type_id = setup
    v = issue(api, admin, type_id)
    failures = _deadlock_once(monkeypatch)
    headers = {**auth(admin), **({"Idempotency-Key": retry_key} if retry_key else {})}
    body = {"subscriber": "2547"}
    answer = api.post(f"/v1/vouchers/{v['serial']}/redeem", json=body, headers=headers)
    assert failures == [1]  # the first attempt did deadlock
    assert answer.status_code == 200, answer.text
    assert answer.json()["voucher"]["status"] == "used"
    wallet = api.get("/v1/subscribers/2547/wallet", headers=auth(admin)).json()
    assert wallet["totals"] == {"data_mb": 500}  # credited once, by the attempt that ran
    assert "tessera_transactions_retried_total 1.0" in api.get("/metrics").text
