"""The two ledgers of ``services/redemption/ledger.py`` write the same decision the same way.

Each case runs twice on PostgreSQL, in two tenants set up alike: once through the unit of work
(``redemption.redeem`` / ``confirm``) and once through the batched statement (``use_quickly``
on ``QuickUses``). Afterwards every row the tenant owns in the tables a use writes (vouchers,
subscribers, buckets, EDRs, fulfilment requests, notifications with their payloads opened) is
the same, once each tenant's own ids are replaced by their kind and order of appearance."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.quick_use import QuickUses
from tessera.domain.catalog import BucketTemplate
from tessera.domain.errors import DomainError
from tessera.domain.roles import Role
from tessera.domain.statuses import Operation
from tessera.services import notifications, redemption
from tessera.services.notifications import payload_context
from tessera.services.redemption import Decline, Outcome, use_quickly
from tessera.services.redemption.decision import decide_use
from tessera.services.redemption.ledger import BatchedLedger, UnitOfWorkLedger
from tessera.services.tenants import create_key
from tessera.services.wallets import ensure_subscriber
from vouchering import POLICY, by_code, issue, make_type


@pytest.fixture(params=["postgresql"])  # the batched ledger's only store
def store(request: pytest.FixtureRequest) -> str:
    request.applymarker(pytest.mark.postgres)
    return str(request.param)


@dataclass
class Setup:
    tenant: uuid.UUID
    key_id: uuid.UUID
    codes: dict[str, str]  # by role in the case


@dataclass(frozen=True)
class Case:
    name: str
    offer: str | None = None
    webhooks: tuple[tuple[str, ...], ...] = ()  # one endpoint per tuple of event types
    template: str | None = None  # for voucher.redeemed
    known_subscriber: bool = False
    hold: str | None = None  # "live" or "lapsed": reserved first
    operation: Operation = Operation.REDEEM
    used_first: bool = False  # the voucher is already used: refused, nothing written


CASES = [
    Case("a new subscriber"),
    Case("a known subscriber", known_subscriber=True),
    Case(
        "a tenant with webhooks and a template",
        webhooks=(("voucher.redeemed",), ("voucher.redeemed", "voucher.expired")),
        template="{{ serial }} redeemed by {{ subscriber }}",
    ),
    Case(
        "a fulfilment offer with webhooks",
        offer="BUNDLE-5GB",
        webhooks=(("fulfilment.requested", "voucher.redeemed"), ("fulfilment.requested",)),
    ),
    # refused by the decision (fulfilment_unavailable): nobody would be asked to deliver
    Case("a fulfilment offer nobody subscribes to", offer="BUNDLE-1GB"),
    Case("a lapsed hold", hold="lapsed", known_subscriber=True),
    Case("a live hold confirmed", hold="live", operation=Operation.CONFIRM),
    Case("a used voucher", used_first=True, webhooks=(("voucher.redeemed",),)),
]


def _set_up(container: Any, make_tenant: Callable[[], Any], case: Case, clock: Any) -> Setup:
    tid, _admin = make_tenant()
    key, _plain = create_key(container.uow(tid), "till", Role.POS)
    for n, events in enumerate(case.webhooks):
        notifications.create_endpoint(
            container.uow(tid), container.webhook_targets, f"http://127.0.0.1:9/h{n}", list(events)
        )
    if case.template:
        notifications.save_template(container.uow(tid), "voucher.redeemed", "en", case.template)
    buckets = () if case.offer else (BucketTemplate("data_mb", 500, 30), BucketTemplate("sms", 9))
    type_id = make_type(container, tid, buckets=buckets, offer=case.offer)
    _v, code = issue(container, tid, type_id)
    _v, teacher = issue(container, tid, type_id)
    if case.known_subscriber:
        with container.uow(tid) as uow:
            ensure_subscriber(uow, "254700")
            uow.commit()
    uow = container.uow(tid, key.id)
    if case.hold:
        redemption.reserve(uow, container.code_secret, by_code(code, "254700"), POLICY)
        if case.hold == "lapsed":
            clock.advance(seconds=601)  # the lifecycle holds for 600 s
    if case.used_first:
        redemption.redeem(uow, container.code_secret, by_code(code, "254799"), POLICY)
    # The batched path knows a code format once this worker has seen it.
    redemption.validate(uow, container.code_secret, by_code(teacher), POLICY)
    return Setup(tid, key.id, {"use": code})


def _through_the_unit_of_work(container: Any, setup: Setup, case: Case) -> str:
    uow = container.uow(setup.tenant, setup.key_id)
    use = redemption.confirm if case.operation is Operation.CONFIRM else redemption.redeem
    try:
        use(uow, container.code_secret, by_code(setup.codes["use"], "254700"), POLICY)
    except DomainError as refused:
        return f"refused: {refused.code}"
    return "written"


def _through_the_batch(container: Any, setup: Setup, case: Case) -> str:
    async def run() -> Outcome | Decline:
        quick = QuickUses(container.settings.database_url)
        await quick.open()
        try:
            return await use_quickly(
                quick,
                container.uow(setup.tenant, setup.key_id),
                container.code_secret,
                by_code(setup.codes["use"], "254700"),
                case.operation,
            )
        finally:
            await quick.close()

    outcome = asyncio.run(run())
    if outcome is Decline.REFUSED:  # the unit of work then gives the full refusal
        return _through_the_unit_of_work(container, setup, case)
    assert isinstance(outcome, Outcome), outcome
    return "written"


class _Names:
    """Replaces a tenant's own values by their kind and order of first appearance."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, Any], str] = {}

    def __call__(self, kind: str, value: Any) -> Any:
        if value is None:
            return None
        key = (kind, str(value))
        if key not in self.seen:
            self.seen[key] = f"<{kind} {sum(k == kind for k, _ in self.seen)}>"
        return self.seen[key]


_NAMED = {  # column or detail name -> kind of value it holds
    "id": None,  # the row's own id: dropped
    "tenant_id": "tenant",
    "actor_key_id": "key",
    "subscriber_id": "subscriber",
    "voucher_type_id": "type",
    "voucher_type": "type name",
    "lifecycle_id": "lifecycle",
    "voucher_id": "voucher",
    "bucket_id": "bucket",
    "endpoint_id": "endpoint",
    "fulfilment_request_id": "request",
    "code_hash": "code",
    "code_last4": "last4",
    "batch_id": "batch",
    "name": "name",  # a voucher type's name is random in the tests
}


def _normal(value: Any, names: _Names) -> Any:
    if isinstance(value, dict):
        return {
            k: names(_NAMED[k], v) if _NAMED.get(k) else _normal(v, names)
            for k, v in value.items()
            if not (k in _NAMED and _NAMED[k] is None)
        }
    if isinstance(value, list):
        return [_normal(v, names) for v in value]
    if isinstance(value, uuid.UUID):  # an id in no named column: a subscriber as a subject
        return names("subscriber", value)
    if isinstance(value, str):
        try:
            return names("subscriber", uuid.UUID(value))
        except ValueError:
            return value
    if isinstance(value, bytes | memoryview):
        return names("bytes", bytes(value).hex())
    return value


def _snapshot(container: Any, tid: uuid.UUID) -> dict[str, Any]:
    names = _Names()
    names("tenant", tid)
    found: dict[str, Any] = {}
    with container.engine.connect() as conn:
        for table, order in (
            (t.vouchers, t.vouchers.c.serial),
            (t.subscribers, t.subscribers.c.external_id),
            (t.buckets, t.buckets.c.id),
            (t.edrs, t.edrs.c.id),
            (t.fulfilment_requests, t.fulfilment_requests.c.serial),
            (t.notifications, t.notifications.c.id),
        ):
            rows = conn.execute(sa.select(table).where(table.c.tenant_id == tid).order_by(order))
            found[table.name] = [dict(row) for row in rows.mappings()]
        endpoints = t.webhook_endpoints.c
        urls = dict(
            conn.execute(
                sa.select(endpoints.id, endpoints.url).where(endpoints.tenant_id == tid)
            ).all()
        )
    for row in found["notifications"]:
        sealed = row.pop("payload_sealed")
        row["payload"] = json.loads(container.sealer.open(sealed, payload_context(tid)))
        row["endpoint_url"] = urls[
            row.pop("endpoint_id")
        ]  # endpoint ids are random: their order too
    found["notifications"].sort(key=lambda row: (row["event_type"], row["endpoint_url"]))
    return {name: _normal(rows, names) for name, rows in found.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_both_ledgers_leave_the_same_rows(container, make_tenant, clock, case):
    answers, snapshots = [], []
    for write in (_through_the_unit_of_work, _through_the_batch):
        start = clock.now
        setup = _set_up(container, make_tenant, case, clock)
        answers.append(write(container, setup, case))
        snapshots.append(_snapshot(container, setup.tenant))
        clock.now = start  # the second tenant lives the same moments
    assert answers[0] == answers[1]
    assert snapshots[0] == snapshots[1]
    uses = [
        e for e in snapshots[0]["edrs"] if e["operation"] in ("voucher.redeem", "voucher.confirm")
    ]
    if case.offer and not case.webhooks:  # refused: nobody would deliver the offer
        assert answers[0] == "refused: fulfilment_unavailable"
        assert uses == [] and snapshots[0]["fulfilment_requests"] == []
        return
    assert len(uses) == 1  # a used voucher: the first use's; else the use's
    if case.webhooks and not case.used_first:
        assert snapshots[0]["notifications"], "the case should have queued notifications"
    if case.offer:
        assert [r["action"] for r in snapshots[0]["fulfilment_requests"]] == ["activate"]


def test_a_decision_whose_voucher_moved_meanwhile_is_written_by_neither(container, make_tenant):
    """The compare-and-set: a decision made on a view that is no longer true writes nothing,
    and both ledgers answer the lost race the same way."""
    case = Case("webhooks", webhooks=(("voucher.redeemed",),))
    answers, snapshots = [], []
    for ledger in ("unit of work", "batched"):
        setup = _set_up(container, make_tenant, case, container.clock)
        uow = container.uow(setup.tenant, setup.key_id)
        with uow:
            view = uow.vouchers.view(
                code_hash=_hash(container, setup.codes["use"]), subscriber="254700"
            )
            assert view is not None
            subscribed = notifications.subscriptions(uow, ("voucher.redeemed",))
        decision = decide_use(
            view,
            Operation.REDEEM,
            _subscriber(container, setup.tenant),
            new_subscriber=False,
            activity=container.clock(),
            now=container.clock(),
            bucket_ids=[10**12 + len(answers) * 10, 10**12 + len(answers) * 10 + 1],
            request_id=None,
            subscriptions=subscribed,
        )
        assert decision.outbox  # there was something to queue
        redemption.redeem(  # another call wins the voucher first
            container.uow(setup.tenant), container.code_secret,
            by_code(setup.codes["use"], "254711"), POLICY,
        )  # fmt: skip
        before = _snapshot(container, setup.tenant)
        if ledger == "unit of work":
            with container.uow(setup.tenant, setup.key_id) as uow:
                answers.append(UnitOfWorkLedger(uow).write(decision))
                uow.commit()
        else:
            answers.append(asyncio.run(_batched_write(container, setup, decision)))
        after = _snapshot(container, setup.tenant)
        assert after == before  # nothing of the decision was written
        snapshots.append(after)
    assert answers == [Decline.LOST_RACE, Decline.LOST_RACE]
    assert snapshots[0] == snapshots[1]


async def _batched_write(container: Any, setup: Setup, decision: Any) -> Any:
    quick = QuickUses(container.settings.database_url)
    await quick.open()
    try:
        return await BatchedLedger(quick, container.uow(setup.tenant, setup.key_id)).write(decision)
    finally:
        await quick.close()


def _hash(container: Any, code: str) -> bytes:
    from tessera.domain.code_hash import code_hash

    return code_hash(container.code_secret, code)


def _subscriber(container: Any, tid: uuid.UUID) -> Any:
    with container.uow(tid) as uow:
        subscriber = ensure_subscriber(uow, "254700")
        uow.commit()
    return subscriber
