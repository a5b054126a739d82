"""Inputs no store can hold answer 422 naming the field, on both stores, and write nothing:
NUL characters anywhere (path, query, JSON body, CSV row), times UTC cannot hold, and nulls
where a partial update needs a value (found by fuzzing the API's schema)."""

import pytest

from helpers import auth

NUL = "a\u0000b"
PAST_UTC = "9999-12-31T23:59:59-14:00"  # after year 9999 once in UTC
BEFORE_UTC = "0001-01-01T00:00:00+14:00"  # before year 1 once in UTC
LIFECYCLE = {"name": "lc", "validity_kind": "from_issue", "validity_days": 30}


@pytest.fixture
def admin(tenant):
    return auth(tenant[1])


def refused(answer, field):
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["field"] == field, problem
    return problem


def string_query_parameters(api):
    """(path, parameter) for every GET route's string query parameter, from the schema."""
    found = []
    for path, item in api.get("/openapi.json").json()["paths"].items():
        if "{" in path or "get" not in item:
            continue
        for parameter in item["get"].get("parameters", []):
            schema = parameter.get("schema", {})
            kinds = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
            if parameter["in"] == "query" and "string" in kinds:
                found.append((path, parameter["name"]))
    return found


def test_a_nul_in_any_query_parameter_is_refused_naming_it(api, admin):
    parameters = string_query_parameters(api)
    assert len(parameters) >= 5  # the sweep really covers the read routes
    for path, name in parameters:
        answer = api.get(path, params={name: NUL}, headers=admin)
        problem = refused(answer, name)
        assert "NUL" in problem["reason"]


def test_a_nul_in_a_path_is_refused(api, admin):
    refused(api.get("/v1/subscribers/2547%00", headers=admin), "path")
    refused(api.put("/v1/subscribers/a%00b", json={}, headers=admin), "path")
    assert api.get("/v1/subscribers", headers=admin).json()["items"] == []


def test_a_nul_in_a_json_body_is_refused_naming_the_field_and_writes_nothing(api, admin):
    refused(api.post("/v1/lifecycles", json={**LIFECYCLE, "name": NUL}, headers=admin), "name")
    assert api.get("/v1/lifecycles", headers=admin).json()["items"] == []
    event = {
        "id": "e1", "subscriber": "s1", "type": "usage.data",
        "occurred_at": "2026-12-01T10:00:00Z", "attributes": {"plan": NUL},
    }  # fmt: skip
    answer = api.post("/v1/events", json={"events": [event]}, headers=admin)
    refused(answer, "events.0.attributes.plan")
    answer = api.put("/v1/subscribers/s2", json={"attributes": {NUL: 1}}, headers=admin)
    refused(answer, "attributes.ab")
    assert api.get("/v1/subscribers", headers=admin).json()["items"] == []


def test_an_escaped_backslash_before_u0000_is_only_text(api, admin):
    name = "\\u0000 is how JSON writes a NUL"
    answer = api.post("/v1/lifecycles", json={**LIFECYCLE, "name": name}, headers=admin)
    assert answer.status_code == 201
    assert answer.json()["name"] == name


def test_a_nul_in_a_csv_row_is_that_rows_problem(api, admin):
    vl = api.post("/v1/voucher-lists", json={"partner": "P", "name": "L"}, headers=admin).json()
    csv = "code,description,expiry\nGOOD-1,Coffee,\nBAD-1,Cof\u0000fee,\n"
    report = api.post(f"/v1/voucher-lists/{vl['id']}/codes", content=csv, headers=admin).json()
    assert (report["accepted"], report["invalid"]) == (1, 1)
    assert "NUL" in report["problems"][0]["reason"]


@pytest.mark.parametrize("moment", [PAST_UTC, BEFORE_UTC])
def test_times_utc_cannot_hold_are_refused_naming_the_field(api, admin, moment):
    body = {"name": "fixed", "validity_kind": "fixed_date", "expires_at": moment}
    refused(api.post("/v1/lifecycles", json=body, headers=admin), "expires_at")
    refused(api.get("/v1/edrs", params={"since": moment}, headers=admin), "since")
    refused(
        api.post("/v1/voucher-lists", json={"partner": "P", "name": "L", "ends_at": moment},
                 headers=admin),
        "ends_at",
    )  # fmt: skip
    api.put("/v1/subscribers/s1", json={}, headers=admin)
    credit = {"balance_type": "data_mb", "amount": 5, "expires_at": moment}
    refused(api.post("/v1/subscribers/s1/wallet/credits", json=credit, headers=admin), "expires_at")
    assert api.get("/v1/lifecycles", headers=admin).json()["items"] == []


def test_a_csv_expiry_utc_cannot_hold_is_that_rows_problem(api, admin):
    vl = api.post("/v1/voucher-lists", json={"partner": "P", "name": "L"}, headers=admin).json()
    csv = f"code,description,expiry\nA-1,x,9999-12-31\nA-2,x,{PAST_UTC}\nA-3,x,2030-01-01\n"
    report = api.post(f"/v1/voucher-lists/{vl['id']}/codes", content=csv, headers=admin).json()
    assert (report["accepted"], report["invalid"]) == (1, 2)


@pytest.fixture
def records(api, admin):
    """One record behind every PATCH route: (path, its body schema's fields)."""
    lifecycle = api.post("/v1/lifecycles", json=LIFECYCLE, headers=admin).json()
    vt = api.post(
        "/v1/voucher-types",
        json={"name": "t", "cost_minor": 1, "currency": "EUR", "lifecycle_id": lifecycle["id"]},
        headers=admin,
    ).json()
    vl = api.post("/v1/voucher-lists", json={"partner": "P", "name": "L"}, headers=admin).json()
    campaign = api.post(
        "/v1/campaigns",
        json={
            "name": "c", "trigger_types": ["usage.data"], "condition": "true",
            "rewards": [{"kind": "credit_bucket", "balance_type": "data_mb", "amount": 1}],
        },
        headers=admin,
    ).json()  # fmt: skip
    hook = api.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/h", "event_types": ["voucher.redeemed"]},
        headers=admin,
    ).json()
    return {
        f"/v1/lifecycles/{lifecycle['id']}": "LifecyclePatch",
        f"/v1/voucher-types/{vt['id']}": "VoucherTypePatch",
        f"/v1/voucher-lists/{vl['id']}": "ListPatch",
        f"/v1/campaigns/{campaign['id']}": "CampaignPatch",
        f"/v1/webhooks/{hook['id']}": "EndpointPatch",
    }


def test_a_null_in_any_partial_update_is_a_422_or_a_documented_clear(api, admin, records):
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    for path, schema in records.items():
        for field, spec in schemas[schema]["properties"].items():
            before = api.get(path, headers=admin).json()
            answer = api.patch(path, json={field: None}, headers=admin)
            assert answer.status_code in (200, 422), (path, field, answer.text)
            if answer.status_code == 422:
                assert answer.json()["field"] == field
                assert api.get(path, headers=admin).json() == before  # nothing written
            else:
                assert "clear" in spec.get("description", ""), (path, field)
