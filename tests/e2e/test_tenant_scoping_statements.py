"""Every SQL statement on a tenant-owned table binds the caller's tenant (issue 12 item 4).

The same walk over the API (every operation of the OpenAPI schema but a short, commented
list) runs first for tenant B, so that B owns a row of every kind, then for tenant A while
every statement is captured: SQLAlchemy's through ``before_cursor_execute`` on the engine,
and on PostgreSQL the batched ledger's asyncpg statements (``quick_use.QuickUses``). Each
statement that names a table with a ``tenant_id`` column must carry A's id among its bound
values and never B's, unless it stands in ``ABOVE_TENANCY`` below, with the reason."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from helpers import auth
from tessera.adapters.db import tables as t
from tessera.domain.codes import generate_codes
from tessera.entrypoints import console
from tessera.entrypoints.console.web import SIGN_IN_COOKIE
from tessera.services.issuing import DEFAULT_FORMAT

TENANT_TABLES = frozenset(
    table.name for table in t.metadata.sorted_tables if "tenant_id" in table.c
)
_NAMES = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+\"?(\w+)\"?", re.IGNORECASE)

# Statements that name a tenant-owned table without binding a tenant, each for a reason,
# and the stores they are seen on (the test checks each is still needed there).
ABOVE_TENANCY: dict[str, tuple[set[str], re.Pattern[str]]] = {
    # A request's key is looked up by its hash before anyone knows the tenant: the key is what
    # says which tenant the caller is (repositories/tenants.py, TenantDirectory).
    "key lookup": (
        {"sqlite", "postgresql"},
        re.compile(r"FROM api_keys\b.*\bkey_hash\b", re.IGNORECASE | re.DOTALL),
    ),
    # The console signs in with a key: after its hash named the key, the key is read again by
    # its id in the same transaction (TenantDirectory.key_of), to refuse one revoked between.
    "key by id": (
        {"sqlite", "postgresql"},
        re.compile(r"FROM api_keys JOIN tenants ON [^W]*WHERE api_keys\.id = ", re.IGNORECASE),
    ),
    # A console session is found by its token's hash, as a key by its own (ConsoleSessions).
    "session lookup": (
        {"sqlite", "postgresql"},
        re.compile(r"FROM console_sessions JOIN api_keys .*\btoken_hash = ", re.DOTALL),
    ),
    # Each sign-in deletes every tenant's lapsed console sessions (ConsoleSessions.end_expired):
    # rows past their end, read by no one. (A purge job's work, rather; left as it is.)
    "lapsed sessions": (
        {"sqlite", "postgresql"},
        re.compile(r"^DELETE FROM console_sessions WHERE console_sessions\.expires_at <="),
    ),
    # New buckets' ids are drawn before they are written. SQLite has no sequence: the ids go on
    # after the largest of any tenant (an id, no row, is read; PostgreSQL draws nextval).
    "bucket ids": ({"sqlite"}, re.compile(r"^SELECT max\(buckets\.id\)")),
}

# Operations the walk leaves out, and why.
NOT_WALKED = {
    "GET /healthz": "no tenant",
    "GET /readyz": "no tenant",
}


@dataclass
class Statement:
    sql: str
    values: list[Any]

    @property
    def tables(self) -> set[str]:
        return {name.lower() for name in _NAMES.findall(self.sql)} & TENANT_TABLES


def _flat(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _flat(v)
    elif isinstance(value, list | tuple | set | frozenset):
        for v in value:
            yield from _flat(v)
    else:
        yield value


def _binds(statement: Statement, tenant: uuid.UUID) -> bool:
    forms = {tenant, str(tenant), tenant.hex}
    return any(isinstance(v, uuid.UUID | str) and (v in forms) for v in _flat(statement.values))


@dataclass
class Capture:
    statements: list[Statement] = field(default_factory=list)
    on: bool = False

    def add(self, sql: str, values: Any) -> None:
        if self.on:
            self.statements.append(Statement(sql, [values]))


@pytest.fixture
def capture(container: Any) -> Iterator[Capture]:
    found = Capture()

    def before(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        found.add(sql, params)

    sa.event.listen(container.engine, "before_cursor_execute", before)
    yield found
    sa.event.remove(container.engine, "before_cursor_execute", before)


def _spy_on_batched_ledger(container: Any, capture: Capture) -> None:
    """The asyncpg statements of the batched ledger (PostgreSQL), as sent."""
    quick = container.quick_uses
    if quick is None:
        return
    for held in (quick.readers, quick.writers):
        fetch = held.fetch

        async def spied(sql: str, *args: Any, _fetch: Callable[..., Any] = fetch) -> Any:
            capture.add(sql, list(args))
            return await _fetch(sql, *args)

        held.fetch = spied


@dataclass
class Walk:
    api: Any
    admin: dict[str, str]
    hit: set[str] = field(default_factory=set)

    def __call__(
        self, method: str, template: str, *, ok: tuple[int, ...] = (200, 201, 202), **kw: Any
    ) -> Any:
        path_params = {k: kw.pop(k) for k in list(kw) if "{" + k + "}" in template}
        headers = kw.pop("headers", self.admin)
        answer = self.api.request(method, template.format(**path_params), headers=headers, **kw)
        assert answer.status_code in ok, (method, template, answer.status_code, answer.text)
        self.hit.add(f"{method} {template}")
        typed = answer.headers.get("content-type", "").split(";")[0]
        return answer.json() if typed == "application/json" and answer.content else answer


def _walk(
    api: Any, admin_key: str, offstage: Callable[[], AbstractContextManager[Any]] = nullcontext
) -> set[str]:
    """One tenant's tour of the API: every operation, most of them doing real work.
    ``offstage``: what another tenant (the walker's brand) does, not captured."""
    w = Walk(api, auth(admin_key))
    pos = w("POST", "/v1/keys", json={"name": "till", "role": "pos"})["key"]
    spare = w("POST", "/v1/keys", json={"name": "spare", "role": "auditor"})
    w("GET", "/v1/keys")
    w("DELETE", "/v1/keys/{key_id}", key_id=spare["id"], ok=(200, 204))
    brand = w("POST", "/v1/brands", json={"name": f"brand-{uuid.uuid4().hex[:8]}"})
    w("GET", "/v1/brands")
    w("GET", "/v1/brands/{brand_id}", brand_id=brand["id"])
    w("POST", "/v1/brands/{brand_id}/suspend", brand_id=brand["id"])
    w("POST", "/v1/brands/{brand_id}/resume", brand_id=brand["id"])
    with offstage():  # the brand shares a marketplace type with its host, the walker
        market = _marketplace_code(api, brand)
    lifecycle = w(
        "POST",
        "/v1/lifecycles",
        json={
            "name": "a month",
            "validity_kind": "from_issue",
            "validity_days": 30,
            "reservation_hold_seconds": 600,
        },
    )
    w("GET", "/v1/lifecycles")
    w("GET", "/v1/lifecycles/{lifecycle_id}", lifecycle_id=lifecycle["id"])
    w(
        "PATCH",
        "/v1/lifecycles/{lifecycle_id}",
        lifecycle_id=lifecycle["id"],
        json={"grace_days": 3},
    )
    type_body = {
        "name": "Data 1GB",
        "cost_minor": 500,
        "currency": "EUR",
        "lifecycle_id": lifecycle["id"],
        "buckets": [{"balance_type": "data_mb", "amount": 1024, "validity_days": 30}],
    }
    vtype = w("POST", "/v1/voucher-types", json=type_body)
    offer = w("POST", "/v1/voucher-types", json={**type_body, "name": "Bundle", "buckets": [],
                                                 "fulfilment_offer": "BUNDLE-5GB"})  # fmt: skip
    w("GET", "/v1/voucher-types")
    w("GET", "/v1/voucher-types/{type_id}", type_id=vtype["id"])
    shared = {"type_id": vtype["id"], "brand_id": brand["id"]}
    w("PUT", "/v1/voucher-types/{type_id}/shares/{brand_id}", **shared)
    w("GET", "/v1/voucher-types/{type_id}/shares", type_id=vtype["id"])
    w("DELETE", "/v1/voucher-types/{type_id}/shares/{brand_id}", **shared, ok=(204,))
    w("PATCH", "/v1/voucher-types/{type_id}", type_id=vtype["id"], json={"cost_minor": 600})
    hook = w(
        "POST",
        "/v1/webhooks",
        json={
            "url": "http://127.0.0.1:9/hook",
            "event_types": ["voucher.redeemed", "fulfilment.requested", "voucher.rewarded"],
        },
    )
    w("GET", "/v1/webhooks")
    w("GET", "/v1/webhooks/{endpoint_id}", endpoint_id=hook["id"])
    w("PATCH", "/v1/webhooks/{endpoint_id}", endpoint_id=hook["id"], json={"active": True})
    w("PUT", "/v1/templates/{event_type}/{language}", event_type="voucher.redeemed",
      language="en", json={"body": "{{ serial }} is yours"})  # fmt: skip
    w("GET", "/v1/templates/{event_type}/{language}", event_type="voucher.redeemed", language="en")
    w("GET", "/v1/templates")
    w("GET", "/v1/templates/events")

    def voucher(type_id: str = vtype["id"]) -> dict[str, Any]:
        return w("POST", "/v1/vouchers", json={"voucher_type_id": type_id})

    till = auth(pos)
    one = voucher()
    w("GET", "/v1/vouchers/{serial}", serial=one["serial"])
    w("POST", "/v1/vouchers/validate", json={"code": one["code"]}, headers=till)
    w("POST", "/v1/vouchers/{serial}/validate", serial=one["serial"], json={})
    # By code: the first teaches the worker the format (unit of work), the next go batched
    # on PostgreSQL, a fulfilment offer and a webhook with them; one with an Idempotency-Key.
    for code in (one["code"], voucher()["code"], voucher(offer["id"])["code"]):
        w("POST", "/v1/vouchers/redeem", json={"code": code, "subscriber": "254700"}, headers=till)
    w("POST", "/v1/vouchers/redeem", json={"code": voucher()["code"], "subscriber": "254701"},
      headers={**till, "Idempotency-Key": "walk-1"})  # fmt: skip
    # A marketplace code of the walker's brand: validated and redeemed at the walker's till.
    w("POST", "/v1/vouchers/validate", json={"code": market}, headers=till)
    w("POST", "/v1/vouchers/redeem", json={"code": market, "subscriber": "254700"}, headers=till)
    for unknown in generate_codes(DEFAULT_FORMAT, 5):  # a guessing subscriber is barred
        w("POST", "/v1/vouchers/redeem", json={"code": unknown, "subscriber": "254799"},
          headers=till, ok=(404, 429))  # fmt: skip
    (bar,) = w("GET", "/v1/bars")["items"]
    w("POST", "/v1/bars/{scope}/lift", scope=bar["scope"], json={"reason": "vouched for"})
    (asked,) = w("GET", "/v1/fulfilments", params={"status": "pending"})["items"]
    w("GET", "/v1/fulfilments/{request_id}", request_id=asked["id"])
    w("POST", "/v1/fulfilments/{request_id}/fail", request_id=asked["id"],
      json={"reason": "out of stock"})  # fmt: skip
    w("POST", "/v1/fulfilments/{request_id}/complete", request_id=asked["id"], ok=(409,))
    held = voucher()
    body = {"code": held["code"], "subscriber": "254702"}
    w("POST", "/v1/vouchers/reserve", json=body, headers=till)
    w("POST", "/v1/vouchers/release", json={"code": held["code"]}, headers=till)
    w("POST", "/v1/vouchers/reserve", json=body, headers=till)
    w("POST", "/v1/vouchers/confirm", json=body, headers=till)
    w("POST", "/v1/vouchers/reverse", json={"code": held["code"]})
    w("POST", "/v1/vouchers/reissue", json={"code": held["code"]})
    w("POST", "/v1/vouchers/cancel", json={"code": voucher()["code"]})
    w("POST", "/v1/vouchers/close", json={"code": voucher()["code"]})
    s = voucher()["serial"]
    for op in ("reserve", "release", "reserve", "confirm", "reverse", "reissue"):
        w("POST", "/v1/vouchers/{serial}/" + op, serial=s, json={"subscriber": "254703"})
    w("POST", "/v1/vouchers/{serial}/redeem", serial=voucher()["serial"],
      json={"subscriber": "254703"})  # fmt: skip
    w("POST", "/v1/vouchers/{serial}/cancel", serial=voucher()["serial"], json={})
    w("POST", "/v1/vouchers/{serial}/close", serial=voucher()["serial"], json={})
    w("PUT", "/v1/subscribers/{external_id}", external_id="254700",
      json={"attributes": {"tier": "gold"}})  # fmt: skip
    w("GET", "/v1/subscribers/{external_id}", external_id="254700")
    w("GET", "/v1/subscribers")
    w("GET", "/v1/subscribers/{external_id}/wallet", external_id="254700")
    for direction in ("credits", "debits"):
        w("POST", "/v1/subscribers/{external_id}/wallet/{direction}", external_id="254700",
          direction=direction, json={"balance_type": "data_mb", "amount": 10})  # fmt: skip
    batch = w("POST", "/v1/batches", json={"voucher_type_id": vtype["id"], "count": 5})
    w("GET", "/v1/batches")
    w("GET", "/v1/batches/{batch_id}", batch_id=batch["id"])
    w("POST", "/v1/batches/{batch_id}/{operation}", batch_id=batch["id"], operation="activate",
      json={}, ok=(200, 202, 409))  # fmt: skip
    w("GET", "/v1/batches/{batch_id}/print-file", batch_id=batch["id"], ok=(200, 409))
    listed = w("POST", "/v1/voucher-lists", json={"partner": "CinemaCo", "name": "tickets"})
    w("GET", "/v1/voucher-lists")
    w("GET", "/v1/voucher-lists/{list_id}", list_id=listed["id"])
    w("PATCH", "/v1/voucher-lists/{list_id}", list_id=listed["id"], json={"low_stock_threshold": 0.5},
      ok=(200, 422))  # fmt: skip
    w("POST", "/v1/voucher-lists/{list_id}/codes", list_id=listed["id"],
      content=b"code\nWALK-A\nWALK-B\nWALK-C\n", headers={**w.admin, "Content-Type": "text/csv"})  # fmt: skip
    w("GET", "/v1/voucher-lists/{list_id}/uploads", list_id=listed["id"])
    campaign = w(
        "POST",
        "/v1/campaigns",
        json={
            "name": "Data lover",
            "trigger_types": ["usage.data"],
            "condition": "event.attributes.mb >= 100",
            "rewards": [{"kind": "list_code", "list_ids": [listed["id"]]},
                        {"kind": "credit_bucket", "balance_type": "data_mb", "amount": 5}],
            "status": "active",
            "caps": {"per_subscriber": 5},
        },
    )  # fmt: skip
    w("GET", "/v1/campaigns")
    w("GET", "/v1/campaigns/{campaign_id}", campaign_id=campaign["id"])
    w("PATCH", "/v1/campaigns/{campaign_id}", campaign_id=campaign["id"], json={"name": "Data fan"})
    w("GET", "/v1/voucher-lists/{list_id}/campaigns", list_id=listed["id"])
    event = {"id": "e-1", "subscriber": "254700", "type": "usage.data",
             "occurred_at": "2026-11-23T10:00:00Z", "attributes": {"mb": 150}}  # fmt: skip
    w("POST", "/v1/campaigns/{campaign_id}/simulate", campaign_id=campaign["id"],
      json={"events": [event]})  # fmt: skip
    w("POST", "/v1/aggregates", json={"name": "mb_day", "event_type": "usage.data",
                                      "function": "sum", "window": "day", "attribute": "mb"})  # fmt: skip
    w("GET", "/v1/aggregates")
    answered = w("POST", "/v1/events", json={"events": [event]})
    w("POST", "/v1/distributions", json={"list_ids": [listed["id"]], "subscriber": "254709"})
    w("POST", "/v1/voucher-lists/{list_id}/redemptions", list_id=listed["id"],
      json={"codes": ["WALK-A"]})  # fmt: skip
    w("POST", "/v1/voucher-lists/{list_id}/redemptions/csv", list_id=listed["id"],
      content=b"code\nWALK-B\n", headers={**w.admin, "Content-Type": "text/csv"})  # fmt: skip
    w("GET", "/v1/settlement", params={"since": "2026-11-01T00:00:00Z",
                                       "until": "2026-12-31T00:00:00Z"})  # fmt: skip
    rewards = [r for result in answered["results"] for r in result.get("rewards", [])]
    assert rewards, answered
    # Customer care's lookups, each filter once (routes/lookups.py).
    for params in (
        {"subscriber": "254700", "status": "used"},
        {"last4": "0000"},
        {"type": vtype["id"]},
        {"status": "closed"},
        {"batch": batch["id"]},
        {"serial_from": 1, "serial_to": 9, "since": "2026-11-01T00:00:00Z"},
    ):
        w("GET", "/v1/vouchers", params=params)  # fmt: skip
    w("GET", "/v1/batches/{batch_id}/vouchers", batch_id=batch["id"], params={"serial_to": 9})
    w("GET", "/v1/subscribers/{external_id}/history", external_id="254700",
      params={"kind": ["redemption", "other"]})  # fmt: skip
    w("GET", "/v1/subscribers/{external_id}/aggregates", external_id="254700")
    w("GET", "/v1/rewards", params={"campaign": campaign["id"], "subscriber": "254700"})
    w("POST", "/v1/rewards/{reward_id}/reverse", reward_id=rewards[-1]["reward_id"], json={})
    queued = w("GET", "/v1/notifications")
    assert queued["items"], "the walk should have queued notifications"
    nid = queued["items"][0]["id"]
    w("GET", "/v1/notifications/{notification_id}", notification_id=nid)
    w("POST", "/v1/notifications/{notification_id}/retry", notification_id=nid, ok=(200, 409))
    w("GET", "/v1/edrs")
    w("GET", "/v1/edrs/export")
    w("GET", "/v1/edrs/verify")
    w("GET", "/v1/brands/report")
    span = {"since": "2026-11-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"}
    w("GET", "/v1/marketplace/settlement", params=span)
    w("GET", "/v1/brands/settlement", params=span)
    w("GET", "/v1/reports/status", params={"group_by": "batch"})
    w("GET", "/v1/reports/liability", params={"as_of": "2026-11-23T11:00:00Z"})
    w("POST", "/v1/reports/settlement/close", json={"until": "2026-11-23T11:59:00Z"}, ok=(201,))
    span = {"since": "2026-11-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"}
    w("GET", "/v1/reports/settlement", params=span)
    w("GET", "/v1/reports/campaigns", params={**span, "period": "month"})
    w("GET", "/v1/reports/lists", params=span)
    w("GET", "/v1/reports/revenue", params={"since": "2026-11-01T00:00:00Z",
      "until": "2027-01-01T00:00:00Z", "period": "month", "group_by": "type"})  # fmt: skip
    w("DELETE", "/v1/templates/{event_type}/{language}", event_type="voucher.redeemed",
      language="en", ok=(200, 204))  # fmt: skip
    w("DELETE", "/v1/webhooks/{endpoint_id}", endpoint_id=hook["id"], ok=(200, 204))
    _walk_the_console(api, admin_key, one["serial"])
    return w.hit


def _marketplace_code(api: Any, brand: dict[str, Any]) -> str:
    """A code of a type the brand shares with its host."""
    h = auth(brand["admin_key"]["key"])
    lifecycle = api.post("/v1/lifecycles", json={"name": "lc", "validity_kind": "from_issue",
                         "validity_days": 30}, headers=h).json()  # fmt: skip
    vtype = api.post("/v1/voucher-types", json={"name": "market", "cost_minor": 100,
                     "currency": "EUR", "lifecycle_id": lifecycle["id"],
                     "buckets": [{"balance_type": "sms", "amount": 5}]}, headers=h).json()  # fmt: skip
    put = api.put(f"/v1/voucher-types/{vtype['id']}/shares/{brand['host_id']}", headers=h)
    assert put.status_code == 200, put.text
    made = api.post("/v1/vouchers", json={"voucher_type_id": vtype["id"]}, headers=h)
    return str(made.json()["code"])


def _walk_the_console(api: Any, admin_key: str, serial: int) -> None:
    """The operator console (HTML, outside the API schema): signed in with the key, each of
    its pages without a path parameter, and one voucher looked up."""
    assert api.get("/console/sign-in").status_code == 200
    csrf = api.cookies.get(SIGN_IN_COOKIE)
    signed = api.post(
        "/console/sign-in",
        data={"key": admin_key, "csrf": csrf, "next": "/console"},
        follow_redirects=False,
    )
    assert signed.status_code in (302, 303), signed.text
    pages = [
        route.path
        for module in console.PAGES
        for route in module.router.routes
        if "GET" in getattr(route, "methods", ())
        and "{" not in route.path
        and "sign-in" not in route.path
    ]
    assert len(pages) > 3, pages
    for page in pages:
        answer = api.get(page, follow_redirects=False)
        assert answer.status_code == 200, (page, answer.status_code)
    assert api.get("/console/vouchers", params={"serial": serial}).status_code == 200
    for slug in console.reports.REPORTS:  # each report's page and its CSV, default span
        assert api.get(f"/console/reports/{slug}").status_code == 200, slug
        assert api.get(f"/console/reports/{slug}.csv", params=_span()).status_code == 200, slug
    api.cookies.clear()  # the next walk signs in as its own tenant


def _span() -> dict[str, str]:
    return {"since": "2026-11-01", "to": "2026-12-31", "period": "month", "group_by": "type"}


def _operations(api: Any) -> set[str]:
    spec = api.get("/openapi.json").json()
    return {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops}


def test_every_statement_on_a_tenant_table_binds_the_callers_tenant(
    container, api, make_tenant, capture, store
):
    b, b_admin = make_tenant()
    _walk(api, b_admin)
    a, a_admin = make_tenant()
    _spy_on_batched_ledger(container, capture)

    @contextmanager
    def offstage() -> Iterator[None]:
        capture.on = False
        yield
        capture.on = True

    capture.on = True
    hit = _walk(api, a_admin, offstage)
    capture.on = False
    assert _operations(api) - hit == set(NOT_WALKED)  # every operation walked, or listed
    touched: set[str] = set()
    unscoped, leaking = [], []
    allowed: set[str] = set()
    for statement in capture.statements:
        tables = statement.tables
        if not tables:
            continue
        touched |= tables
        if _binds(statement, b):
            leaking.append(statement.sql)
        if _binds(statement, a):
            continue
        reasons = [name for name, (_s, p) in ABOVE_TENANCY.items() if p.search(statement.sql)]
        allowed.update(reasons)
        if not reasons:
            unscoped.append(statement.sql)
    if store == "postgresql":  # the batched ledger's statements were among those checked
        batched = [s for s in capture.statements if "jsonb_to_recordset" in s.sql]
        assert batched and all(_binds(s, a) for s in batched)
    assert not leaking, "statements bound another tenant:\n" + "\n\n".join(leaking)
    assert not unscoped, "statements without the caller's tenant:\n" + "\n\n".join(
        sorted(set(unscoped))
    )
    assert allowed == {name for name, (stores, _p) in ABOVE_TENANCY.items() if store in stores}
    # The walk reached the tables a tenant's work writes (a table never touched would have
    # been checked by nothing).
    untouched = TENANT_TABLES - touched
    assert untouched <= UNTOUCHED, sorted(untouched - UNTOUCHED)


# Tenant tables the walk does not reach, and why.
UNTOUCHED: set[str] = set()
