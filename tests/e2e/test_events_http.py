"""Events and campaigns over HTTP."""

import pytest

from helpers import auth
from tessera.entrypoints.http.events import BatchOut

T = "2026-11-23T10:00:00Z"


@pytest.fixture
def admin(tenant):
    return auth(tenant[1])


def campaign(**overrides):
    body = {
        "name": "Data lover",
        "trigger_types": ["usage.data"],
        "condition": "event.attributes.mb >= 100",
        "rewards": [
            {"kind": "credit_bucket", "balance_type": "data_mb", "amount": 500, "validity_days": 7}
        ],
        "status": "active",
        "funding_partner": "StreamCo",
        "cost_per_reward_minor": 30,
        "currency": "EUR",
    }
    return {**body, **overrides}


def test_a_batch_of_events_answers_with_the_rewards_each_caused(api, admin):
    assert api.post("/v1/campaigns", json=campaign(), headers=admin).status_code == 201
    body = {
        "events": [
            {
                "id": "a1",
                "subscriber": "254700000001",
                "type": "usage.data",
                "occurred_at": T,
                "attributes": {"mb": 150},
            },
            {
                "id": "a2",
                "subscriber": "254700000002",
                "type": "usage.data",
                "occurred_at": T,
                "attributes": {"mb": 5},
            },
            {
                "id": "a1",
                "subscriber": "254700000001",
                "type": "usage.data",
                "occurred_at": T,
                "attributes": {"mb": 150},
            },
        ]
    }
    results = api.post("/v1/events", json=body, headers=admin).json()["results"]
    assert [(r["id"], r["duplicate"], len(r["rewards"])) for r in results] == [
        ("a1", False, 1), ("a2", False, 0), ("a1", True, 0),
    ]  # fmt: skip
    assert results[0]["rewards"][0]["details"]["amount"] == 500
    single = api.post("/v1/events", json=body["events"][0], headers=admin).json()["results"]
    assert single[0]["duplicate"] is True
    wallet = api.get("/v1/subscribers/254700000001/wallet", headers=admin).json()
    assert wallet["totals"] == {"data_mb": 500}


def test_a_bad_condition_is_refused_with_line_and_column(api, admin):
    answer = api.post(
        "/v1/campaigns", json=campaign(condition="event.attributes.mb >= \n"), headers=admin
    )
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["field"] == "condition"
    assert problem["code"] == "condition_invalid"
    assert (problem["line"], problem["column"]) == (2, 1)
    unknown = api.post(
        "/v1/campaigns", json=campaign(condition="plan.tier == 'gold'"), headers=admin
    )
    assert "unknown variable 'plan'" in unknown.json()["reason"]


def test_bad_events_answer_422_naming_the_field(api, admin):
    answer = api.post(
        "/v1/events",
        json={"events": [{"id": "x", "subscriber": "s", "type": "Usage Data!", "occurred_at": T}]},
        headers=admin,
    )
    assert answer.status_code == 422
    assert answer.json()["field"] == "events[0].type"
    naive = api.post(
        "/v1/events",
        json={"id": "y", "subscriber": "s", "type": "topup", "occurred_at": "2026-11-23T10:00:00"},
        headers=admin,
    )
    assert naive.status_code == 422
    too_many = [
        {"id": str(i), "subscriber": "s", "type": "topup", "occurred_at": T} for i in range(1001)
    ]
    assert api.post("/v1/events", json={"events": too_many}, headers=admin).status_code == 422


def test_simulation_settlement_and_aggregates_over_http(api, admin):
    api.post(
        "/v1/aggregates",
        json={
            "name": "mb_day",
            "event_type": "usage.data",
            "function": "sum",
            "window": "day",
            "attribute": "mb",
        },
        headers=admin,
    )
    cid = api.post(
        "/v1/campaigns", json=campaign(status="draft", condition="agg.mb_day >= 100"), headers=admin
    ).json()["id"]
    sample = [
        {
            "id": f"s{i}",
            "subscriber": "254700000009",
            "type": "usage.data",
            "occurred_at": T,
            "attributes": {"mb": 60},
        }
        for i in range(3)
    ]
    sim = api.post(f"/v1/campaigns/{cid}/simulate", json={"events": sample}, headers=admin).json()
    assert sim["rewarded"] == 2
    assert sim["cost_minor"] == 60
    assert (
        api.get("/v1/subscribers/254700000009", headers=admin).status_code == 404
    )  # nothing happened
    api.patch(f"/v1/campaigns/{cid}", json={"status": "active"}, headers=admin)
    api.post("/v1/events", json={"events": sample}, headers=admin)
    rows = api.get(
        "/v1/settlement",
        params={
            "since": "2026-11-01T00:00:00Z",
            "until": "2026-12-01T00:00:00Z",
            "period": "month",
        },
        headers=admin,
    ).json()
    assert rows == [
        {
            "partner": "StreamCo",
            "period": "2026-11",
            "currency": "EUR",
            "events": 2,
            "events_reversed": 0,
            "rewards": 2,
            "amount_minor": 60,
            "reversed": 0,
        }
    ]
    got = api.get(f"/v1/campaigns/{cid}", headers=admin).json()
    assert (got["version"], got["rewards_issued"], got["budget_spent_minor"]) == (2, 2, 60)


def test_settlement_counts_rewarded_events_not_reward_rows_and_their_reversals(api, admin):
    bucket = {"kind": "credit_bucket", "balance_type": "data_mb", "amount": 100, "validity_days": 7}
    body = campaign(rewards=[bucket, {**bucket, "balance_type": "sms"}])
    assert api.post("/v1/campaigns", json=body, headers=admin).status_code == 201
    events = [
        {
            "id": f"e{i}",
            "subscriber": f"25470000010{i}",
            "type": "usage.data",
            "occurred_at": T,
            "attributes": {"mb": 150},
        }
        for i in range(3)
    ]
    results = api.post("/v1/events", json={"events": events}, headers=admin).json()["results"]
    assert [len(r["rewards"]) for r in results] == [2, 2, 2]
    first, second = results[0]["rewards"], results[1]["rewards"]
    for reward in [*first, second[1]]:  # all of e0's rewards, one of e1's
        answer = api.post(f"/v1/rewards/{reward['reward_id']}/reverse", json={}, headers=admin)
        assert answer.status_code == 200, answer.text
    rows = api.get(
        "/v1/settlement",
        params={
            "since": "2026-11-01T00:00:00Z",
            "until": "2026-12-01T00:00:00Z",
            "period": "month",
        },
        headers=admin,
    ).json()
    assert [(r["events"], r["events_reversed"], r["rewards"], r["reversed"]) for r in rows] == [
        (2, 1, 3, 3)
    ]  # e1 stands on its remaining reward; e0 is reversed whole
    assert rows[0]["amount_minor"] == 2 * 30  # the cost is per event (on its first reward)


def test_pos_keys_cannot_send_events(api, admin):
    key = api.post("/v1/keys", json={"name": "till", "role": "pos"}, headers=admin).json()["key"]
    answer = api.post(
        "/v1/events",
        json={"id": "z", "subscriber": "s", "type": "topup", "occurred_at": T},
        headers=auth(key),
    )
    assert answer.status_code == 403


def test_a_list_shows_its_campaigns_and_a_campaign_its_lists(api, admin):
    made = api.post(
        "/v1/voucher-lists", json={"partner": "CinemaCo", "name": "tickets"}, headers=admin
    )
    assert made.status_code == 201, made.text
    list_id = made.json()["id"]
    body = campaign(name="Movie night", rewards=[{"kind": "list_code", "list_ids": [list_id]}])
    cid = api.post("/v1/campaigns", json=body, headers=admin).json()["id"]
    api.post("/v1/campaigns", json=campaign(name="Other"), headers=admin)
    mapped = api.get(f"/v1/voucher-lists/{list_id}/campaigns", headers=admin).json()
    assert [c["id"] for c in mapped] == [cid]
    assert api.get(f"/v1/campaigns/{cid}", headers=admin).json()["rewards"][0]["list_ids"] == [
        list_id
    ]
    unknown = api.post(
        "/v1/campaigns",
        json=campaign(name="x", rewards=[{"kind": "list_code", "list_ids": [cid]}]),
        headers=admin,
    )
    assert unknown.status_code == 422
    assert unknown.json()["field"] == "rewards[0].list_ids[0]"


def test_read_only_keys_cannot_simulate_and_simulation_never_shows_a_partner_code(api, admin):
    made = api.post(
        "/v1/voucher-lists", json={"partner": "CinemaCo", "name": "tickets"}, headers=admin
    ).json()
    api.post(
        f"/v1/voucher-lists/{made['id']}/codes",
        content=b"code\nSECRET-AAA1\n",
        headers={**admin, "content-type": "text/csv"},
    )
    cid = api.post(
        "/v1/campaigns",
        json=campaign(
            status="draft",
            condition="true",
            rewards=[{"kind": "list_code", "list_ids": [made["id"]]}],
        ),
        headers=admin,
    ).json()["id"]
    auditor = api.post("/v1/keys", json={"name": "audit", "role": "auditor"}, headers=admin).json()[
        "key"
    ]
    sample = {
        "events": [
            {
                "id": "x1",
                "subscriber": "s",
                "type": "usage.data",
                "occurred_at": T,
                "attributes": {"mb": 1},
            }
        ]
    }
    assert (
        api.post(f"/v1/campaigns/{cid}/simulate", json=sample, headers=auth(auditor)).status_code
        == 403
    )
    sim = api.post(f"/v1/campaigns/{cid}/simulate", json=sample, headers=admin).json()
    assert sim["rewarded"] == 1
    assert "SECRET-AAA1" not in str(sim)


def test_the_batch_answer_written_directly_is_the_documented_shape(api, admin):
    """The answer is serialised by hand for speed: it must still parse as the schema says."""
    assert api.post("/v1/campaigns", json=campaign(), headers=admin).status_code == 201
    event = {
        "id": "shape-1",
        "subscriber": "254700000009",
        "type": "usage.data",
        "occurred_at": T,
        "attributes": {"mb": 150},
    }
    answer = api.post("/v1/events", json={"events": [event, event]}, headers=admin)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    parsed = BatchOut.model_validate_json(answer.content)
    assert parsed.model_dump(mode="json") == answer.json()
    assert [len(r.rewards) for r in parsed.results] == [1, 0]


def test_campaign_figures_are_the_same_in_the_list_the_edit_and_the_single_read(api, admin):
    cid = api.post("/v1/campaigns", json=campaign(), headers=admin).json()["id"]
    event = {"subscriber": "254700000031", "type": "usage.data", "occurred_at": T}
    events = [{**event, "id": f"fig{i}", "attributes": {"mb": 150}} for i in range(3)]
    assert api.post("/v1/events", json={"events": events}, headers=admin).status_code == 200

    def figures(answer):
        return answer["rewards_issued"], answer["budget_spent_minor"]

    single = api.get(f"/v1/campaigns/{cid}", headers=admin).json()
    listed = api.get("/v1/campaigns", headers=admin).json()["items"]
    edited = api.patch(f"/v1/campaigns/{cid}", json={"priority": 5}, headers=admin).json()
    assert figures(single) == (3, 90)
    assert [figures(c) for c in listed if c["id"] == cid] == [(3, 90)]
    assert figures(edited) == (3, 90)


def declare_data_mb_month(api, admin):
    body = {"name": "data_mb_month", "event_type": "usage.data", "function": "sum"}
    made = api.post(
        "/v1/aggregates", json={**body, "window": "month", "attribute": "mb"}, headers=admin
    )
    assert made.status_code == 201, made.text


def test_an_undeclared_aggregate_is_refused_at_save_with_line_and_column(api, admin):
    declare_data_mb_month(api, admin)
    condition = "event.attributes.mb > 1 &&\n  agg.data_mb_mnth > 1000"
    answer = api.post("/v1/campaigns", json=campaign(condition=condition), headers=admin)
    assert answer.status_code == 422
    problem = answer.json()
    assert (problem["field"], problem["code"]) == ("condition", "condition_invalid")
    assert (problem["line"], problem["column"]) == (2, 7)
    assert "unknown aggregate 'data_mb_mnth'" in problem["reason"]
    good = campaign(condition="agg.data_mb_month > 1000")
    cid = api.post("/v1/campaigns", json=good, headers=admin).json()["id"]
    edit = api.patch(
        f"/v1/campaigns/{cid}", json={"condition": "agg['data_mb_mnth'] > 1"}, headers=admin
    )
    assert edit.status_code == 422
    assert (edit.json()["line"], edit.json()["column"]) == (1, 6)
    assert api.get(f"/v1/campaigns/{cid}", headers=admin).json()["condition"] == good["condition"]


def test_a_condition_that_cannot_be_a_boolean_is_refused_at_save(api, admin):
    declare_data_mb_month(api, admin)
    for condition in ('agg.data_mb_month + "x"', "agg.data_mb_month", "'yes'"):
        answer = api.post("/v1/campaigns", json=campaign(condition=condition), headers=admin)
        assert answer.status_code == 422, condition
        assert "cannot be a boolean" in answer.json()["reason"]
        assert (answer.json()["line"], answer.json()["column"]) == (1, 1)
    # What only an event can settle is accepted: a failure then is the campaign's alone.
    for i, condition in enumerate(("event.attributes.mb + 1 > 2", "agg.data_mb_month / 0 > 1")):
        body = campaign(name=f"c{i}", condition=condition)
        assert api.post("/v1/campaigns", json=body, headers=admin).status_code == 201


def test_a_condition_failing_at_run_time_is_that_campaigns_alone(api, admin):
    failing = {
        "Gold only": "subscriber.tier == 'gold'",  # no profile attribute
        "Typed": "event.attributes.mb + 'x' == 'y'",  # a wrong type
        "Ratio": "100 / event.attributes.zero > 1",  # a division by zero
    }
    ids = {}
    for name, condition in {**failing, "Data lover": "event.attributes.mb >= 100"}.items():
        made = api.post(
            "/v1/campaigns", json=campaign(name=name, condition=condition), headers=admin
        )
        assert made.status_code == 201, made.text
        ids[name] = made.json()["id"]
    event = {"subscriber": "254700000041", "type": "usage.data", "occurred_at": T}
    events = [
        {**event, "id": "rt1", "attributes": {"mb": 150, "zero": 0}},
        {**event, "id": "rt2", "attributes": {"mb": 150, "zero": 0}},
        {**event, "id": "rt3", "attributes": {"mb": 5, "zero": 0}},
    ]
    answer = api.post("/v1/events", json={"events": events}, headers=admin)
    assert answer.status_code == 200, answer.text
    rewarded = [[r["campaign"] for r in e["rewards"]] for e in answer.json()["results"]]
    assert rewarded == [["Data lover"], ["Data lover"], []]
    listed = {c["id"]: c for c in api.get("/v1/campaigns", headers=admin).json()["items"]}
    for name, cid in ids.items():
        shown = api.get(f"/v1/campaigns/{cid}", headers=admin).json()
        failures = shown["condition_failures"]
        assert listed[cid]["condition_failures"] == failures
        if name == "Data lover":
            assert failures == {"count": 0, "last_message": None, "last_at": None, "in_a_row": 0}
            continue
        assert failures["count"] == 3, name
        assert failures["last_message"] and failures["last_at"], name
    assert "tier" in listed[ids["Gold only"]]["condition_failures"]["last_message"]
    assert "division by zero" in listed[ids["Ratio"]]["condition_failures"]["last_message"]
    again = api.post("/v1/events", json={**events[0], "id": "rt4"}, headers=admin)
    assert again.status_code == 200
    counted = api.get(f"/v1/campaigns/{ids['Typed']}", headers=admin).json()
    assert counted["condition_failures"]["count"] == 4  # added to, not overwritten
    metrics = api.get("/metrics").text
    assert "tessera_condition_failures_total 12.0" in metrics


def test_simulating_a_campaign_that_does_not_exist_is_404(api, admin, make_tenant):
    unknown = "00000000-0000-7000-8000-000000000000"
    one = {"id": "e1", "subscriber": "s1", "type": "usage.data", "occurred_at": T}
    sample = {"events": [{**one, "attributes": {"mb": 500}}]}
    for body in (sample, {"since": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"}):
        answer = api.post(f"/v1/campaigns/{unknown}/simulate", json=body, headers=admin)
        assert answer.status_code == 404
        assert answer.json()["code"] == "campaign_not_found"
    theirs = api.post("/v1/campaigns", json=campaign(), headers=admin).json()["id"]
    other = auth(make_tenant()[1])
    answer = api.post(f"/v1/campaigns/{theirs}/simulate", json=sample, headers=other)
    assert answer.status_code == 404
