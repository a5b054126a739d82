"""Marketplace voucher types (issue 18 item 2): a type shared by its owner with brands of
its group is validated and redeemed at a participating brand's point of sale, with that
brand's key, crediting the subscriber's wallet at the redeeming brand; the EDRs name the
issuing and the redeeming brand; a code is used once across brands."""

import uuid

import pytest

from helpers import auth, redemption_paths

SUBSCRIBER = "254722000001"


@pytest.fixture
def group(api, make_tenant):
    """A host with brands A and B (and their tills), and another host's brand C."""
    (_, host), (_, other_host) = make_tenant(), make_tenant()

    def brand(host_key):
        name = f"brand-{uuid.uuid4().hex[:8]}"
        made = api.post("/v1/brands", json={"name": name}, headers=auth(host_key)).json()
        admin = made["admin_key"]["key"]
        till = api.post("/v1/keys", json={"name": "till", "role": "pos"}, headers=auth(admin))
        return {"id": made["id"], "admin": auth(admin), "till": auth(till.json()["key"])}

    return {"host": auth(host), "a": brand(host), "b": brand(host), "c": brand(other_host)}


def _type(api, owner):
    lifecycle = api.post("/v1/lifecycles", json={"name": "lc", "validity_kind": "from_issue",
                         "validity_days": 30}, headers=owner).json()  # fmt: skip
    body = {"name": "Data 1GB", "cost_minor": 500, "currency": "EUR",
            "lifecycle_id": lifecycle["id"],
            "buckets": [{"balance_type": "data_mb", "amount": 1024}]}  # fmt: skip
    return api.post("/v1/voucher-types", json=body, headers=owner).json()["id"]


def _code(api, owner, type_id):
    return api.post("/v1/vouchers", json={"voucher_type_id": type_id}, headers=owner).json()


def _share(api, owner, type_id, brand_id):
    return api.put(f"/v1/voucher-types/{type_id}/shares/{brand_id}", headers=owner)


def _redeem(api, till, code, subscriber=SUBSCRIBER):
    return api.post("/v1/vouchers/redeem", json={"code": code, "subscriber": subscriber},
                    headers=till)  # fmt: skip


def test_a_shared_types_code_redeems_at_a_participating_brand_crediting_its_wallet(api, group):
    a, b = group["a"], group["b"]
    type_id = _type(api, a["admin"])
    assert _share(api, a["admin"], type_id, b["id"]).status_code == 200
    voucher = _code(api, a["admin"], type_id)
    used = _redeem(api, b["till"], voucher["code"])
    assert used.status_code == 200, used.text
    assert (
        used.json()["voucher"]["status"] == "used" and used.json()["credits"][0]["amount"] == 1024
    )
    wallet = api.get(f"/v1/subscribers/{SUBSCRIBER}/wallet", headers=b["admin"]).json()
    assert wallet["totals"] == {"data_mb": 1024}
    assert api.get(f"/v1/subscribers/{SUBSCRIBER}", headers=a["admin"]).status_code == 404
    seen = api.get(f"/v1/vouchers/{voucher['serial']}", headers=a["admin"]).json()
    assert seen["status"] == "used"


def test_a_marketplace_uses_records_name_the_issuing_and_the_redeeming_brand(api, group):
    a, b = group["a"], group["b"]
    type_id = _type(api, a["admin"])
    _share(api, a["admin"], type_id, b["id"])
    voucher = _code(api, a["admin"], type_id)
    assert _redeem(api, b["till"], voucher["code"]).status_code == 200
    names = {"issuing_brand": a["id"], "redeeming_brand": b["id"]}

    def uses(owner):
        got = api.get("/v1/edrs", params={"operation": "voucher.redeem"}, headers=owner).json()
        return got["items"]

    (at_b,) = uses(b["admin"])
    assert at_b["details"].items() >= {**names, "subscriber": SUBSCRIBER}.items()
    (at_a,) = uses(a["admin"])
    assert at_a["details"].items() >= names.items()
    assert "subscriber" not in at_a["details"] and "buckets" not in at_a["details"]
    revenue = api.get(
        "/v1/edrs", params={"operation": "revenue.recognized_by_use"}, headers=a["admin"]
    )
    assert [e["amount_minor"] for e in revenue.json()["items"]] == [500]
    assert api.get("/v1/edrs", params={"operation": "revenue.recognized_by_use"},
                   headers=b["admin"]).json()["items"] == []  # fmt: skip


def test_a_marketplace_code_is_used_once_across_brands(api, group):
    a, b = group["a"], group["b"]
    type_id = _type(api, a["admin"])
    _share(api, a["admin"], type_id, b["id"])
    voucher = _code(api, a["admin"], type_id)
    assert _redeem(api, b["till"], voucher["code"]).status_code == 200
    again = _redeem(api, a["admin"], voucher["code"], "254722000002")
    assert again.status_code == 409 and again.json()["code"] == "illegal_transition"
    twice = _redeem(api, b["till"], voucher["code"], "254722000003")
    assert twice.status_code == 409


def test_a_shared_code_validates_at_a_participating_brand(api, group):
    a, b = group["a"], group["b"]
    type_id = _type(api, a["admin"])
    _share(api, a["admin"], type_id, b["id"])
    voucher = _code(api, a["admin"], type_id)
    checked = api.post("/v1/vouchers/validate", json={"code": voucher["code"]}, headers=b["till"])
    assert checked.status_code == 200 and checked.json()["usable"] is True, checked.text


def test_an_unshared_code_is_unknown_at_another_brand_like_a_code_that_does_not_exist(api, group):
    a, b = group["a"], group["b"]
    type_id = _type(api, a["admin"])
    voucher = _code(api, a["admin"], type_id)
    made_up = _code(api, a["admin"], type_id)["code"]
    api.post("/v1/vouchers/close", json={"code": made_up}, headers=a["admin"])
    foreign = _redeem(api, b["till"], voucher["code"])
    assert foreign.status_code == 404 and foreign.json()["code"] == "code_unknown"
    checked = api.post("/v1/vouchers/validate", json={"code": voucher["code"]}, headers=b["till"])
    assert checked.json()["reason"] == "unknown"
    _share(api, a["admin"], type_id, b["id"])
    assert api.delete(f"/v1/voucher-types/{type_id}/shares/{b['id']}",
                      headers=a["admin"]).status_code == 204  # fmt: skip
    assert _redeem(api, b["till"], voucher["code"]).status_code == 404


def test_only_validate_and_redeem_reach_a_shared_code_at_another_brand(api, group):
    a, b = group["a"], group["b"]
    type_id = _type(api, a["admin"])
    _share(api, a["admin"], type_id, b["id"])
    voucher = _code(api, a["admin"], type_id)
    for operation in ("reserve", "cancel", "close", "reverse", "reissue"):
        answer = api.post(f"/v1/vouchers/{operation}", json={"code": voucher["code"],
                          "subscriber": SUBSCRIBER}, headers=b["admin"])  # fmt: skip
        assert answer.status_code == 404, (operation, answer.text)
    assert api.get(f"/v1/vouchers/{voucher['serial']}", headers=b["admin"]).status_code == 404


def test_a_type_is_shared_only_within_its_group(api, group):
    a, c = group["a"], group["c"]
    type_id = _type(api, a["admin"])
    outside = _share(api, a["admin"], type_id, c["id"])
    unknown = _share(api, a["admin"], type_id, str(uuid.uuid4()))
    assert outside.status_code == unknown.status_code == 404
    assert outside.json()["code"] == unknown.json()["code"] == "brand_not_found"
    foreign_type = _share(api, group["b"]["admin"], type_id, a["id"])
    assert foreign_type.status_code == 404  # B cannot share A's type
    host_id = api.get("/v1/keys", headers=group["host"]).json()  # the host shares too
    assert host_id["items"]
    assert api.get(f"/v1/voucher-types/{type_id}/shares", headers=a["admin"]).json()["items"] == []


def test_a_host_shares_its_type_with_its_brands(api, group):
    host, a, b = group["host"], group["a"], group["b"]
    type_id = _type(api, host)
    for brand in (a, b):
        assert _share(api, host, type_id, brand["id"]).status_code == 200
    listed = api.get(f"/v1/voucher-types/{type_id}/shares", headers=host).json()["items"]
    assert {s["brand_id"] for s in listed} == {a["id"], b["id"]}
    first, second = _code(api, host, type_id), _code(api, host, type_id)
    assert _redeem(api, a["till"], first["code"]).status_code == 200
    assert _redeem(api, b["till"], second["code"]).status_code == 200
    report = {r["brand_id"]: r for r in api.get("/v1/brands/report", headers=host).json()["items"]}
    assert report[a["id"]]["redemptions"] == report[b["id"]]["redemptions"] == 1


def test_a_type_with_a_fulfilment_offer_cannot_be_shared(api, group):
    a, b = group["a"], group["b"]
    lifecycle = api.post("/v1/lifecycles", json={"name": "lc", "validity_kind": "from_issue",
                         "validity_days": 30}, headers=a["admin"]).json()  # fmt: skip
    offer = api.post("/v1/voucher-types", json={"name": "Bundle", "cost_minor": 1,
                     "currency": "EUR", "lifecycle_id": lifecycle["id"],
                     "fulfilment_offer": "B-5GB"}, headers=a["admin"]).json()  # fmt: skip
    answer = _share(api, a["admin"], offer["id"], b["id"])
    assert answer.status_code == 409 and answer.json()["code"] == "shared_type_has_offer"


def test_the_issuer_cannot_reverse_a_use_made_at_another_brand(api, group):
    a, b = group["a"], group["b"]
    type_id = _type(api, a["admin"])
    _share(api, a["admin"], type_id, b["id"])
    voucher = _code(api, a["admin"], type_id)
    _redeem(api, b["till"], voucher["code"])
    answer = api.post("/v1/vouchers/reverse", json={"code": voucher["code"]}, headers=a["admin"])
    assert answer.status_code == 409 and answer.json()["code"] == "marketplace_use_not_reversible"


def test_the_batched_path_writes_a_marketplace_use_with_both_brands_records(api, group, store):
    a, b = group["a"], group["b"]
    type_id = _type(api, a["admin"])
    _share(api, a["admin"], type_id, b["id"])
    serials = []
    for n in range(3):  # the first teaches the worker the format; the next go to the lane
        voucher = _code(api, a["admin"], type_id)
        used = _redeem(api, b["till"], voucher["code"], f"2547{n}")
        assert used.status_code == 200, used.text
        serials.append(str(voucher["serial"]))
    paths = redemption_paths(api)
    if store == "sqlite":
        assert paths == {("transactional", "no_quick_store"): 3.0}
    else:
        assert paths == {("quick", ""): 2.0, ("transactional", "format_unknown"): 1.0}

    def uses(owner):
        got = api.get("/v1/edrs", params={"operation": "voucher.redeem"}, headers=owner).json()
        return {e["subject_id"]: e["details"] for e in got["items"]}

    at_a, at_b = uses(a["admin"]), uses(b["admin"])
    assert set(at_a) == set(at_b) == set(serials)
    for serial in serials:
        assert at_a[serial]["redeeming_brand"] == at_b[serial]["redeeming_brand"] == b["id"]
        assert "subscriber" not in at_a[serial] and at_b[serial]["subscriber"].startswith("2547")
    wallet = api.get("/v1/subscribers/25471/wallet", headers=b["admin"]).json()
    assert wallet["totals"] == {"data_mb": 1024}
    revenue = api.get("/v1/edrs", params={"operation": "revenue.recognized_by_use"},
                      headers=a["admin"]).json()["items"]  # fmt: skip
    assert len(revenue) == 3
    with_b = api.get("/v1/vouchers", params={"type": type_id}, headers=a["admin"]).json()
    assert all(v["status"] == "used" for v in with_b["items"])


SPAN = {"since": "2026-11-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"}


def test_each_cross_brand_use_is_a_settlement_line_the_issuer_owes_the_redeeming_brand(api, group):
    a, b, host = group["a"], group["b"], group["host"]
    type_id = _type(api, a["admin"])
    _share(api, a["admin"], type_id, b["id"])
    for n in range(2):
        _redeem(api, b["till"], _code(api, a["admin"], type_id)["code"], f"25473{n}")
    _redeem(api, a["admin"], _code(api, a["admin"], type_id)["code"])  # its own: no line

    def settlement(owner):
        got = api.get("/v1/marketplace/settlement", params=SPAN, headers=owner)
        assert got.status_code == 200, got.text
        return got.json()

    at_a, at_b = settlement(a["admin"]), settlement(b["admin"])
    assert [(x["side"], x["counterparty"], x["amount_minor"]) for x in at_a["lines"]] == [
        ("issuer", b["id"], 500)] * 2  # fmt: skip
    assert [(x["side"], x["counterparty"]) for x in at_b["lines"]] == [("redeemer", a["id"])] * 2
    assert at_a["balances"] == [{"counterparty": b["id"], "currency": "EUR", "uses": 2,
                                 "net_minor": -1000}]  # fmt: skip
    assert at_b["balances"][0]["net_minor"] == 1000
    flows = api.get("/v1/brands/settlement", params=SPAN, headers=host).json()["items"]
    assert flows == [{"issuing_brand": a["id"], "redeeming_brand": b["id"], "currency": "EUR",
                      "uses": 2, "amount_minor": 1000}]  # fmt: skip


def test_settlement_lines_are_seen_only_by_the_two_brands_and_their_host(api, group, make_tenant):
    a, b, c = group["a"], group["b"], group["c"]
    type_id = _type(api, a["admin"])
    _share(api, a["admin"], type_id, b["id"])
    _redeem(api, b["till"], _code(api, a["admin"], type_id)["code"])
    _, stranger = make_tenant()
    for key in (c["admin"], auth(stranger)):
        mine = api.get("/v1/marketplace/settlement", params=SPAN, headers=key).json()
        assert mine["lines"] == [] and mine["balances"] == []
        flows = api.get("/v1/brands/settlement", params=SPAN, headers=key).json()["items"]
        assert flows == []
    brand_view = api.get("/v1/brands/settlement", params=SPAN, headers=b["admin"]).json()
    assert brand_view["items"] == []  # a brand hosts no group


def test_a_settlement_span_ending_before_it_starts_is_refused_naming_until(api, group):
    bad = {"since": "2026-12-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}
    answer = api.get("/v1/marketplace/settlement", params=bad, headers=group["a"]["admin"])
    assert answer.status_code == 422 and answer.json()["field"] == "until"
