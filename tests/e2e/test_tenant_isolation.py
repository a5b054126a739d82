"""Tenant B can neither read, change nor see tenant A's records: another tenant's id answers
exactly like an id that does not exist, and lists never show another tenant's rows."""

from helpers import auth


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
    return {"lifecycle": lifecycle["id"], "type": vtype["id"], "key": key["id"]}


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
    ]
    for method, path, body in probes:
        foreign = api.request(method, path, json=body, headers=b)
        unknown = api.request(
            method,
            path.replace(a["lifecycle"], "01a20000-0000-7000-8000-00000000dead"),
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
    _seed(api, key_a)
    b = auth(key_b)
    for path in ("/v1/lifecycles", "/v1/voucher-types", "/v1/subscribers"):
        assert api.get(path, headers=b).json()["items"] == [], path
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
