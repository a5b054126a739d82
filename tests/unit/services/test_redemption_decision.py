"""The one rule of a use, decided without a store: what redeeming a voucher changes, in the
order both ledgers write it."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tessera.adapters.db.repositories.vouchers import SharedUse, VoucherView
from tessera.domain.catalog import BucketTemplate, VoucherType, VoucherTypeSpec
from tessera.domain.errors import Invalid
from tessera.domain.fulfilment import FulfilmentUnavailable
from tessera.domain.lifecycle import Lifecycle, LifecycleRules, ValidityKind
from tessera.domain.money import Money, PurchaseValue, ValueKind
from tessera.domain.statuses import IllegalTransition, Operation, VoucherStatus
from tessera.domain.vouchers import Voucher
from tessera.domain.wallet import BucketGrant
from tessera.services.notifications import NO_SUBSCRIPTIONS, Subscriptions
from tessera.services.redemption.decision import decide_use
from tessera.services.wallets import new_subscriber

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
S = VoucherStatus


def view(status=S.AVAILABLE, *, offer=None, reserved_until=None, parameters=()) -> VoucherView:
    lifecycle = Lifecycle(
        uuid.uuid4(), "30 days", LifecycleRules(ValidityKind.FROM_ISSUE, validity_days=30),
        NOW, NOW,
    )  # fmt: skip
    spec = VoucherTypeSpec(
        "1 GB", 500, "EUR", lifecycle.id,
        () if offer else (BucketTemplate("data_mb", 1024, 7), BucketTemplate("sms", 10)),
        fulfilment_offer=offer, fulfilment_parameters=parameters,
    )  # fmt: skip
    voucher_type = VoucherType(uuid.uuid4(), spec, NOW, NOW)
    voucher = Voucher(
        7, 1007, "4321", voucher_type.id, lifecycle.id, None, status,
        NOW - timedelta(days=1), None, reserved_until, NOW - timedelta(days=1), None, None,
    )  # fmt: skip
    return VoucherView(voucher, voucher_type, lifecycle)


def decide(
    found: VoucherView,
    *,
    new=False,
    request_id=None,
    operation=Operation.REDEEM,
    subscriptions=NO_SUBSCRIPTIONS,
):
    return decide_use(
        found, operation, new_subscriber("254700", NOW), new_subscriber=new,
        activity=NOW, now=NOW, bucket_ids=[11, 12], request_id=request_id,
        subscriptions=subscriptions,
    )  # fmt: skip


def test_a_redemption_credits_each_bucket_template_with_the_ids_drawn():
    decision = decide(view())
    assert (decision.expected, decision.new_status) == (S.AVAILABLE, S.USED)
    assert decision.grants == (
        BucketGrant(11, "data_mb", 1024, NOW + timedelta(days=7)),
        BucketGrant(12, "sms", 10, None),
    )
    assert [e.operation for e in decision.edrs] == [
        "wallet.credit", "wallet.credit", "voucher.redeem", "revenue.recognized_by_use",
    ]  # fmt: skip
    use, revenue = decision.edrs[-2:]
    assert (revenue.amount_minor, revenue.currency) == (500, "EUR")
    assert revenue.details["effective_at"] == NOW.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    assert (use.amount_minor, use.currency, use.details["revenue"]) == (500, "EUR", "recognized")
    assert [b["bucket_id"] for b in use.details["buckets"]] == [11, 12]
    assert [n.event_type for n in decision.notices] == ["voucher.redeemed"]
    assert decision.fulfilment is None


def test_a_new_subscriber_is_recorded_first():
    decision = decide(view(), new=True)
    assert decision.new_subscriber
    assert decision.edrs[0].operation == "subscriber.create"


def test_a_lapsed_hold_is_released_on_the_record_before_it_is_used():
    lapsed = view(S.RESERVED, reserved_until=NOW - timedelta(minutes=1))
    decision = decide(lapsed)
    assert decision.expected is S.AVAILABLE and decision.lapsed_hold
    assert decision.edrs[0].operation == "voucher.release"
    assert decision.edrs[0].details["cause"] == "hold_lapsed"


ORDER_SYSTEM = Subscriptions.of([(uuid.UUID(int=9), ["fulfilment.requested"])], [])


def test_a_type_with_an_offer_asks_for_fulfilment_instead_of_buckets():
    request_id = uuid.uuid4()
    decision = decide(view(offer="BUNDLE-5GB"), request_id=request_id, subscriptions=ORDER_SYSTEM)
    assert decision.grants == ()
    assert decision.fulfilment is not None and decision.fulfilment.id == request_id
    assert decision.fulfilment.action == "activate"
    assert [n.event_type for n in decision.notices] == ["fulfilment.requested", "voucher.redeemed"]
    assert decision.notices[0].details["request_id"] == str(request_id)
    assert decision.notices[0].details["subscriber"] == "254700"
    assert decision.edrs[-2].details["fulfilment_request_id"] == str(request_id)


def test_an_offer_nobody_is_subscribed_to_deliver_is_refused():
    with pytest.raises(FulfilmentUnavailable):
        decide(view(offer="BUNDLE-5GB"), request_id=uuid.uuid4())


def test_offer_parameters_travel_within_what_the_type_allows():
    typed = view(offer="BUNDLE-5GB", parameters=("offer_id",))
    decision = decide_use(
        typed, Operation.REDEEM, new_subscriber("254700", NOW), new_subscriber=True,
        activity=NOW, now=NOW, bucket_ids=[], request_id=uuid.uuid4(),
        subscriptions=ORDER_SYSTEM, offer_parameters={"offer_id": "XMAS-5GB"},
    )  # fmt: skip
    assert decision.fulfilment is not None
    assert decision.fulfilment.parameters == {"offer_id": "XMAS-5GB"}
    assert decision.notices[0].details["parameters"] == {"offer_id": "XMAS-5GB"}
    for wrong, field in (
        ({"price": "0"}, "offer_parameters.price"),
        ({"offer_id": "x" * 101}, "offer_parameters.offer_id"),
        ({"offer_id": " "}, "offer_parameters.offer_id"),
    ):
        with pytest.raises(Invalid) as caught:
            decide_use(
                typed, Operation.REDEEM, new_subscriber("254700", NOW), new_subscriber=True,
                activity=NOW, now=NOW, bucket_ids=[], request_id=uuid.uuid4(),
                subscriptions=ORDER_SYSTEM, offer_parameters=wrong,
            )  # fmt: skip
        assert caught.value.extra["field"] == field


def test_a_used_voucher_is_refused_before_anything_is_decided():
    with pytest.raises(IllegalTransition):
        decide(view(S.USED))


def test_confirm_uses_a_reservation():
    held = view(S.RESERVED, reserved_until=NOW + timedelta(minutes=5))
    decision = decide(held, operation=Operation.CONFIRM)
    assert (decision.expected, decision.new_status) == (S.RESERVED, S.USED)
    assert [e.operation for e in decision.edrs[-2:]] == [
        "voucher.confirm", "revenue.recognized_by_use",
    ]  # fmt: skip


def test_a_terminated_subscriber_is_refused():

    from tessera.domain.wallet import ServiceState, SubscriberInactive

    gone = dataclasses.replace(new_subscriber("254700", NOW), service_state=ServiceState.TERMINATED)
    with pytest.raises(SubscriberInactive):
        decide_use(
            view(), Operation.REDEEM, gone, new_subscriber=False, activity=NOW, now=NOW,
            bucket_ids=[11, 12], request_id=None, subscriptions=NO_SUBSCRIPTIONS,
        )  # fmt: skip


def test_no_endpoint_wants_the_notices_so_the_outbox_is_empty():
    assert decide(view()).outbox == ()


def test_each_notice_an_endpoint_wants_goes_to_the_outbox_for_each_such_endpoint():
    hooks = (uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3))
    wanted = Subscriptions.of(
        [
            (hooks[0], ["voucher.redeemed"]),
            (hooks[1], ["voucher.redeemed", "fulfilment.requested"]),
            (hooks[2], ["fulfilment.requested"]),
        ],
        [("voucher.redeemed", "en", "{{ serial }} for {{ subscriber }}")],
    )
    decision = decide(view(offer="BUNDLE-5GB"), request_id=uuid.uuid4(), subscriptions=wanted)
    fulfilment, redeemed = decision.outbox
    assert (fulfilment.event_type, fulfilment.endpoints) == ("fulfilment.requested", hooks[1:])
    assert (redeemed.event_type, redeemed.endpoints) == ("voucher.redeemed", hooks[:2])
    assert redeemed.body["message"] == "1007 for 254700"
    assert redeemed.body["language"] == "en"
    assert redeemed.body["data"]["redeemed_at"] == NOW.isoformat()
    assert redeemed.body["occurred_at"] == NOW.isoformat()
    assert fulfilment.body["message"] is None  # no template for it


def test_the_first_template_of_a_type_renders_its_notices():
    hook = uuid.UUID(int=1)
    wanted = Subscriptions.of(
        [(hook, ["voucher.redeemed"])],
        [
            ("voucher.redeemed", "sw", "ya {{ serial }}"),
            ("voucher.redeemed", "en", "of {{ serial }}"),
        ],
    )
    (redeemed,) = decide(view(), subscriptions=wanted).outbox
    assert (redeemed.body["language"], redeemed.body["message"]) == ("sw", "ya 1007")


def _stored(status=S.AVAILABLE, spent=0) -> VoucherView:
    found = view(status, reserved_until=NOW + timedelta(minutes=5))
    value = PurchaseValue(ValueKind.STORED_VALUE, amount_minor=1_000)
    spec = dataclasses.replace(found.voucher_type.spec, buckets=(), purchase_value=value)
    return dataclasses.replace(
        found,
        voucher=dataclasses.replace(found.voucher, value_spent_minor=spent),
        voucher_type=dataclasses.replace(found.voucher_type, spec=spec),
    )


def _spend(found: VoucherView, amount: int, operation=Operation.REDEEM):
    return decide_use(
        found, operation, new_subscriber("254700", NOW), new_subscriber=False,
        activity=NOW, now=NOW, bucket_ids=[], request_id=None,
        subscriptions=NO_SUBSCRIPTIONS, purchase=Money(amount, "EUR"),
    )  # fmt: skip


def test_a_stored_value_use_that_leaves_some_keeps_the_voucher_available():
    decision = _spend(_stored(spent=200), 300)
    assert (decision.expected, decision.new_status, decision.spent) == (
        S.AVAILABLE, S.AVAILABLE, (200, 500),
    )  # fmt: skip
    assert [e.operation for e in decision.edrs] == ["voucher.redeem"]  # no revenue moves yet
    assert decision.edrs[0].amount_minor == 300 and decision.edrs[0].details["left_minor"] == 500
    assert decision.grants == ()


def test_a_stored_value_use_that_spends_the_rest_makes_the_voucher_used():
    decision = _spend(_stored(spent=200), 5_000)
    assert (decision.new_status, decision.spent) == (S.USED, (200, 1_000))
    assert [e.operation for e in decision.edrs] == ["voucher.redeem", "revenue.recognized_by_use"]


def test_a_confirm_for_less_than_the_stored_value_ends_the_hold_and_keeps_the_rest():
    decision = _spend(_stored(S.RESERVED), 100, Operation.CONFIRM)
    assert (decision.expected, decision.new_status) == (S.RESERVED, S.AVAILABLE)


def _marketplace(found: VoucherView) -> VoucherView:
    return dataclasses.replace(found, shared=SharedUse(uuid.uuid4(), uuid.uuid4()))


def test_a_marketplace_use_records_the_issuers_side_apart_without_the_subscriber():
    found = _marketplace(view())
    assert found.shared is not None
    decision = decide(found)
    names = {"issuing_brand": str(found.shared.issuer_id),
             "redeeming_brand": str(found.shared.redeemer_id)}  # fmt: skip
    assert [e.operation for e in decision.edrs] == ["wallet.credit", "wallet.credit",
                                                    "voucher.redeem"]  # fmt: skip
    assert decision.edrs[-1].details.items() >= {**names, "subscriber": "254700"}.items()
    issuer_use, revenue = decision.issuer_edrs
    assert (issuer_use.operation, revenue.operation) == (
        "voucher.redeem",
        "revenue.recognized_by_use",
    )
    assert issuer_use.details.items() >= names.items()
    assert "subscriber" not in issuer_use.details and "buckets" not in issuer_use.details


def test_a_same_brand_use_has_no_issuers_side():
    assert decide(view()).issuer_edrs == ()


def test_a_marketplace_type_with_an_offer_is_refused():
    found = _marketplace(view(offer="BUNDLE"))
    with pytest.raises(FulfilmentUnavailable):
        decide(found, request_id=uuid.uuid4())
