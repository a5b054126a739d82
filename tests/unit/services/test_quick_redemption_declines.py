"""The batched path's decisions and declines (``redemption.use_quickly``), with a fake store in
place of PostgreSQL: what it hands the ledger, and when it leaves the call to the
transactional path with nothing written. Runs on any machine: the unit of work lends its
tenant, key, clock and sealer and is never entered (its engine never connects)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tessera.adapters.crypto import Sealer
from tessera.adapters.db.repositories.quick_use import WRITE_REFUSED, QuickView, UseWrite
from tessera.adapters.db.repositories.vouchers import VoucherView
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.catalog import BucketTemplate, VoucherType, VoucherTypeSpec
from tessera.domain.code_hash import code_hash
from tessera.domain.codes import generate_codes, last4
from tessera.domain.lifecycle import Lifecycle, LifecycleRules, ValidityKind
from tessera.domain.money import Money, PurchaseValue, ValueKind
from tessera.domain.statuses import Operation, VoucherStatus
from tessera.domain.vouchers import Voucher
from tessera.services.issuing import DEFAULT_FORMAT
from tessera.services.notifications import payload_context
from tessera.services.redemption import Decline, Outcome, Request, Target, operations, use_quickly

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SECRET = b"unit-test-code-secret"
SEALER = Sealer(b"k" * 32)
S = VoucherStatus


class FakeStore:
    """The batched store in memory: what its read answers for each tenant's code hash, the
    status each voucher has now (the compare-and-set's side: a read may be stale), and every
    write it was handed."""

    def __init__(self) -> None:
        self.found: dict[tuple[uuid.UUID, bytes], QuickView] = {}
        self.stored: dict[tuple[uuid.UUID, int], VoucherStatus] = {}
        self.reads: list[bytes] = []
        self.writes: list[UseWrite] = []
        self.refuse = False

    def add(self, tenant: uuid.UUID, code: str, found: QuickView) -> None:
        self.found[(tenant, code_hash(SECRET, code))] = found
        self.stored[(tenant, found.view.voucher.id)] = found.view.voucher.status

    async def view(
        self,
        tenant_id: uuid.UUID,
        code_hash: bytes,
        scopes: Sequence[str],
        subscriber: str,
        *,
        marketplace: bool = False,
    ) -> QuickView | None:
        self.reads.append(code_hash)
        return self.found.get((tenant_id, code_hash))

    async def use(self, write: UseWrite) -> Voucher | object | None:
        self.writes.append(write)
        if self.refuse:
            return WRITE_REFUSED
        key = (write.tenant_id, write.voucher.id)
        lapsed = write.expected is S.AVAILABLE and write.voucher.status is S.RESERVED
        if self.stored.get(key) is not (S.RESERVED if lapsed else write.expected):
            return None  # the compare-and-set moves nothing
        self.stored[key] = write.new
        return dataclasses.replace(
            write.voucher, status=write.new, subscriber_id=write.subscriber.id, reserved_until=None
        )


def _found(
    status: S = S.AVAILABLE,
    *,
    offer: str | None = None,
    barred_until: datetime | None = None,
    reserved_until: datetime | None = None,
    endpoints: list[tuple[uuid.UUID, list[str]]] | None = None,
    templates: list[tuple[str, str, str]] | None = None,
    code: str = "",
    value: PurchaseValue | None = None,
) -> QuickView:
    lifecycle = Lifecycle(
        uuid.uuid4(), "a year", LifecycleRules(ValidityKind.FROM_ISSUE, validity_days=365),
        NOW, NOW,
    )  # fmt: skip
    spec = VoucherTypeSpec(
        "1 GB", 500, "EUR", lifecycle.id,
        () if offer or value else (BucketTemplate("data_mb", 1024, 30),), fulfilment_offer=offer,
        purchase_value=value,
    )  # fmt: skip
    voucher_type = VoucherType(uuid.uuid4(), spec, NOW, NOW)
    voucher = Voucher(
        7, 1007, last4(code) if code else "0000", voucher_type.id, lifecycle.id, None, status,
        NOW - timedelta(days=1), NOW - timedelta(days=1), reserved_until,
        NOW - timedelta(days=1), None, None,
    )  # fmt: skip
    view = VoucherView(voucher, voucher_type, lifecycle, barred_until)
    return QuickView(view, [] if offer or value else [41], endpoints or [], templates or [])


@pytest.fixture
def tenant(monkeypatch: pytest.MonkeyPatch) -> uuid.UUID:
    tid = uuid.uuid4()
    # The formats this worker has seen of the tenant (read from its batches on a real store).
    monkeypatch.setitem(operations._known_formats, tid, frozenset({DEFAULT_FORMAT}))
    return tid


@pytest.fixture
def code() -> str:
    return generate_codes(DEFAULT_FORMAT, 1)[0]


def _use(
    store: FakeStore,
    tenant: uuid.UUID,
    code: str,
    subscriber: str | None = "254700",
    operation: Operation = Operation.REDEEM,
    purchase: Money | None = None,
) -> Outcome | Decline:
    engine = sa.create_engine("sqlite://")  # lent, never connected
    uow = UnitOfWork(engine, tenant, uuid.uuid4(), lambda: NOW, SEALER)
    request = Request(Target(code=code), subscriber=subscriber, purchase=purchase)
    return asyncio.run(use_quickly(store, uow, SECRET, request, operation))


def test_a_redemption_hands_the_ledger_its_whole_decision(tenant, code):
    store = FakeStore()
    store.add(tenant, code, _found(code=code))
    outcome = _use(store, tenant, code)
    assert isinstance(outcome, Outcome) and outcome.voucher.status is S.USED
    (write,) = store.writes
    assert (write.tenant_id, write.expected, write.new) == (tenant, S.AVAILABLE, S.USED)
    assert write.new_subscriber and write.subscriber.external_id == "254700"
    assert [(b.bucket_id, b.balance_type, b.amount) for b in write.buckets] == [
        (41, "data_mb", 1024)
    ]
    assert [e.operation for e in write.edrs] == [
        "subscriber.create", "wallet.credit", "voucher.redeem", "revenue.recognized_by_use",
    ]  # fmt: skip
    assert write.fulfilment is None and write.outbox == []
    assert [c.bucket_id for c in outcome.credits] == [41]


def test_a_tenant_with_webhooks_is_written_by_the_batched_ledger_with_its_outbox(tenant, code):
    hooks = [uuid.UUID(int=1), uuid.UUID(int=2)]
    store = FakeStore()
    store.add(
        tenant,
        code,
        _found(
            code=code,
            endpoints=[(hooks[0], ["voucher.redeemed"]), (hooks[1], ["voucher.redeemed"])],
            templates=[("voucher.redeemed", "en", "{{ serial }} is yours, {{ subscriber }}")],
        ),
    )
    assert isinstance(_use(store, tenant, code), Outcome)
    (write,) = store.writes
    assert [(e, t) for e, t, _sealed in write.outbox] == [
        (hooks[0], "voucher.redeemed"), (hooks[1], "voucher.redeemed"),
    ]  # fmt: skip
    payload = json.loads(SEALER.open(write.outbox[0][2], payload_context(tenant)))
    assert payload["type"] == "voucher.redeemed" and payload["language"] == "en"
    assert payload["message"] == "1007 is yours, 254700"
    assert payload["data"]["code_last4"] == last4(code)
    assert code not in json.dumps(payload)  # the code itself never travels


def test_a_fulfilment_offer_is_written_by_the_batched_ledger_with_its_request(tenant, code):
    hook = uuid.UUID(int=3)
    store = FakeStore()
    store.add(
        tenant,
        code,
        _found(code=code, offer="BUNDLE-5GB", endpoints=[(hook, ["fulfilment.requested"])]),
    )
    outcome = _use(store, tenant, code)
    assert isinstance(outcome, Outcome)
    (write,) = store.writes
    assert write.buckets == ()
    assert write.fulfilment is not None
    request_id, offer, action, parameters = write.fulfilment
    assert (offer, action, parameters) == ("BUNDLE-5GB", "activate", {})
    assert outcome.fulfilment_request_id == str(request_id)
    assert [event for _e, event, _sealed in write.outbox] == ["fulfilment.requested"]


def test_a_live_hold_is_confirmed(tenant, code):
    store = FakeStore()
    store.add(
        tenant, code, _found(S.RESERVED, code=code, reserved_until=NOW + timedelta(minutes=5))
    )
    outcome = _use(store, tenant, code, operation=Operation.CONFIRM)
    assert isinstance(outcome, Outcome) and outcome.status_before is S.RESERVED


def test_a_lapsed_hold_is_redeemed_as_available_with_its_release_on_the_record(tenant, code):
    store = FakeStore()
    store.add(
        tenant, code, _found(S.RESERVED, code=code, reserved_until=NOW - timedelta(minutes=5))
    )
    outcome = _use(store, tenant, code)
    assert isinstance(outcome, Outcome) and outcome.status_before is S.AVAILABLE
    assert store.writes[0].edrs[1].operation == "voucher.release"


@pytest.mark.parametrize(
    ("operation", "subscriber"),
    [(Operation.RESERVE, "254700"), (Operation.RELEASE, "254700"), (Operation.REDEEM, None)],
)
def test_anything_but_a_use_by_code_for_a_subscriber_is_declined_unread(
    tenant, code, operation, subscriber
):
    store = FakeStore()
    store.add(tenant, code, _found(code=code))
    assert _use(store, tenant, code, subscriber, operation) is Decline.OPERATION
    assert store.reads == [] and store.writes == []


def test_a_code_of_a_format_this_worker_has_not_seen_is_declined_unread(tenant):
    store = FakeStore()
    assert _use(store, tenant, "ABCD-EFGH-JKLM") is Decline.FORMAT_UNKNOWN
    assert store.reads == []


def test_an_unknown_code_is_declined_for_the_transactional_path_to_count(tenant, code):
    store = FakeStore()
    assert _use(store, tenant, code) is Decline.NOT_FOUND
    assert len(store.reads) == 1 and store.writes == []


def test_another_tenants_code_is_not_found(tenant, code):
    store = FakeStore()
    store.add(uuid.uuid4(), code, _found(code=code))  # the same code, another tenant's
    assert _use(store, tenant, code) is Decline.NOT_FOUND
    assert store.writes == []


def test_a_barred_caller_is_declined_unwritten(tenant, code):
    store = FakeStore()
    store.add(tenant, code, _found(code=code, barred_until=NOW + timedelta(minutes=1)))
    assert _use(store, tenant, code) is Decline.BARRED
    assert store.writes == []


def test_a_bar_that_has_passed_does_not_decline(tenant, code):
    store = FakeStore()
    store.add(tenant, code, _found(code=code, barred_until=NOW - timedelta(seconds=1)))
    assert isinstance(_use(store, tenant, code), Outcome)


@pytest.mark.parametrize("status", [S.USED, S.PENDING, S.CANCELED, S.CLOSED, S.EXPIRED])
def test_a_use_the_rules_refuse_is_declined_unwritten(tenant, code, status):
    store = FakeStore()
    store.add(tenant, code, _found(status, code=code))
    assert _use(store, tenant, code) is Decline.REFUSED
    assert store.writes == []


def test_a_voucher_used_since_it_was_read_loses_the_compare_and_set(tenant, code):
    store = FakeStore()
    store.add(tenant, code, _found(code=code))
    assert isinstance(_use(store, tenant, code), Outcome)
    # The read still says available (another call's use was not yet seen): the decision is
    # made, and the write moves nothing.
    assert _use(store, tenant, code, "254799") is Decline.LOST_RACE
    assert len(store.writes) == 2
    assert store.stored[(tenant, 7)] is S.USED


def test_a_refused_statement_is_declined(tenant, code):
    store = FakeStore()
    store.refuse = True
    store.add(tenant, code, _found(code=code))
    assert _use(store, tenant, code) is Decline.WRITE_REFUSED


def test_a_percentage_is_written_by_the_batched_ledger_with_the_amount_taken(tenant, code):
    store = FakeStore()
    value = PurchaseValue(ValueKind.PERCENTAGE, basis_points=1000, cap_minor=300)
    store.add(tenant, code, _found(code=code, value=value))
    outcome = _use(store, tenant, code, purchase=Money(5_000, "EUR"))
    assert isinstance(outcome, Outcome) and outcome.take is not None
    assert outcome.take.taken_minor == 300
    (write,) = store.writes
    (record,) = [e for e in write.edrs if e.operation == "voucher.redeem"]
    assert record.amount_minor == 300 and record.details["purchase_minor"] == 5_000


def test_a_stored_value_is_declined_unwritten_for_the_unit_of_work(tenant, code):
    store = FakeStore()
    value = PurchaseValue(ValueKind.STORED_VALUE, amount_minor=1_000)
    store.add(tenant, code, _found(code=code, value=value))
    assert _use(store, tenant, code, purchase=Money(100, "EUR")) is Decline.STORED_VALUE
    assert store.writes == []


def test_a_purchase_in_another_currency_is_declined_unwritten(tenant, code):
    store = FakeStore()
    store.add(tenant, code, _found(code=code, value=PurchaseValue(ValueKind.FIXED, amount_minor=5)))
    assert _use(store, tenant, code, purchase=Money(100, "USD")) is Decline.REFUSED
    assert store.writes == []
