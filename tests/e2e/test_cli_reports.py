"""`tessera report revenue|status|liability|settlement` in real processes: the same numbers as the API (JSON
is the API's answer as it is; CSV a row per group and period); bad input is a refusal."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
from test_cli import run

from helpers import auth
from tessera.services import redemption
from tessera.services.tenants import find_tenant
from vouchering import POLICY, by_serial, issue, make_type


@pytest.fixture
def env(database_url):
    return {**os.environ, "TESSERA_DATABASE_URL": database_url, "TESSERA_CODE_SECRET": "s"}


SPAN = {"since": "2026-11-01T00:00:00+00:00", "until": "2027-01-01T00:00:00+00:00"}


def test_the_revenue_and_settlement_reports_match_the_api(env, api, container):
    key = run(env, "tenant", "create", "books").stdout.strip()
    tid = find_tenant(container.directory(), "books").id
    type_id = make_type(container, tid, cost=500)
    a, _ = issue(container, tid, type_id)
    issue(container, tid, type_id)
    container.clock.advance(days=2)
    redemption.redeem(
        container.uow(tid), container.code_secret, by_serial(a.serial, "2547"), POLICY
    )
    args = ["--tenant", "books", "--since", SPAN["since"], "--until", SPAN["until"]]
    for group_by in ("type", "batch", "currency"):
        params = {**SPAN, "period": "month", "group_by": group_by}
        over_http = api.get("/v1/reports/revenue", params=params, headers=auth(key)).json()
        cli = run(env, "report", "revenue", *args, "--period", "month", "--group-by", group_by,
                  "--format", "json").stdout  # fmt: skip
        assert json.loads(cli) == over_http
    rows = list(csv.DictReader(io.StringIO(
        run(env, "report", "revenue", *args, "--format", "csv").stdout
    )))  # fmt: skip
    mine = [r for r in rows if r["group"] != "total"]
    assert sum(int(r["added"]) for r in mine) == 1000
    assert sum(int(r["recognized_by_use"]) for r in mine) == 500
    assert mine[-1]["closing_deferred"] == "500"
    table = run(env, "report", "revenue", *args).stdout
    assert "closing_deferred" in table and "500" in table
    for name in ("campaigns", "lists"):
        cli = run(env, "report", name, *args, "--period", "month", "--format", "json").stdout
        over_http = api.get(f"/v1/reports/{name}", params={**SPAN, "period": "month"},
                            headers=auth(key))  # fmt: skip
        assert json.loads(cli) == over_http.json()
    settled = run(env, "report", "settlement", *args, "--format", "json").stdout
    over_http = api.get("/v1/reports/settlement", params=SPAN, headers=auth(key)).json()
    assert json.loads(settled) == over_http


def test_a_span_that_ends_before_it_starts_is_refused_naming_until(env):
    run(env, "tenant", "create", "books2")
    done = run(env, "report", "revenue", "--tenant", "books2", "--since", "2026-12-02",
               "--until", "2026-12-01", check=False)  # fmt: skip
    assert done.returncode == 2 and "until" in done.stderr


def test_the_operational_reports_match_the_api(env, api, container):
    key = run(env, "tenant", "create", "ops").stdout.strip()
    tid = find_tenant(container.directory(), "ops").id
    type_id = make_type(container, tid, cost=500)
    a, _ = issue(container, tid, type_id)
    issue(container, tid, type_id)
    before_use = container.clock().isoformat()
    container.clock.advance(hours=1)
    redemption.redeem(
        container.uow(tid), container.code_secret, by_serial(a.serial, "2547"), POLICY
    )
    for params in ({}, {"as_of": before_use, "group_by": "batch"}):
        over_http = api.get("/v1/reports/status", params=params, headers=auth(key)).json()
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in params.items()]
        cli = run(env, "report", "status", "--tenant", "ops", *flags, "--format", "json").stdout
        drop = {} if params else {"as_of": None}  # now: the process's clock, not the test's
        assert json.loads(cli) | drop == over_http | drop
    rows = list(csv.DictReader(io.StringIO(
        run(env, "report", "status", "--tenant", "ops", "--format", "csv").stdout
    )))  # fmt: skip
    assert [(r["group"], r["available"], r["used"]) for r in rows][-1] == ("total", "1", "1")
    over_http = api.get("/v1/reports/liability", params={"as_of": before_use}, headers=auth(key))
    cli = run(env, "report", "liability", "--tenant", "ops", f"--as-of={before_use}",
              "--format", "json").stdout  # fmt: skip
    assert json.loads(cli) == over_http.json()
