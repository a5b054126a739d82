"""Tenant B can neither read, change nor see tenant A's records: another tenant's id answers
exactly like an id that does not exist, and lists never show another tenant's rows."""

from helpers import auth

SUBSCRIBER = "254711111111"
DEAD = "01a20000-0000-7000-8000-00000000dead"


def _seed(api, key):
    h = auth(key)
    lifecycle = api.post(
        "/v1/lifecycles",
        json={"name": "lc", "validity_kind": "from_issue", "validity_days": 9},
        headers=h,
    ).json()
    vtype = api.post(
        "/v1/voucher-types",
        json={"name": "t", "cost_minor": 1, "currency": "EUR", "lifecycle_id": lifecycle["id"]},
        headers=h,
    ).json()
    api.put("/v1/subscribers/254711111111", json={"attributes": {"a": 1}}, headers=h)
    api.post(
        "/v1/subscribers/254711111111/wallet/credits",
        json={"balance_type": "sms", "amount": 3},
        headers=h,
    )
    key = api.post("/v1/keys", json={"name": "k", "role": "pos"}, headers=h).json()
    # A redeemed voucher, a reward and a batch: what customer care's lookups find.
    issued = api.post(
        "/v1/vouchers", json={"voucher_type_id": vtype["id"], "subscriber": SUBSCRIBER}, headers=h
    ).json()
    api.post(
        "/v1/vouchers/redeem", json={"code": issued["code"], "subscriber": SUBSCRIBER}, headers=h
    )
    api.post(
        "/v1/aggregates",
        json={"name": "n", "event_type": "usage.data", "function": "count", "window": "day"},
        headers=h,
    )
    campaign = api.post(
        "/v1/campaigns",
        json={
            "name": "c",
            "trigger_types": ["usage.data"],
            "condition": "agg.n >= 1",
            "rewards": [{"kind": "credit_bucket", "balance_type": "sms", "amount": 1}],
            "status": "active",
            "caps": {"per_subscriber": 5},
        },
        headers=h,
    ).json()
    event = {
        "id": "e",
        "subscriber": SUBSCRIBER,
        "type": "usage.data",
        "occurred_at": "2026-11-23T11:00:00Z",
        "attributes": {},
    }
    rewarded = api.post("/v1/events", json=event, headers=h).json()
    assert rewarded["results"][0]["rewards"], rewarded
    batch = api.post(
        "/v1/batches", json={"voucher_type_id": vtype["id"], "count": 3}, headers=h
    ).json()
    return {
        "lifecycle": lifecycle["id"],
        "type": vtype["id"],
        "key": key["id"],
        "batch": batch["id"],
        "campaign": campaign["id"],
        "serial": issued["serial"],
    }


def test_another_tenants_ids_answer_404_like_unknown_ids(api, make_tenant):
    (_, key_a), (_, key_b) = make_tenant(), make_tenant()
    a = _seed(api, key_a)
    b = auth(key_b)
    probes = [
        ("get", f"/v1/lifecycles/{a['lifecycle']}", None),
        ("patch", f"/v1/lifecycles/{a['lifecycle']}", {"grace_days": 3}),
        ("get", f"/v1/voucher-types/{a['type']}", None),
        ("patch", f"/v1/voucher-types/{a['type']}", {"active": False}),
        ("delete", f"/v1/keys/{a['key']}", None),
        ("get", "/v1/subscribers/254711111111", None),
        ("get", "/v1/subscribers/254711111111/wallet", None),
        (
            "post",
            "/v1/subscribers/254711111111/wallet/debits",
            {"balance_type": "sms", "amount": 1},
        ),
        ("get", f"/v1/batches/{a['batch']}/vouchers", None),
    ]
    for method, path, body in probes:
        foreign = api.request(method, path, json=body, headers=b)
        unknown = api.request(
            method,
            path.replace(a["lifecycle"], DEAD).replace(a["batch"], DEAD),
            json=body,
            headers=b,
        )
        assert foreign.status_code == 404, path
        assert foreign.json()["code"] == unknown.json()["code"], path
    assert (
        api.get(f"/v1/lifecycles/{a['lifecycle']}", headers=auth(key_a)).json()["grace_days"] == 0
    )


def test_lists_never_show_another_tenants_rows(api, make_tenant):
    (_, key_a), (_, key_b) = make_tenant(), make_tenant()
    a = _seed(api, key_a)
    b = auth(key_b)
    for path in ("/v1/lifecycles", "/v1/voucher-types", "/v1/subscribers"):
        assert api.get(path, headers=b).json()["items"] == [], path
    # Customer care's lookups, with A's own subscriber, type, batch, campaign and serials.
    lookups = [
        ("/v1/vouchers", {}),
        ("/v1/vouchers", {"subscriber": SUBSCRIBER}),
        ("/v1/vouchers", {"subscriber": SUBSCRIBER, "status": "used"}),
        ("/v1/vouchers", {"type": a["type"]}),
        ("/v1/vouchers", {"batch": a["batch"]}),
        ("/v1/vouchers", {"serial_from": a["serial"], "serial_to": a["serial"]}),
        (f"/v1/subscribers/{SUBSCRIBER}/history", {}),
        ("/v1/rewards", {}),
        ("/v1/rewards", {"subscriber": SUBSCRIBER}),
        ("/v1/rewards", {"campaign": a["campaign"]}),
    ]
    for path, params in lookups:
        mine = api.get(path, params=params, headers=auth(key_a)).json()["items"]
        assert mine, (path, params)  # A's own key finds them
        assert api.get(path, params=params, headers=b).json()["items"] == [], (path, params)
    seen = api.get(f"/v1/subscribers/{SUBSCRIBER}/aggregates", headers=b).json()
    assert seen["aggregates"] == [] and seen["caps"] == []
    assert api.get(f"/v1/subscribers/{SUBSCRIBER}/aggregates", headers=auth(key_a)).json()["caps"]
    keys_b = api.get("/v1/keys", headers=b).json()["items"]
    assert len(keys_b) == 1  # its own first admin key only
    edrs_b = api.get("/v1/edrs", headers=b).json()["items"]
    assert [(e["operation"], e["subject_id"]) for e in edrs_b] == [("key.create", keys_b[0]["id"])]


def test_a_type_cannot_point_at_another_tenants_lifecycle(api, make_tenant):
    (_, key_a), (_, key_b) = make_tenant(), make_tenant()
    a = _seed(api, key_a)
    answer = api.post(
        "/v1/voucher-types",
        json={"name": "t", "cost_minor": 1, "currency": "EUR", "lifecycle_id": a["lifecycle"]},
        headers=auth(key_b),
    )
    assert answer.status_code == 422
    assert answer.json()["field"] == "lifecycle_id"


SPAN = {"since": "2026-11-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"}
# Each report route, its parameters, and the rows of its answer: A's key sees A's rows, B's
# none of them.
REPORTS = [
    ("/v1/reports/revenue", {**SPAN, "period": "month"},
     lambda got: [g for p in got["periods"] for g in p["groups"]]),
    ("/v1/reports/status", {}, lambda got: got["lines"]),
    ("/v1/reports/status", {"group_by": "batch", "as_of": "2026-11-23T12:30:00Z"},
     lambda got: got["lines"]),
    ("/v1/reports/liability", {}, lambda got: got["lines"]),
    ("/v1/reports/liability", {"as_of": "2026-11-23T12:30:00Z"}, lambda got: got["lines"]),
    ("/v1/reports/settlement", SPAN, lambda got: [ln for s in got for ln in s["lines"]]),
    ("/v1/reports/campaigns", SPAN, lambda got: got),
    ("/v1/reports/lists", SPAN, lambda got: got),
]  # fmt: skip
FUNDED = {
    "name": "funded", "trigger_types": ["usage.voice"], "condition": "true",
    "rewards": [{"kind": "credit_bucket", "balance_type": "sms", "amount": 1}],
    "status": "active", "funding_partner": "P", "cost_per_reward_minor": 5, "currency": "EUR",
}  # fmt: skip


def test_reports_never_count_another_tenants_records(api, container, make_tenant):
    (_, key_a), (_, key_b) = make_tenant(), make_tenant()
    a = _seed(api, key_a)
    sold = api.post("/v1/vouchers", json={"voucher_type_id": a["type"]}, headers=auth(key_a))
    assert sold.status_code == 201, sold.text  # one sold, unused: a liability
    assert api.post("/v1/campaigns", json=FUNDED, headers=auth(key_a)).status_code == 201
    event = {"id": "v", "subscriber": SUBSCRIBER, "type": "usage.voice",
             "occurred_at": "2026-11-23T11:00:00Z", "attributes": {}}  # fmt: skip
    assert api.post("/v1/events", json=event, headers=auth(key_a)).status_code == 200
    made = api.post("/v1/voucher-lists", json={"partner": "P", "name": "L"}, headers=auth(key_a))
    api.post(f"/v1/voucher-lists/{made.json()['id']}/codes", content="code\nX-1\n",
             headers=auth(key_a))  # fmt: skip
    container.clock.advance(hours=1)  # as_of in between rewinds A's records
    for path, params, rows in REPORTS:
        mine = api.get(path, params=params, headers=auth(key_a))
        assert mine.status_code == 200, (path, mine.text)
        assert rows(mine.json()), (path, params)
        theirs = api.get(path, params=params, headers=auth(key_b))
        assert theirs.status_code == 200, (path, theirs.text)
        assert rows(theirs.json()) == [], (path, params)
    # B's close takes nothing of A's: A's reward stays on A's open statement.
    closed = api.post(
        "/v1/reports/settlement/close", json={"until": "2026-11-23T13:00:00Z"}, headers=auth(key_b)
    )
    assert closed.status_code == 201 and closed.json()["lines"] == [], closed.text
    (still_open,) = api.get("/v1/reports/settlement", params=SPAN, headers=auth(key_a)).json()
    assert still_open["status"] == "open" and still_open["lines"][0]["events"] == 1


def _group(api, make_tenant):
    """A host with brands A and B, and another host with brand C: each one's admin key."""
    import uuid

    (_, host), (_, other_host) = make_tenant(), make_tenant()

    def brand(host_key):
        name = f"brand-{uuid.uuid4().hex[:8]}"
        made = api.post("/v1/brands", json={"name": name}, headers=auth(host_key)).json()
        return made["id"], made["admin_key"]["key"]

    return host, brand(host), brand(host), other_host, brand(other_host)


def test_a_brands_id_answers_like_an_unknown_id_to_every_key_but_its_hosts(api, make_tenant):
    host, (a, key_a), (b, key_b), other_host, (c, _key_c) = _group(api, make_tenant)
    probes = [("get", "/v1/brands/{id}"), ("post", "/v1/brands/{id}/suspend"),
              ("post", "/v1/brands/{id}/resume")]  # fmt: skip
    # Brand A against B and C, brand B against A, the other host against A and B.
    for key, ids in ((key_a, (b, c)), (key_b, (a,)), (other_host, (a, b))):
        for method, template in probes:
            unknown = api.request(method, template.format(id=DEAD), headers=auth(key))
            for brand_id in ids:
                foreign = api.request(method, template.format(id=brand_id), headers=auth(key))
                assert foreign.status_code == unknown.status_code == 404, (template, foreign.text)
                assert foreign.json()["code"] == unknown.json()["code"] == "brand_not_found"
    assert api.get(f"/v1/brands/{a}", headers=auth(host)).status_code == 200


def test_a_host_sees_its_brands_counts_never_their_records(api, make_tenant):
    host, (a, key_a), (b, _key_b), other_host, (c, _key_c) = _group(api, make_tenant)
    _seed(api, key_a)
    h = auth(host)
    assert {x["id"] for x in api.get("/v1/brands", headers=h).json()["items"]} == {a, b}
    report = {r["brand_id"]: r for r in api.get("/v1/brands/report", headers=h).json()["items"]}
    assert set(report) == {a, b}  # (the seed's batch may still be generating: not counted here)
    assert (report[a]["vouchers_used"], report[a]["redemptions"]) == (1, 1)
    # The host's own keys find none of A's records: its subscribers, vouchers, keys, EDRs.
    assert api.get("/v1/subscribers", headers=h).json()["items"] == []
    assert api.get("/v1/vouchers", headers=h).json()["items"] == []
    assert api.get(f"/v1/subscribers/{SUBSCRIBER}", headers=h).status_code == 404
    assert len(api.get("/v1/keys", headers=h).json()["items"]) == 1  # its own admin key
    assert {e["operation"] for e in api.get("/v1/edrs", headers=h).json()["items"]} == {
        "key.create", "brand.create"}  # fmt: skip
    # Brands and other hosts see no brand list but their own (none).
    for key in (key_a, other_host):
        listed = {x["id"] for x in api.get("/v1/brands", headers=auth(key)).json()["items"]}
        assert listed <= {c} and a not in listed and b not in listed
        counted = api.get("/v1/brands/report", headers=auth(key)).json()["items"]
        assert {r["brand_id"] for r in counted} <= {c}


def test_only_a_shared_types_codes_are_found_across_brands(api, make_tenant):
    host, (a, key_a), (b, key_b), other_host, (_c, key_c) = _group(api, make_tenant)
    seeded = _seed(api, key_a)
    admin_a = auth(key_a)
    shared_type = api.post("/v1/voucher-types", json={"name": "market", "cost_minor": 1,
                           "currency": "EUR", "lifecycle_id": seeded["lifecycle"]},
                           headers=admin_a).json()["id"]  # fmt: skip
    put = api.put(f"/v1/voucher-types/{shared_type}/shares/{b}", headers=admin_a)
    assert put.status_code == 200, put.text

    def code(type_id):
        return api.post("/v1/vouchers", json={"voucher_type_id": type_id}, headers=admin_a).json()

    shared, own = code(shared_type), code(seeded["type"])

    def verdict(key, found):
        got = api.post("/v1/vouchers/validate", json={"code": found["code"]}, headers=auth(key))
        return got.json()["reason"]

    assert verdict(key_b, shared) == "usable"  # B may use what A shares with it...
    for key in (key_b, host, other_host, key_c):  # ...and nothing else of A's
        assert verdict(key, own) == "unknown"
    for key in (host, other_host, key_c):  # not shared with them
        assert verdict(key, shared) == "unknown"
    # B finds the shared voucher only at its point of sale: no record of A's shows anywhere.
    for key in (key_b, host):
        h = auth(key)
        assert api.get(f"/v1/vouchers/{shared['serial']}", headers=h).status_code == 404
        assert (
            api.get("/v1/vouchers", params={"type": shared_type}, headers=h).json()["items"] == []
        )
        assert api.get(f"/v1/voucher-types/{shared_type}", headers=h).status_code == 404
        assert api.get(f"/v1/voucher-types/{shared_type}/shares", headers=h).status_code == 404
        assert api.put(f"/v1/voucher-types/{shared_type}/shares/{a}", headers=h).status_code == 404
    redeemed = api.post("/v1/vouchers/redeem", json={"code": shared["code"],
                        "subscriber": SUBSCRIBER}, headers=auth(key_c))  # fmt: skip
    assert redeemed.status_code == 404 and redeemed.json()["code"] == "code_unknown"
    redeemed = api.post("/v1/vouchers/redeem", json={"code": shared["code"],
                        "subscriber": SUBSCRIBER}, headers=auth(key_b))  # fmt: skip
    assert redeemed.status_code == 200, redeemed.text
    # B's subscriber of the same number is B's own: A's stays as it was, B's is new.
    wallet_b = api.get(f"/v1/subscribers/{SUBSCRIBER}/wallet", headers=auth(key_b)).json()
    wallet_a = api.get(f"/v1/subscribers/{SUBSCRIBER}/wallet", headers=admin_a).json()
    assert wallet_b["subscriber"]["id"] != wallet_a["subscriber"]["id"]
