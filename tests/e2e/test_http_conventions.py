"""HTTP conventions: authentication, roles, problem documents, docs, health and metrics."""

import os

import pytest

from helpers import auth


def test_health_docs_and_openapi_answer_without_a_key(api):
    assert api.get("/healthz").json() == {"status": "alive", "pid": os.getpid()}
    assert api.get("/readyz").json()["status"] == "ready"
    assert api.get("/docs").status_code == 200
    spec = api.get("/openapi.json").json()
    assert "/v1/voucher-types" in spec["paths"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer tsk_nope"}, {"Authorization": "Basic x"}]
)
def test_missing_or_unknown_key_answers_401_problem(api, headers):
    answer = api.get("/v1/voucher-types", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] in {"key_missing", "key_invalid"}


def test_revoked_key_is_refused(api, tenant):
    _, admin = tenant
    made = api.post("/v1/keys", json={"name": "books", "role": "auditor"}, headers=auth(admin))
    made = made.json()
    assert api.get("/v1/voucher-types", headers=auth(made["key"])).status_code == 200
    assert api.delete(f"/v1/keys/{made['id']}", headers=auth(admin)).json()["revoked_at"]
    assert api.get("/v1/voucher-types", headers=auth(made["key"])).status_code == 401


def test_keys_are_listed_without_their_secret(api, tenant):
    _, admin = tenant
    api.post("/v1/keys", json={"name": "auditor", "role": "auditor"}, headers=auth(admin))
    listed = api.get("/v1/keys", headers=auth(admin)).json()["items"]
    assert {k["role"] for k in listed} == {"admin", "auditor"}
    assert all("key" not in k and k["display_prefix"].startswith("tsk_") for k in listed)


@pytest.mark.parametrize(
    ("role", "method", "path", "body", "expected"),
    [
        ("auditor", "get", "/v1/voucher-types", None, 200),
        (
            "auditor",
            "post",
            "/v1/lifecycles",
            {"name": "x", "validity_kind": "from_issue", "validity_days": 1},
            403,
        ),
        ("pos", "get", "/v1/keys", None, 403),
        ("operator", "post", "/v1/keys", {"name": "x", "role": "admin"}, 403),
        (
            "operator",
            "post",
            "/v1/lifecycles",
            {"name": "x", "validity_kind": "from_issue", "validity_days": 1},
            201,
        ),
        ("pos", "put", "/v1/subscribers/254700000009", {}, 403),
    ],
)
def test_wrong_role_answers_403(api, tenant, role, method, path, body, expected):
    _, admin = tenant
    key = api.post("/v1/keys", json={"name": role, "role": role}, headers=auth(admin)).json()["key"]
    answer = api.request(method, path, json=body, headers=auth(key))
    assert answer.status_code == expected
    if expected == 403:
        assert answer.json()["code"] == "forbidden"


def test_unknown_route_and_bad_cursor_are_problems_not_500s(api, tenant):
    _, admin = tenant
    assert api.get("/v1/nothing-here", headers=auth(admin)).json()["code"] == "not_found"
    answer = api.get("/v1/lifecycles", params={"cursor": "%%%"}, headers=auth(admin))
    assert answer.status_code == 422
    assert answer.json()["field"] == "cursor"


def test_metrics_count_requests_by_route_template(api, tenant):
    _, admin = tenant
    api.get("/v1/voucher-types", headers=auth(admin))
    text = api.get("/metrics").text
    assert (
        'tessera_http_requests_total{method="GET",route="/v1/voucher-types",status="200"}' in text
    )
    assert "tessera_http_request_duration_seconds_bucket" in text


def test_every_refusal_is_documented_as_the_problem_document_it_answers(api, tenant):
    spec = api.get("/openapi.json").json()
    problem = spec["components"]["schemas"]["Problem"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # never answered
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            for status in ("4XX", "5XX"):
                content = responses[status]["content"]
                assert list(content) == ["application/problem+json"], (method, path)
    # What a refusal answers is what the schema says it answers.
    answers = [
        api.post("/v1/lifecycles", json={"name": 7}, headers=auth(tenant[1])),  # 422
        api.get("/v1/lifecycles/00000000-0000-0000-0000-000000000000", headers=auth(tenant[1])),
        api.get("/v1/lifecycles"),  # 401
        api.put("/healthz"),  # 405
    ]
    assert [a.status_code for a in answers] == [422, 404, 401, 405]
    types = {"string": str, "integer": int, "array": list}
    for answer in answers:
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert set(problem["required"]) <= set(body), body
        for name, value in body.items():
            declared = problem["properties"].get(name, {}).get("type")
            if declared:
                assert isinstance(value, types[declared]), (name, value)
