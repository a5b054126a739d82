"""GET /v1/reports/revenue: per period and group, opening deferred, the moves and closing
deferred; a period's closing is the next one's opening; bad input is a 422 naming the
field; another tenant's ledger is not seen."""

from __future__ import annotations

from datetime import timedelta

from helpers import auth
from tessera.domain.statuses import Operation
from tessera.services import redemption
from vouchering import POLICY, by_serial, issue, make_type


def test_a_day_by_day_report_carries_each_closing_into_the_next_opening(
    api, container, make_tenant
):
    tid, key = make_tenant()
    other_tid, other_key = make_tenant()
    type_id = make_type(container, tid, cost=500)
    start = container.clock()
    a, _ = issue(container, tid, type_id)
    b, _ = issue(container, tid, type_id)
    issue(container, other_tid, make_type(container, other_tid, cost=900))
    container.clock.advance(days=1)
    redemption.redeem(
        container.uow(tid), container.code_secret, by_serial(a.serial, "2547"), POLICY
    )
    container.clock.advance(days=1)
    redemption.OPERATIONS[Operation.CANCEL](
        container.uow(tid), container.code_secret, by_serial(b.serial), POLICY
    )
    since = (start - timedelta(hours=1)).isoformat()
    until = (container.clock() + timedelta(hours=1)).isoformat()
    got = api.get(
        "/v1/reports/revenue",
        params={"since": since, "until": until, "period": "day", "group_by": "type"},
        headers=auth(key),
    )
    assert got.status_code == 200, got.text
    days = got.json()["periods"]
    assert len(days) == 3
    lines = [d["groups"][0] for d in days]
    assert [ln["name"] for ln in lines] == [lines[0]["name"]] * 3
    assert [(ln["opening_deferred"], ln["closing_deferred"]) for ln in lines] == [
        (0, 1000), (1000, 500), (500, 0),
    ]  # fmt: skip
    assert (lines[0]["added"], lines[1]["recognized_by_use"], lines[2]["released"]) == (
        1000, 500, 500,
    )  # fmt: skip
    assert days[0]["totals"] == [{**lines[0], "group": None, "name": None}]
    by_month = api.get(
        "/v1/reports/revenue",
        params={"since": since, "until": until, "period": "month", "group_by": "currency"},
        headers=auth(key),
    ).json()["periods"]
    assert [p["totals"][0]["closing_deferred"] for p in by_month][-1] == 0
    theirs = api.get(
        "/v1/reports/revenue", params={"since": since, "until": until}, headers=auth(other_key)
    ).json()["periods"]
    assert [g["added"] for g in theirs[0]["groups"]] == [900]


def test_bad_report_parameters_are_422_naming_the_field(api, tenant):
    _tid, key = tenant
    h = auth(key)
    base = {"since": "2026-12-01T00:00:00Z", "until": "2026-12-02T00:00:00Z"}
    for params, field in [
        ({**base, "until": "2026-11-30T00:00:00Z"}, "until"),
        ({**base, "period": "week"}, "period"),
        ({**base, "group_by": "partner"}, "group_by"),
        ({"until": base["until"]}, "since"),
        ({**base, "until": "2099-01-01T00:00:00Z"}, "until"),  # too many days
    ]:
        got = api.get("/v1/reports/revenue", params=params, headers=h)
        assert got.status_code == 422, (params, got.text)
        assert got.headers["content-type"].startswith("application/problem+json")
        assert field in got.text, got.text
