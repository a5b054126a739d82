"""Voucher lists through the HTTP API: streamed uploads, clear refusals, roles, templates."""

import pytest

from helpers import auth


def key_with_role(api, admin_key, role):
    return api.post("/v1/keys", json={"name": role, "role": role}, headers=auth(admin_key)).json()[
        "key"
    ]


@pytest.fixture
def coffee(api, tenant):
    answer = api.post(
        "/v1/voucher-lists",
        json={"partner": "Java House", "name": "Coffee", "low_stock_percent": 50},
        headers=auth(tenant[1]),
    )
    assert answer.status_code == 201, answer.json()
    return answer.json()


def test_a_streamed_upload_answers_with_the_exact_report(api, tenant, coffee):
    def body():  # sent chunked: the server never needs the whole file at once
        yield b"code,description,expiry\n"
        for i in range(2000):
            yield f"C{i},Coffee,2027-01-31\n".encode()
        yield b"C7,again,\n,empty,\n"

    answer = api.post(
        f"/v1/voucher-lists/{coffee['id']}/codes?filename=nov.csv",
        content=body(),
        headers={**auth(tenant[1]), "Content-Type": "text/csv"},
    )
    assert answer.status_code == 200, answer.json()
    report = answer.json()
    assert (
        report["rows"],
        report["accepted"],
        report["duplicates_in_file"],
        report["invalid"],
    ) == (2002, 2000, 1, 1)
    assert report["problems"] == [
        {"line": 2002, "kind": "duplicate_in_file", "reason": "duplicate of line 9"},
        {"line": 2003, "kind": "invalid", "reason": "code is empty"},
    ]
    assert report["utilization"]["uploaded"] == 2000
    uploads = api.get(f"/v1/voucher-lists/{coffee['id']}/uploads", headers=auth(tenant[1])).json()
    assert [(u["filename"], u["accepted"]) for u in uploads["items"]] == [("nov.csv", 2000)]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"\x00\x01\x02\xff\xfe", "csv_not_text"),
        (b"voucher,value\nA,1\n", "csv_no_code_column"),
        (b"", "csv_empty"),
    ],
)
def test_a_file_that_is_not_csv_is_refused_whole_with_a_clear_error(
    api, tenant, coffee, content, code
):
    answer = api.post(
        f"/v1/voucher-lists/{coffee['id']}/codes", content=content, headers=auth(tenant[1])
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert (answer.json()["code"], answer.json()["field"]) == (code, "file")
    listed = api.get(f"/v1/voucher-lists/{coffee['id']}", headers=auth(tenant[1])).json()
    assert listed["utilization"]["uploaded"] == 0


def test_a_form_upload_is_refused_with_how_to_send_it(api, tenant, coffee):
    answer = api.post(
        f"/v1/voucher-lists/{coffee['id']}/codes",
        files={"f": ("c.csv", b"code\nA\n")},
        headers=auth(tenant[1]),
    )
    assert (answer.status_code, answer.json()["code"]) == (422, "csv_not_raw")


def test_utilization_follows_distribution_and_partner_redemptions(api, tenant, coffee):
    key = tenant[1]
    api.post(
        f"/v1/voucher-lists/{coffee['id']}/codes", content=b"code\nA\nB\nC\nD\n", headers=auth(key)
    )
    api.put("/v1/subscribers/s1", json={}, headers=auth(key))
    given = [
        api.post(
            "/v1/distributions",
            json={"list_ids": [coffee["id"]], "subscriber": subscriber},
            headers=auth(key),
        ).json()
        for subscriber in ("s1", "s2")
    ]
    assert [g["code"] for g in given] == ["A", "B"]
    pos = api.post(  # the partner's own key: bound to this list
        "/v1/keys",
        json={"name": "partner", "role": "partner", "list_ids": [coffee["id"]]},
        headers=auth(key),
    ).json()["key"]
    answer = api.post(
        f"/v1/voucher-lists/{coffee['id']}/redemptions", json={"codes": ["A"]}, headers=auth(pos)
    )
    assert answer.json()["redeemed"] == 1
    csv_answer = api.post(
        f"/v1/voucher-lists/{coffee['id']}/redemptions/csv",
        content=b"code\nB\nZZZ\n",
        headers=auth(pos),
    ).json()
    assert (csv_answer["redeemed"], csv_answer["problems"][0]["line"]) == (1, 3)
    listed = api.get(f"/v1/voucher-lists/{coffee['id']}", headers=auth(key)).json()
    assert listed["utilization"] == {
        "uploaded": 4,
        "issued": 2,
        "redeemed": 2,
        "remaining": 2,
        "issued_percent": 50.0,
    }
    assert listed["low_stock"] is True


def test_roles_limit_who_uploads_distributes_and_reports(api, tenant, coffee):
    auditor = key_with_role(api, tenant[1], "auditor")
    pos = key_with_role(api, tenant[1], "pos")
    url = f"/v1/voucher-lists/{coffee['id']}"
    assert api.get(url, headers=auth(auditor)).status_code == 200
    assert api.post(f"{url}/codes", content=b"code\nA\n", headers=auth(auditor)).status_code == 403
    assert api.post(f"{url}/codes", content=b"code\nA\n", headers=auth(pos)).status_code == 403
    assert (
        api.post(
            "/v1/distributions",
            json={"list_ids": [coffee["id"]], "subscriber": "s"},
            headers=auth(pos),
        ).status_code
        == 403
    )
    assert (
        api.post(f"{url}/redemptions", json={"codes": ["A"]}, headers=auth(auditor)).status_code
        == 403
    )


def test_another_tenants_list_looks_like_no_list(api, make_tenant, coffee):
    other = make_tenant()
    answer = api.get(f"/v1/voucher-lists/{coffee['id']}", headers=auth(other[1]))
    assert (answer.status_code, answer.json()["code"]) == (404, "list_not_found")
    upload = api.post(
        f"/v1/voucher-lists/{coffee['id']}/codes", content=b"code\nA\n", headers=auth(other[1])
    )
    assert upload.status_code == 404


def test_status_changes_and_bad_input_answer_422_naming_the_field(api, tenant, coffee):
    url = f"/v1/voucher-lists/{coffee['id']}"
    assert (
        api.patch(url, json={"status": "paused"}, headers=auth(tenant[1])).json()["status"]
        == "paused"
    )
    bad = api.patch(url, json={"status": "expired"}, headers=auth(tenant[1]))
    assert (bad.status_code, bad.json()["field"]) == (422, "status")
    bad = api.post(
        "/v1/voucher-lists",
        json={"partner": "P", "name": "X", "low_stock_percent": 0},
        headers=auth(tenant[1]),
    )
    assert (bad.status_code, bad.json()["field"]) == (422, "low_stock_percent")
    bad = api.post(
        "/v1/distributions", json={"list_ids": [], "subscriber": "s"}, headers=auth(tenant[1])
    )
    assert (bad.status_code, bad.json()["field"]) == (422, "list_ids")
    paused = api.get("/v1/voucher-lists?status=paused", headers=auth(tenant[1])).json()["items"]
    assert [x["id"] for x in paused] == [coffee["id"]]


def test_a_template_with_a_bad_tag_is_refused_with_the_line(api, tenant):
    answer = api.put(
        "/v1/templates/voucher.rewarded/en",
        json={"body": "Hello!\nYour code: {{ code }}\n{% bogus %}"},
        headers=auth(tenant[1]),
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "template_invalid"
    assert answer.json()["line"] == 3
    assert "bogus" in answer.json()["detail"]


def test_a_template_naming_a_detail_the_event_lacks_is_refused(api, tenant):
    answer = api.put(
        "/v1/templates/voucher.rewarded/en",
        json={"body": "Your {{ partner }} voucher {{ code }}\nfor {{ balance }}"},
        headers=auth(tenant[1]),
    )
    assert (answer.status_code, answer.json()["line"]) == (422, 2)
    assert "'balance' is not a detail" in answer.json()["detail"]


def test_a_good_template_is_saved_then_replaced(api, tenant):
    body = "Your {{ partner }} voucher {{ code }} is valid until {{ expiry }}"
    url = "/v1/templates/voucher.rewarded/en"
    assert api.put(url, json={"body": body}, headers=auth(tenant[1])).status_code == 201
    assert api.put(url, json={"body": body + "!"}, headers=auth(tenant[1])).status_code == 200
    assert api.get(url, headers=auth(tenant[1])).json()["body"] == body + "!"
    assert (
        api.put(
            "/v1/templates/nope.event/en", json={"body": "x"}, headers=auth(tenant[1])
        ).status_code
        == 422
    )


def test_a_line_too_long_is_one_bad_row_and_the_good_rows_are_stored(api, tenant, coffee):
    huge = "X" * (10 * 1024 * 1024)  # one line of 10 MiB, as a partner's broken export had
    content = f'code,description\nGOOD-1,fine\n{huge},broken\nGOOD-2,"two\nlines"\n'.encode()
    answer = api.post(
        f"/v1/voucher-lists/{coffee['id']}/codes", content=content, headers=auth(tenant[1])
    )
    assert answer.status_code == 200, answer.text[:500]
    report = answer.json()
    assert (report["rows"], report["accepted"], report["invalid"]) == (3, 2, 1)
    assert report["problems"] == [
        {"line": 3, "kind": "invalid", "reason": "row is longer than 65536 characters"}
    ]
    assert report["utilization"]["uploaded"] == 2
    pos = api.post(  # the partner's key, bound to this list
        "/v1/keys",
        json={"name": "partner", "role": "partner", "list_ids": [coffee["id"]]},
        headers=auth(tenant[1]),
    ).json()["key"]
    redeemed = api.post(
        f"/v1/voucher-lists/{coffee['id']}/redemptions/csv",
        content=f"code\n{huge}\nGOOD-1\n".encode(),
        headers=auth(pos),
    )
    assert redeemed.status_code == 200, redeemed.text[:500]
    assert redeemed.json()["problems"] == [
        {"line": 2, "kind": "invalid", "reason": "row is longer than 65536 characters"},
        {
            "line": 3,
            "kind": "not_issued",
            "reason": "was never given to a subscriber: not redeemable",
        },
    ]


def test_a_retried_distribution_gives_the_same_code_and_takes_none(api, tenant, coffee):
    key = tenant[1]
    api.post(f"/v1/voucher-lists/{coffee['id']}/codes", content=b"code\nA\nB\n", headers=auth(key))
    body = {"list_ids": [coffee["id"]], "subscriber": "254700000042"}  # never seen before
    headers = {**auth(key), "Idempotency-Key": "give-once-1"}
    first = api.post("/v1/distributions", json=body, headers=headers)
    assert first.status_code == 201, first.text  # the subscriber is created, as at a till
    again = api.post("/v1/distributions", json=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and again.json()["code"] == "A"
    listed = api.get(f"/v1/voucher-lists/{coffee['id']}", headers=auth(key)).json()
    assert listed["utilization"]["issued"] == 1
    other = api.post("/v1/distributions", json={**body, "subscriber": "x"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert api.get("/v1/subscribers/254700000042", headers=auth(key)).status_code == 200


def test_a_subscriber_at_the_lists_cap_is_answered_the_code_already_given(api, tenant, coffee):
    key = tenant[1]
    url = f"/v1/voucher-lists/{coffee['id']}"
    api.post(f"{url}/codes", content=b"code\nA\nB\nC\nD\n", headers=auth(key))
    assert api.get(url, headers=auth(key)).json()["codes_per_subscriber"] == 1  # the default
    body = {"list_ids": [coffee["id"]], "subscriber": "s1"}
    first = api.post("/v1/distributions", json=body, headers=auth(key))
    assert (first.status_code, first.json()["code"], first.json()["already_given"]) == (
        201,
        "A",
        False,
    )
    again = api.post("/v1/distributions", json=body, headers=auth(key))
    assert (again.status_code, again.json()["code"], again.json()["already_given"]) == (
        200,
        "A",
        True,
    )
    assert again.json()["code_id"] == first.json()["code_id"]
    assert api.get(url, headers=auth(key)).json()["utilization"]["issued"] == 1
    # A higher cap: two codes, then the second again; a replayed answer shows its code too.
    assert api.patch(url, json={"codes_per_subscriber": 2}, headers=auth(key)).status_code == 200
    second = api.post("/v1/distributions", json=body, headers=auth(key)).json()
    assert (second["code"], second["already_given"]) == ("B", False)
    headers = {**auth(key), "Idempotency-Key": "capped-1"}
    capped = api.post("/v1/distributions", json=body, headers=headers)
    replay = api.post("/v1/distributions", json=body, headers=headers)
    assert capped.status_code == replay.status_code == 200
    assert capped.json()["code"] == replay.json()["code"] == "B"
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert api.get(url, headers=auth(key)).json()["utilization"]["issued"] == 2
    refused = api.patch(url, json={"codes_per_subscriber": 0}, headers=auth(key))
    assert refused.status_code == 422 and "codes_per_subscriber" in refused.text
