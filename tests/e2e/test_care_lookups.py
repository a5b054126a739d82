"""Customer care can answer "what did this number redeem?" and "why didn't I get my bonus?"
through the API: vouchers by subscriber, status, type, batch, last four characters and serial
range; a subscriber's history in time order; their aggregates with windows and cap counts;
rewards by campaign, subscriber and time. Every list is cursor-paged; a bad filter is a 422
naming its field."""

import pytest

from helpers import auth
from tessera.domain.batches import BatchRequest
from tessera.domain.roles import Role
from tessera.services import batches
from tessera.services.tenants import create_key
from vouchering import issue, make_type

A, B = "254700000001", "254700000002"


def redeem(api, h, code, subscriber):
    answer = api.post(
        "/v1/vouchers/redeem", json={"code": code, "subscriber": subscriber}, headers=h
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def serials(page):
    return [v["serial"] for v in page["items"]]


def all_pages(api, h, path, **params):
    items, cursor = [], None
    while True:
        page = api.get(path, params={**params, **({"cursor": cursor} if cursor else {})}, headers=h)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def test_the_vouchers_a_subscriber_redeemed_are_found_by_subscriber_and_status(
    api, container, tenant, clock
):
    tenant_id, key = tenant
    h = auth(key)
    type_id = make_type(container, tenant_id)
    issued = [issue(container, tenant_id, type_id) for _ in range(4)]
    redeem(api, h, issued[0][1], A)
    clock.advance(hours=1)
    redeem(api, h, issued[1][1], A)
    redeem(api, h, issued[2][1], B)
    used = api.get("/v1/vouchers", params={"subscriber": A, "status": "used"}, headers=h).json()
    assert serials(used) == [issued[0][0].serial, issued[1][0].serial]
    assert {v["subscriber"] for v in used["items"]} == {A}
    assert used["items"][0]["code_last4"] == issued[0][0].code_last4
    assert used["items"][0]["expires_at"] is not None
    later = api.get(
        "/v1/vouchers",
        params={"subscriber": A, "since": clock.now.isoformat()},
        headers=h,
    ).json()
    assert serials(later) == [issued[1][0].serial]
    available = api.get("/v1/vouchers", params={"status": "available"}, headers=h).json()
    assert serials(available) == [issued[3][0].serial]
    nobody = api.get("/v1/vouchers", params={"subscriber": "254799999999"}, headers=h).json()
    assert nobody == {"items": [], "next_cursor": None}


def test_vouchers_are_found_by_last4_type_batch_and_serial_range_page_by_page(
    api, container, tenant, tmp_path
):
    tenant_id, key = tenant
    h = auth(key)
    batch_type, other_type = make_type(container, tenant_id), make_type(container, tenant_id)
    loose = issue(container, tenant_id, batch_type)[0]  # the type's, outside any batch
    batch = batches.create_batch(container.uow(tenant_id), BatchRequest(batch_type, 25), tmp_path)
    batches.generate_batch(container.uow(tenant_id), batch.id, container.code_secret, chunk_size=25)
    other = issue(container, tenant_id, other_type)[0]
    of_batch = all_pages(api, h, f"/v1/batches/{batch.id}/vouchers", limit=7)
    assert len(of_batch) == 25
    first, last = of_batch[0]["serial"], of_batch[-1]["serial"]
    assert [v["serial"] for v in of_batch] == list(range(first, last + 1))
    assert {v["status"] for v in of_batch} == {"pending"}
    ranged = api.get(
        f"/v1/batches/{batch.id}/vouchers",
        params={"serial_from": first + 3, "serial_to": first + 5},
        headers=h,
    ).json()
    assert serials(ranged) == [first + 3, first + 4, first + 5]
    same = all_pages(api, h, "/v1/vouchers", batch=str(batch.id), limit=10)
    assert [v["serial"] for v in same] == [v["serial"] for v in of_batch]
    of_type = all_pages(api, h, "/v1/vouchers", type=str(batch_type), limit=4)
    assert [v["serial"] for v in of_type] == sorted(
        [loose.serial, *(v["serial"] for v in of_batch)]
    )
    assert serials(api.get("/v1/vouchers", params={"type": str(other_type)}, headers=h).json()) == [
        other.serial
    ]
    pending = all_pages(api, h, "/v1/vouchers", type=str(batch_type), status="pending", limit=9)
    assert [v["serial"] for v in pending] == [v["serial"] for v in of_batch]
    target = of_batch[11]
    typed = f"{target['code_last4'][:2].lower()}-{target['code_last4'][2:]}"
    by_last4 = api.get("/v1/vouchers", params={"last4": typed}, headers=h).json()
    assert target["serial"] in serials(by_last4)
    assert {v["code_last4"] for v in by_last4["items"]} == {target["code_last4"]}


def test_a_later_status_is_found_among_many_earlier_ones(api, container, tenant):
    tenant_id, key = tenant
    h = auth(key)
    type_id = make_type(container, tenant_id)
    issued = [issue(container, tenant_id, type_id) for _ in range(6)]
    closed = issued[2][0]
    answer = api.post(f"/v1/vouchers/{closed.serial}/close", json={}, headers=h)
    assert answer.status_code == 200, answer.text
    redeem(api, h, issued[4][1], A)
    assert serials(api.get("/v1/vouchers?status=closed", headers=h).json()) == [closed.serial]
    assert serials(api.get("/v1/vouchers?status=used", headers=h).json()) == [issued[4][0].serial]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/vouchers", {"status": "spent"}, "status"),
        ("/v1/vouchers", {"type": "not-a-uuid"}, "type"),
        ("/v1/vouchers", {"batch": "7"}, "batch"),
        ("/v1/vouchers", {"last4": "12"}, "last4"),
        ("/v1/vouchers", {"last4": "12*4"}, "last4"),
        ("/v1/vouchers", {"subscriber": "x" * 65}, "subscriber"),
        ("/v1/vouchers", {"subscriber": "  "}, "subscriber"),
        ("/v1/vouchers", {"since": "yesterday"}, "since"),
        ("/v1/vouchers", {"since": "2026-11-23T10:00:00"}, "since"),
        (
            "/v1/vouchers",
            {"since": "2026-11-23T10:00:00Z", "until": "2026-11-23T09:00:00Z"},
            "until",
        ),
        ("/v1/vouchers", {"serial_from": "9", "serial_to": "3"}, "serial_to"),
        ("/v1/vouchers", {"serial_from": "0"}, "serial_from"),
        ("/v1/vouchers", {"cursor": "bm90IGEgbnVtYmVy"}, "cursor"),
        ("/v1/vouchers", {"limit": "0"}, "limit"),
        ("/v1/subscribers/254700000001/history", {"kind": "gossip"}, "kind.0"),
        ("/v1/subscribers/254700000001/history", {"until": "2026-13-01T00:00:00Z"}, "until"),
        ("/v1/subscribers/254700000001/history", {"cursor": "!!"}, "cursor"),
        ("/v1/subscribers/254700000001/aggregates", {"at": "soon"}, "at"),
        ("/v1/rewards", {"campaign": "c1"}, "campaign"),
        ("/v1/rewards", {"since": "2026-11-23"}, "since"),
        ("/v1/rewards", {"cursor": "WyJ4Il0"}, "cursor"),
    ],
)
def test_a_bad_filter_value_answers_422_naming_the_field(api, tenant, path, params, field):
    answer = api.get(path, params=params, headers=auth(tenant[1]))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"] == field, answer.json()


def test_a_batch_of_another_tenant_answers_404_like_no_batch(api, container, make_tenant, tmp_path):
    (tenant_a, _), (_, key_b) = make_tenant(), make_tenant()
    batch = batches.create_batch(
        container.uow(tenant_a), BatchRequest(make_type(container, tenant_a), 3), tmp_path
    )
    foreign = api.get(f"/v1/batches/{batch.id}/vouchers", headers=auth(key_b))
    unknown = api.get(
        "/v1/batches/01a20000-0000-7000-8000-00000000dead/vouchers", headers=auth(key_b)
    )
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["code"] == unknown.json()["code"] == "batch_not_found"


def _campaign(api, h, **extra):
    body = {
        "name": "Data bonus",
        "trigger_types": ["usage.data"],
        "condition": "agg.data_mb_month >= 1000",
        "rewards": [{"kind": "credit_bucket", "balance_type": "data_mb", "amount": 200}],
        "status": "active",
        "caps": {"per_subscriber": 1, "per_subscriber_period": "month"},
        **extra,
    }
    answer = api.post("/v1/campaigns", json=body, headers=h)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def _aggregate(api, h):
    body = {
        "name": "data_mb_month",
        "event_type": "usage.data",
        "function": "sum",
        "attribute": "mb",
        "window": "month",
    }
    answer = api.post("/v1/aggregates", json=body, headers=h)
    assert answer.status_code == 201, answer.text


def _event(api, h, event_id, subscriber, mb, at="2026-11-23T11:00:00Z"):
    event = {
        "id": event_id,
        "subscriber": subscriber,
        "type": "usage.data",
        "occurred_at": at,
        "attributes": {"mb": mb},
    }
    answer = api.post("/v1/events", json=event, headers=h)
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]


def test_a_subscribers_history_shows_redemptions_reversals_rewards_distributions_and_bars_in_order(
    api, container, tenant, clock
):
    tenant_id, key = tenant
    h = auth(key)
    type_id = make_type(container, tenant_id)
    voucher, code = issue(container, tenant_id, type_id)
    redeem(api, h, code, A)
    clock.advance(minutes=1)
    reversed_ = api.post(f"/v1/vouchers/{voucher.serial}/reverse", json={}, headers=h)
    assert reversed_.status_code == 200, reversed_.text
    clock.advance(minutes=1)
    _aggregate(api, h)
    _campaign(api, h)
    assert _event(api, h, "e1", A, 1500)["rewards"]
    clock.advance(minutes=1)
    coffee = api.post(
        "/v1/voucher-lists", json={"partner": "Java House", "name": "Coffee"}, headers=h
    ).json()
    api.post(f"/v1/voucher-lists/{coffee['id']}/codes", content=b"code\nJH-1\n", headers=h)
    given = api.post(
        "/v1/distributions", json={"list_ids": [coffee["id"]], "subscriber": A}, headers=h
    )
    assert given.status_code in (200, 201), given.text
    redeem(api, h, issue(container, tenant_id, type_id)[1], B)  # someone else's
    redeem(api, h, code, A)  # a reversed voucher is available again
    again = api.post("/v1/vouchers/redeem", json={"code": code, "subscriber": A}, headers=h)
    assert again.status_code == 409, again.text  # refused: used
    clock.advance(minutes=1)
    for _ in range(5):  # well-formed (Damm of zeros is 0), unknown: the fifth bars A
        api.post("/v1/vouchers/redeem", json={"code": "0000000000000", "subscriber": A}, headers=h)

    history = all_pages(api, h, f"/v1/subscribers/{A}/history", limit=3)
    kinds = [e["kind"] for e in history]
    for wanted in ("redemption", "reversal", "reward", "distribution", "bar"):
        assert wanted in kinds, kinds
    order = [kinds.index(k) for k in ("redemption", "reversal", "reward", "distribution", "bar")]
    assert order == sorted(order)
    assert [e["at"] for e in history] == sorted(e["at"] for e in history)
    assert [e["id"] for e in history] == sorted(e["id"] for e in history)
    assert all(e["kind"] != "redemption" or e["details"]["subscriber"] == A for e in history)
    assert "JH-1" in given.text and "JH-1" not in str(history)  # no partner code in history
    only = api.get(
        f"/v1/subscribers/{A}/history", params={"kind": ["reward", "bar"]}, headers=h
    ).json()
    assert {e["kind"] for e in only["items"]} == {"reward", "bar"}
    refused = api.get(
        f"/v1/subscribers/{A}/history", params={"kind": ["refused", "other"]}, headers=h
    ).json()["items"]
    assert [e["operation"] for e in refused if e["kind"] == "refused"] == ["voucher.redeem_refused"]
    assert {e["kind"] for e in refused} <= {"refused", "other"}
    nothing = api.get("/v1/subscribers/254799999999/history", headers=h).json()
    assert nothing == {"items": [], "next_cursor": None}


def test_aggregates_show_the_current_values_their_windows_and_the_cap_counts(api, tenant, clock):
    h = auth(tenant[1])
    _aggregate(api, h)
    campaign_id = _campaign(api, h)
    _event(api, h, "e1", A, 600)
    assert _event(api, h, "e2", A, 600)["rewards"]  # 1,200 this month: rewarded once
    assert not _event(api, h, "e3", A, 100)["rewards"]  # the cap of one a month
    seen = api.get(f"/v1/subscribers/{A}/aggregates", headers=h).json()
    (agg,) = seen["aggregates"]
    assert agg["name"] == "data_mb_month"
    assert agg["value"] == 1300
    assert agg["window_from"].startswith("2026-11-01T00:00:00")
    assert agg["window_until"].startswith("2026-12-01T00:00:00")
    assert agg["buckets"] == {"2026-11": 1300}
    (cap,) = seen["caps"]
    assert cap == {
        "campaign_id": campaign_id,
        "campaign": "Data bonus",
        "period": "2026-11",
        "count": 1,
        "per_subscriber": 1,
        "current": True,
    }
    next_month = api.get(
        f"/v1/subscribers/{A}/aggregates", params={"at": "2026-12-02T00:00:00Z"}, headers=h
    ).json()
    assert next_month["aggregates"][0]["value"] == 0
    assert next_month["caps"][0]["current"] is False
    other = api.get(f"/v1/subscribers/{B}/aggregates", headers=h).json()
    assert other["aggregates"][0]["value"] == 0 and other["caps"] == []


def test_rewards_are_found_by_campaign_subscriber_and_time_page_by_page(api, tenant, clock):
    h = auth(tenant[1])
    _aggregate(api, h)
    first = _campaign(api, h, caps={})
    second = _campaign(api, h, name="Other", condition="true", caps={})
    _event(api, h, "e1", A, 1500)  # both campaigns reward A
    clock.advance(hours=2)
    since = clock.now.isoformat()
    _event(api, h, "e2", B, 10)  # only the second rewards B
    _event(api, h, "e3", A, 10)  # both reward A again
    everything = all_pages(api, h, "/v1/rewards", limit=2)
    assert len(everything) == 5
    assert [r["rewarded_at"] for r in everything] == sorted(r["rewarded_at"] for r in everything)
    mine = all_pages(api, h, "/v1/rewards", subscriber=A, limit=1)
    assert [r["event_id"] for r in mine] == ["e1", "e1", "e3", "e3"]
    assert {r["campaign_id"] for r in all_pages(api, h, "/v1/rewards", campaign=first)} == {first}
    assert len(all_pages(api, h, "/v1/rewards", campaign=first)) == 2
    recent = all_pages(api, h, "/v1/rewards", campaign=second, since=since)
    assert [r["event_id"] for r in recent] == ["e2", "e3"]


def test_a_redemption_written_by_either_ledger_is_in_the_subscribers_history(
    api, container, tenant, store
):
    tenant_id, admin = tenant
    _k, pos = create_key(container.uow(tenant_id), "till", Role.POS)
    type_id = make_type(container, tenant_id)
    redeemed = []
    for _ in range(3):  # the first teaches the quick path the code format; the others go quick
        voucher, code = issue(container, tenant_id, type_id)
        redeem(api, auth(pos), code, A)
        redeemed.append(voucher.serial)
    quick = [
        line
        for line in api.get("/metrics").text.splitlines()
        if line.startswith('tessera_redemption_path_total{path="quick"')
    ]
    if store == "postgresql":  # the batched ledger wrote two of them
        assert quick and quick[0].endswith(" 2.0"), quick
    history = api.get(
        f"/v1/subscribers/{A}/history", params={"kind": "redemption"}, headers=auth(admin)
    ).json()
    assert [e["subject_id"] for e in history["items"]] == [str(s) for s in redeemed]
    found = api.get("/v1/vouchers", params={"subscriber": A}, headers=auth(admin)).json()
    assert serials(found) == redeemed


def test_a_type_with_more_batches_than_a_union_holds_is_still_found_in_serial_order(
    api, container, tenant, tmp_path
):
    tenant_id, key = tenant
    h = auth(key)
    type_id = make_type(container, tenant_id)
    made = []
    for _ in range(102):  # past the batch-by-batch read (100): read in serial order instead
        batch = batches.create_batch(container.uow(tenant_id), BatchRequest(type_id, 1), tmp_path)
        batches.generate_batch(
            container.uow(tenant_id), batch.id, container.code_secret, chunk_size=1
        )
        made.append(batch.id)
    loose = issue(container, tenant_id, type_id)[0]
    found = all_pages(api, h, "/v1/vouchers", type=str(type_id), limit=40)
    assert len(found) == 103
    assert [v["serial"] for v in found] == sorted(v["serial"] for v in found)
    assert found[-1]["serial"] == loose.serial
    assert {v["batch_id"] for v in found} == {str(b) for b in made} | {None}
