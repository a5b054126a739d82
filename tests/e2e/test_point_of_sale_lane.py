"""The common redemption by code is answered ahead of FastAPI (``point_of_sale.py``);
everything else must reach FastAPI intact and be answered exactly as before."""

from __future__ import annotations

import json

import pytest

from helpers import auth
from helpers import redemption_paths as _paths
from tessera.domain.roles import Role
from tessera.services.tenants import create_key
from vouchering import issue, make_type


@pytest.fixture
def till(container, tenant):
    tid, _admin = tenant
    _k, pos = create_key(container.uow(tid), "till", Role.POS)
    _k, auditor = create_key(container.uow(tid), "books", Role.AUDITOR)
    return tid, pos, auditor, make_type(container, tid)


def test_quick_redemptions_are_counted_under_their_route(api, container, till):
    tid, pos, _auditor, type_id = till
    for _ in range(2):  # the first teaches the quick path the tenant's code format
        _v, code = issue(container, tid, type_id)
        body = {"code": code, "subscriber": "2547"}
        r = api.post("/v1/vouchers/redeem", json=body, headers=auth(pos))
        assert r.status_code == 200 and r.json()["voucher"]["status"] == "used"
        assert r.headers["content-type"] == "application/json"
    metrics = api.get("/metrics").text
    route = 'method="POST",route="/v1/vouchers/redeem",status="200"'
    assert f"tessera_http_requests_total{{{route}}} 2.0" in metrics


def test_every_use_by_code_is_counted_by_the_path_that_wrote_it(api, container, till, store):
    tid, pos, auditor, type_id = till

    def redeem(key, **headers):
        _v, code = issue(container, tid, type_id)
        body = {"code": code, "subscriber": "2547"}
        return api.post("/v1/vouchers/redeem", json=body, headers={**auth(key), **headers})

    for _ in range(2):
        assert redeem(pos).status_code == 200
    assert redeem(pos, **{"Idempotency-Key": "k-1"}).status_code == 200
    assert redeem(auditor).status_code == 403
    paths = _paths(api)
    if store == "sqlite":  # no batched ledger: the unit of work writes every use
        assert paths == {("transactional", "no_quick_store"): 4.0}
        return
    # The first teaches this worker the tenant's code format; the second goes quick.
    assert paths[("quick", "")] == 1.0
    assert paths[("transactional", "format_unknown")] == 1.0
    assert paths[("transactional", "idempotency_key")] == 1.0
    assert paths[("transactional", "role")] == 1.0
    api.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hooks", "event_types": ["voucher.redeemed"]},
        headers=auth(_admin_of(container, tid)),
    )
    # A tenant with a webhook is served by the batched ledger too: the outbox row travels in
    # the decision and is written in the shared statement.
    assert redeem(pos).status_code == 200
    after = _paths(api)
    assert after[("quick", "")] == 2.0
    assert ("transactional", "webhooks") not in after
    with container.uow(tid) as uow:
        queued = [n.event_type for n in uow.notifications.list(None, 10).items]
    assert queued == ["voucher.redeemed"]


def _admin_of(container, tid):
    _k, admin = create_key(container.uow(tid), "admin", Role.ADMIN)
    return admin


def test_refusals_are_answered_by_the_api_as_before(api, container, till):
    tid, pos, auditor, type_id = till
    _v, code = issue(container, tid, type_id)
    body = {"code": code, "subscriber": "2547"}
    assert api.post("/v1/vouchers/redeem", json=body).status_code == 401
    wrong_key = auth("tsk_not-a-key")
    assert api.post("/v1/vouchers/redeem", json=body, headers=wrong_key).status_code == 401
    forbidden = api.post("/v1/vouchers/redeem", json=body, headers=auth(auditor))
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "forbidden"
    bad = api.post("/v1/vouchers/redeem", json={**body, "subscriber": "9" * 65}, headers=auth(pos))
    assert bad.status_code == 422 and bad.json()["field"] == "subscriber"
    as_text = api.post(
        "/v1/vouchers/redeem",
        content=json.dumps(body),
        headers={**auth(pos), "Content-Type": "text/plain"},
    )
    assert as_text.status_code == 422
    # None of these touched the voucher: it still redeems, once.
    assert api.post("/v1/vouchers/redeem", json=body, headers=auth(pos)).status_code == 200
    again = api.post("/v1/vouchers/redeem", json=body, headers=auth(pos))
    assert again.status_code == 409 and again.json()["current_status"] == "used"


def test_a_body_sent_in_pieces_reaches_the_api_whole(api, container, till):
    tid, pos, _auditor, type_id = till
    _v, code = issue(container, tid, type_id)
    padded = json.dumps({"code": code, "subscriber": "2547", "reason": "x" * 40_000}).encode()

    def pieces():
        for start in range(0, len(padded), 4096):
            yield padded[start : start + 4096]

    r = api.post(
        "/v1/vouchers/redeem",
        content=pieces(),
        headers={**auth(pos), "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["field"] == "reason"  # the whole body was read
