"""A host operator and its brands (issue 18 item 1): the host's admin creates, lists,
suspends and resumes brands and mints each one's first admin key; the host sees counts per
brand and never a brand's records."""

import uuid

import pytest
import sqlalchemy as sa

from helpers import auth
from tessera.adapters.db import tables as t


def _brand(api, host_key, name):
    made = api.post("/v1/brands", json={"name": name}, headers=auth(host_key))
    assert made.status_code == 201, made.text
    return made.json()


def _unique():
    return f"brand-{uuid.uuid4().hex[:8]}"


def test_a_new_brands_first_admin_key_is_shown_once_and_works_in_the_brand(api, tenant):
    _host, host_key = tenant
    brand = _brand(api, host_key, _unique())
    key = brand["admin_key"]
    assert key["role"] == "admin" and key["key"].startswith("tsk_")
    mine = api.get("/v1/keys", headers=auth(key["key"])).json()["items"]
    assert [k["id"] for k in mine] == [key["id"]] and "key" not in mine[0]
    records = api.get("/v1/edrs", headers=auth(key["key"])).json()["items"]
    assert [(e["operation"], e["subject_id"]) for e in records] == [("key.create", key["id"])]
    listed = api.get("/v1/brands", headers=auth(host_key)).json()["items"]
    assert [b["id"] for b in listed] == [brand["id"]] and "admin_key" not in listed[0]


def test_the_store_keeps_only_a_hash_of_a_brands_key(api, container, tenant):
    brand = _brand(api, tenant[1], _unique())
    with container.engine.connect() as conn:
        stored = conn.execute(sa.select(t.api_keys.c.key_hash).where(
            t.api_keys.c.id == uuid.UUID(brand["admin_key"]["id"]))).scalar_one()  # fmt: skip
    assert brand["admin_key"]["key"] not in stored and len(stored) == 64


def test_a_suspended_brands_keys_are_refused_until_it_is_resumed(api, tenant):
    _host, host_key = tenant
    brand = _brand(api, host_key, _unique())
    brand_key = auth(brand["admin_key"]["key"])
    assert api.get("/v1/lifecycles", headers=brand_key).status_code == 200
    suspended = api.post(f"/v1/brands/{brand['id']}/suspend", headers=auth(host_key))
    assert suspended.status_code == 200 and suspended.json()["suspended_at"]
    refused = api.get("/v1/lifecycles", headers=brand_key)
    assert refused.status_code == 401 and refused.json()["code"] == "tenant_suspended"
    again = api.post(f"/v1/brands/{brand['id']}/suspend", headers=auth(host_key))
    assert again.status_code == 409 and again.json()["code"] == "brand_already_suspended"
    resumed = api.post(f"/v1/brands/{brand['id']}/resume", headers=auth(host_key))
    assert resumed.status_code == 200 and resumed.json()["suspended_at"] is None
    assert api.get("/v1/lifecycles", headers=brand_key).status_code == 200


def test_a_suspended_brands_point_of_sale_is_refused(api, tenant):
    brand = _brand(api, tenant[1], _unique())
    admin = auth(brand["admin_key"]["key"])
    till = api.post("/v1/keys", json={"name": "till", "role": "pos"}, headers=admin).json()["key"]
    api.post(f"/v1/brands/{brand['id']}/suspend", headers=auth(tenant[1]))
    answer = api.post(
        "/v1/vouchers/redeem", json={"code": "1234-5678-9012", "subscriber": "2547"},
        headers=auth(till),
    )  # fmt: skip
    assert answer.status_code == 401 and answer.json()["code"] == "tenant_suspended"


def test_a_brand_cannot_host_brands(api, tenant):
    brand = _brand(api, tenant[1], _unique())
    answer = api.post(
        "/v1/brands", json={"name": _unique()}, headers=auth(brand["admin_key"]["key"])
    )
    assert answer.status_code == 409 and answer.json()["code"] == "brand_cannot_host"


def test_a_brand_name_taken_anywhere_is_refused(api, tenant):
    name = _unique()
    _brand(api, tenant[1], name)
    answer = api.post("/v1/brands", json={"name": name}, headers=auth(tenant[1]))
    assert answer.status_code == 409 and answer.json()["code"] == "tenant_exists"


@pytest.mark.parametrize("role", ["operator", "auditor", "pos"])
def test_only_a_hosts_admin_creates_and_suspends_brands(api, tenant, role):
    host_key = tenant[1]
    brand = _brand(api, host_key, _unique())
    made = api.post("/v1/keys", json={"name": role, "role": role}, headers=auth(host_key))
    other = auth(made.json()["key"])
    assert api.post("/v1/brands", json={"name": _unique()}, headers=other).status_code == 403
    assert api.post(f"/v1/brands/{brand['id']}/suspend", headers=other).status_code == 403
    reads = api.get("/v1/brands/report", headers=other).status_code
    assert reads == (200 if role in ("operator", "auditor") else 403)


def test_the_group_report_counts_each_brands_vouchers_and_redemptions(api, tenant):
    host_key = tenant[1]
    a, b = _brand(api, host_key, _unique()), _brand(api, host_key, _unique())
    admin = auth(a["admin_key"]["key"])
    lifecycle = api.post("/v1/lifecycles", json={"name": "lc", "validity_kind": "from_issue",
                                                 "validity_days": 9}, headers=admin).json()  # fmt: skip
    vtype = api.post("/v1/voucher-types", json={"name": "t", "cost_minor": 1, "currency": "EUR",
                     "lifecycle_id": lifecycle["id"]}, headers=admin).json()  # fmt: skip
    codes = [
        api.post("/v1/vouchers", json={"voucher_type_id": vtype["id"]}, headers=admin).json()[
            "code"
        ]
        for _ in range(3)
    ]
    api.post("/v1/vouchers/redeem", json={"code": codes[0], "subscriber": "2547"}, headers=admin)
    report = api.get("/v1/brands/report", headers=auth(host_key)).json()["items"]
    counts = {r["brand_id"]: (r["vouchers"], r["vouchers_used"], r["redemptions"]) for r in report}
    assert counts == {a["id"]: (3, 1, 1), b["id"]: (0, 0, 0)}
    assert set(report[0]) == {"brand_id", "name", "suspended", "vouchers", "vouchers_used",
                              "redemptions"}  # fmt: skip
