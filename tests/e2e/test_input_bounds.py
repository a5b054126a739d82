"""Numbers past what the stores and the calendar can hold answer 422 naming the field, never
a 500 (found by fuzzing the API with schemathesis)."""

import pytest

from helpers import auth

BIG = 10**19


@pytest.fixture
def admin(tenant):
    return auth(tenant[1])


@pytest.fixture
def lifecycle_id(api, admin):
    body = {"name": "lc", "validity_kind": "from_issue", "validity_days": 30}
    return api.post("/v1/lifecycles", json=body, headers=admin).json()["id"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"validity_days": BIG}, "validity_days"),
        ({"validity_days": 3_000_000}, "validity_days"),
        ({"grace_days": 99_999_999_999}, "grace_days"),
        ({"reservation_hold_seconds": 10**12}, "reservation_hold_seconds"),
        ({"retention_days": 10**9}, "retention_days"),
    ],
)
def test_lifecycle_numbers_beyond_the_calendar_are_refused(api, admin, lifecycle_id, change, field):
    answer = api.patch(f"/v1/lifecycles/{lifecycle_id}", json=change, headers=admin)
    assert answer.status_code == 422
    assert answer.json()["field"] == field


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"cost_minor": BIG}, "cost_minor"),
        ({"buckets": [{"balance_type": "data_mb", "amount": BIG}]}, "buckets[0].amount"),
        (
            {
                "buckets": [
                    {"balance_type": "data_mb", "amount": 5, "validity_days": 99_999_999_999}
                ]
            },
            "buckets[0].validity_days",
        ),
    ],
)
def test_voucher_type_amounts_beyond_64_bits_are_refused(api, admin, lifecycle_id, override, field):
    body = {
        "name": "t",
        "cost_minor": 1,
        "currency": "EUR",
        "lifecycle_id": lifecycle_id,
        **override,
    }
    answer = api.post("/v1/voucher-types", json=body, headers=admin)
    assert answer.status_code == 422
    assert answer.json()["field"] == field


def test_huge_ids_in_paths_and_amounts_answer_422_not_500(api, admin):
    api.put("/v1/subscribers/sub1", json={}, headers=admin)
    credit = api.post(
        "/v1/subscribers/sub1/wallet/credits",
        json={"balance_type": "data_mb", "amount": BIG},
        headers=admin,
    )
    assert credit.status_code == 422
    for method, path in [
        ("get", f"/v1/vouchers/{BIG}"),
        ("post", f"/v1/vouchers/{BIG}/release"),
        ("get", f"/v1/notifications/{BIG}"),
        ("post", f"/v1/notifications/{BIG}/retry"),
    ]:
        answer = api.request(method, path, json={}, headers=admin)
        assert answer.status_code == 422, (path, answer.text)
