"""Lifecycles, voucher types, subscribers and EDRs over HTTP."""

import pytest

from helpers import auth

LIFECYCLE = {
    "name": "30 days",
    "validity_kind": "from_activation",
    "validity_days": 30,
    "grace_days": 7,
}


@pytest.fixture
def admin(tenant):
    return auth(tenant[1])


@pytest.fixture
def lifecycle_id(api, admin):
    return api.post("/v1/lifecycles", json=LIFECYCLE, headers=admin).json()["id"]


def type_body(lifecycle, **overrides):
    body = {
        "name": "Data 1GB",
        "cost_minor": 500,
        "currency": "EUR",
        "lifecycle_id": lifecycle,
        "buckets": [{"balance_type": "data_mb", "amount": 1024, "validity_days": 30}],
    }
    return {**body, **overrides}


def test_voucher_type_create_read_update_list(api, admin, lifecycle_id):
    created = api.post("/v1/voucher-types", json=type_body(lifecycle_id), headers=admin)
    assert created.status_code == 201
    type_id = created.json()["id"]
    assert (
        api.get(f"/v1/voucher-types/{type_id}", headers=admin).json()["buckets"][0]["amount"]
        == 1024
    )
    patched = api.patch(
        f"/v1/voucher-types/{type_id}",
        json={"active": False, "fulfilment_offer": "OFFER-9"},
        headers=admin,
    )
    assert patched.json()["active"] is False
    assert patched.json()["fulfilment_offer"] == "OFFER-9"
    assert patched.json()["cost_minor"] == 500
    listed = api.get("/v1/voucher-types", params={"active": "false"}, headers=admin).json()
    assert [t["id"] for t in listed["items"]] == [type_id]


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"currency": "EUX"}, "currency", "ISO 4217"),
        ({"cost_minor": -1}, "cost_minor", "zero or more"),
        ({"name": ""}, "name", "empty"),
        ({"lifecycle_id": "01a20000-0000-7000-8000-000000000000"}, "lifecycle_id", "no lifecycle"),
        ({"lifecycle_id": "not-a-uuid"}, "lifecycle_id", "UUID"),
        ({"buckets": [{"balance_type": "data_mb", "amount": -5}]}, "buckets[0].amount", "positive"),
        ({"cost_minor": "ten"}, "cost_minor", "integer"),
    ],
)
def test_bad_voucher_type_answers_422_naming_field_and_reason(
    api, admin, lifecycle_id, overrides, field, words
):
    answer = api.post("/v1/voucher-types", json=type_body(lifecycle_id, **overrides), headers=admin)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["field"] == field
    assert words.lower() in problem["reason"].lower()
    assert api.get("/v1/voucher-types", headers=admin).json()["items"] == []  # nothing half-written


def test_null_for_a_required_field_in_a_patch_is_refused(api, admin, lifecycle_id):
    type_id = api.post("/v1/voucher-types", json=type_body(lifecycle_id), headers=admin).json()[
        "id"
    ]
    answer = api.patch(f"/v1/voucher-types/{type_id}", json={"name": None}, headers=admin)
    assert answer.status_code == 422
    assert answer.json()["field"] == "name"


def test_duplicate_names_answer_409(api, admin, lifecycle_id):
    api.post("/v1/voucher-types", json=type_body(lifecycle_id), headers=admin)
    answer = api.post("/v1/voucher-types", json=type_body(lifecycle_id), headers=admin)
    assert answer.status_code == 409
    assert answer.json()["code"] == "name_taken"


def test_lifecycle_patch_and_validation(api, admin, lifecycle_id):
    answer = api.patch(f"/v1/lifecycles/{lifecycle_id}", json={"grace_days": 14}, headers=admin)
    assert answer.json()["grace_days"] == 14
    bad = api.post(
        "/v1/lifecycles", json={"name": "x", "validity_kind": "fixed_date"}, headers=admin
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "expires_at"
    naive = api.post(
        "/v1/lifecycles",
        json={"name": "y", "validity_kind": "fixed_date", "expires_at": "2027-01-01T00:00:00"},
        headers=admin,
    )
    assert naive.status_code == 422
    assert naive.json()["field"] == "expires_at"


def test_subscriber_upsert_wallet_and_edrs(api, admin):
    assert (
        api.put(
            "/v1/subscribers/254700000001", json={"attributes": {"tier": "gold"}}, headers=admin
        ).status_code
        == 201
    )
    assert (
        api.put(
            "/v1/subscribers/254700000001", json={"service_state": "suspended"}, headers=admin
        ).status_code
        == 200
    )
    credit = {"balance_type": "data_mb", "amount": 500, "reason": "goodwill"}
    wallet = api.post(
        "/v1/subscribers/254700000001/wallet/credits", json=credit, headers=admin
    ).json()
    assert wallet["totals"] == {"data_mb": 500}
    assert wallet["subscriber"]["attributes"] == {"tier": "gold"}
    over = api.post(
        "/v1/subscribers/254700000001/wallet/debits",
        json={"balance_type": "data_mb", "amount": 501},
        headers=admin,
    )
    assert over.status_code == 409
    assert over.json()["code"] == "insufficient_balance"
    edrs = api.get("/v1/edrs", params={"subject_id": "254700000001"}, headers=admin).json()["items"]
    assert [e["operation"] for e in edrs] == [
        "subscriber.create",
        "subscriber.update",
        "wallet.credit",
    ]
    assert edrs[-1]["amount_minor"] == 500
    assert edrs[-1]["actor_key_id"] is not None


def test_edr_pages_follow_the_cursor_to_the_end(api, admin):
    for i in range(5):
        api.put(f"/v1/subscribers/s{i}", json={}, headers=admin)
    seen, cursor = [], None
    while True:
        params = {
            "limit": 2,
            "operation": "subscriber.create",
            **({"cursor": cursor} if cursor else {}),
        }
        page = api.get("/v1/edrs", params=params, headers=admin).json()
        seen += [e["subject_id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"s{i}" for i in range(5)]
