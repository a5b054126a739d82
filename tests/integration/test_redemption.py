"""Redemption on each store: the seed rules, each in its own test, and exactly-once effects."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tessera.adapters.db.repositories.edrs import EdrFilter
from tessera.domain.catalog import BucketTemplate
from tessera.domain.codes import generate_codes
from tessera.domain.errors import Conflict, Invalid
from tessera.domain.lifecycle import ValidityKind
from tessera.domain.statuses import IllegalTransition, VoucherStatus
from tessera.domain.vouchers import Barred, CodeUnknown, CreditSpent, Verdict, VoucherExpired
from tessera.services import catalog, notifications, redemption, wallets
from tessera.services.edrs import list_edrs
from tessera.services.expiry import expire_tenant, purge_tenant
from tessera.services.issuing import DEFAULT_FORMAT
from vouchering import POLICY, by_code, by_serial, issue, make_lifecycle, make_type

S = VoucherStatus


@pytest.fixture
def tid(tenant):
    return tenant[0]


def run(container, tid, op, request, policy=POLICY):
    return op(container.uow(tid), container.code_secret, request, policy)


def totals(container, tid, subscriber):
    return wallets.get_wallet(container.uow(tid), subscriber).totals(container.clock())


def status_of(container, tid, serial):
    return redemption.describe(container.uow(tid), serial).voucher.status


def edr_ops(container, tid, serial):
    page = list_edrs(
        container.uow(tid), EdrFilter(subject_type="voucher", subject_id=str(serial)), None, 100
    )
    return [e.operation for e in page.items]


def test_redeem_credits_the_wallet_once_and_records_it(container, tid):
    type_id = make_type(container, tid)
    voucher, code = issue(container, tid, type_id)
    outcome = run(container, tid, redemption.redeem, by_code(code, "254700000001"))
    assert outcome.voucher.status is S.USED and outcome.status_before is S.AVAILABLE
    assert totals(container, tid, "254700000001") == {"data_mb": 500}
    with pytest.raises(IllegalTransition) as caught:
        run(container, tid, redemption.redeem, by_code(code, "254700000001"))
    assert caught.value.extra["status"] == "used"
    assert "reverse" in caught.value.extra["allowed_operations"]
    assert totals(container, tid, "254700000001") == {"data_mb": 500}
    assert edr_ops(container, tid, voucher.serial) == [
        "voucher.issue", "revenue.added", "voucher.redeem", "revenue.recognized_by_use",
        "voucher.redeem_refused",
    ]  # fmt: skip


def test_codes_are_matched_after_normalization(container, tid):
    type_id = make_type(container, tid)
    _voucher, code = issue(container, tid, type_id)
    typed = f" {code[:4]}-{code[4:8]} {code[8:]} ".lower()
    assert run(container, tid, redemption.redeem, by_code(typed, "s1")).voucher.status is S.USED


def test_validate_says_why_not_and_what_it_would_grant(container, tid):
    type_id = make_type(container, tid)
    _voucher, code = issue(container, tid, type_id)
    result = run(container, tid, redemption.validate, by_code(code))
    assert result.verdict is Verdict.USABLE
    assert result.view.voucher_type.spec.buckets[0].amount == 500
    run(container, tid, redemption.redeem, by_code(code, "s1"))
    assert run(container, tid, redemption.validate, by_code(code)).verdict is Verdict.USED
    (unknown,) = generate_codes(DEFAULT_FORMAT, 1)
    assert run(container, tid, redemption.validate, by_code(unknown)).verdict is Verdict.UNKNOWN
    _pending, pcode = issue(container, tid, type_id, S.PENDING)
    assert run(container, tid, redemption.validate, by_code(pcode)).verdict is Verdict.PENDING


def test_grace_period_accepts_a_late_report_of_a_use_before_expiry(container, tid, clock):
    type_id = make_type(container, tid, validity_days=30, grace_days=7)
    _v1, code1 = issue(container, tid, type_id)
    _v2, code2 = issue(container, tid, type_id)
    issued = clock()
    clock.advance(days=33)  # expired 3 days ago, within grace
    before_expiry = issued + timedelta(days=29)
    outcome = run(
        container, tid, redemption.redeem, by_code(code1, "s1", activity_at=before_expiry)
    )
    assert outcome.voucher.status is S.USED
    with pytest.raises(VoucherExpired):  # the activity itself came after expiry
        run(container, tid, redemption.redeem, by_code(code2, "s1"))
    clock.advance(days=5)  # grace over: even a use before expiry is too late to report
    with pytest.raises(VoucherExpired):
        run(container, tid, redemption.redeem, by_code(code2, "s1", activity_at=before_expiry))


def test_used_voucher_never_expires(container, tid, clock):
    type_id = make_type(container, tid, validity_days=1, grace_days=0)
    used, code = issue(container, tid, type_id)
    unused, _ = issue(container, tid, type_id)
    run(container, tid, redemption.redeem, by_code(code, "s1"))
    clock.advance(days=5)
    report = expire_tenant(container.uow(tid))
    assert report.expired == 1
    assert status_of(container, tid, used.serial) is S.USED
    assert status_of(container, tid, unused.serial) is S.EXPIRED


def test_pending_voucher_past_expiry_is_closed_by_the_sweeper_with_an_edr(container, tid, clock):
    type_id = make_type(container, tid, validity_days=1, grace_days=1, cost=750)
    pending, _ = issue(container, tid, type_id, status=S.PENDING)
    sold, _ = issue(container, tid, type_id)
    clock.advance(days=1, hours=12)  # past expiry, within grace: neither moves yet
    assert expire_tenant(container.uow(tid)).closed == 0
    clock.advance(days=1)
    report = expire_tenant(container.uow(tid))
    assert (report.expired, report.closed) == (1, 1)
    assert status_of(container, tid, pending.serial) is S.CLOSED
    assert status_of(container, tid, sold.serial) is S.EXPIRED
    assert expire_tenant(container.uow(tid)).closed == 0
    page = list_edrs(container.uow(tid), EdrFilter(subject_id=str(pending.serial)), None, 10)
    close = [e for e in page.items if e.operation == "voucher.close"]
    assert len(close) == 1 and close[0].details["cause"] == "expired_pending"
    # never sold: no revenue moves
    assert close[0].amount_minor is None and "revenue" not in close[0].details


def test_pending_voucher_of_a_from_activation_lifecycle_never_expires(container, tid, clock):
    type_id = make_type(
        container, tid, validity_days=1, grace_days=0, validity_kind=ValidityKind.FROM_ACTIVATION
    )
    pending, _ = issue(container, tid, type_id, status=S.PENDING)
    clock.advance(days=30)
    assert expire_tenant(container.uow(tid)).closed == 0
    assert status_of(container, tid, pending.serial) is S.PENDING


def test_expiry_sweep_recognizes_revenue_with_the_voucher_cost(container, tid, clock):
    type_id = make_type(container, tid, validity_days=1, grace_days=2, cost=750)
    voucher, _ = issue(container, tid, type_id)
    clock.advance(days=2)  # expired, but within grace: not yet
    assert expire_tenant(container.uow(tid)).expired == 0
    clock.advance(days=1, seconds=1)
    assert expire_tenant(container.uow(tid)).expired == 1
    assert expire_tenant(container.uow(tid)).expired == 0
    page = list_edrs(container.uow(tid), EdrFilter(operation="voucher.expire"), None, 10)
    (edr,) = page.items
    assert edr.subject_id == str(voucher.serial)
    assert (edr.amount_minor, edr.currency, edr.details["revenue"]) == (750, "EUR", "recognized")


def test_reissue_only_from_available_or_reserved(container, tid):
    type_id = make_type(container, tid)
    avail, _ = issue(container, tid, type_id)
    reserved, rcode = issue(container, tid, type_id)
    run(container, tid, redemption.reserve, by_code(rcode, "s1"))
    used, ucode = issue(container, tid, type_id)
    run(container, tid, redemption.redeem, by_code(ucode, "s1"))

    out = run(container, tid, redemption.reissue, by_serial(avail.serial))
    assert out.voucher.status is S.REISSUED
    assert out.replacement.status is S.AVAILABLE and out.replacement.replaces_id == avail.id
    new = run(container, tid, redemption.redeem, by_code(out.replacement_code, "s2"))
    assert new.voucher.serial == out.replacement.serial

    out = run(container, tid, redemption.reissue, by_serial(reserved.serial))
    assert out.replacement.status is S.RESERVED
    assert out.replacement.reserved_until is not None

    for serial in (used.serial, avail.serial):
        with pytest.raises(IllegalTransition):
            run(container, tid, redemption.reissue, by_serial(serial))


def test_a_reissued_reservation_keeps_its_subscriber_whom_a_confirm_credits(container, tid):
    type_id = make_type(container, tid)
    _voucher, code = issue(container, tid, type_id)
    run(container, tid, redemption.reserve, by_code(code, "s1"))
    out = run(container, tid, redemption.reissue, by_code(code))
    assert out.replacement.status is S.RESERVED

    confirmed = run(container, tid, redemption.confirm, by_serial(out.replacement.serial))
    assert confirmed.subscriber == "s1"
    assert totals(container, tid, "s1") == {"data_mb": 500}


def test_inactive_type_still_redeems(container, tid):
    type_id = make_type(container, tid)
    _voucher, code = issue(container, tid, type_id)
    catalog.update_voucher_type(container.uow(tid), type_id, {"active": False})
    assert run(container, tid, redemption.redeem, by_code(code, "s1")).voucher.status is S.USED
    assert totals(container, tid, "s1") == {"data_mb": 500}


def test_type_edit_is_seen_at_redemption(container, tid):
    type_id = make_type(container, tid)
    _voucher, code = issue(container, tid, type_id)
    catalog.update_voucher_type(
        container.uow(tid), type_id, {"buckets": (BucketTemplate("airtime", 1000, None),)}
    )
    outcome = run(container, tid, redemption.redeem, by_code(code, "s1"))
    assert [(c.balance_type, c.amount, c.expires_at) for c in outcome.credits] == [
        ("airtime", 1000, None)
    ]
    assert totals(container, tid, "s1") == {"airtime": 1000}


def test_lifecycle_stays_as_assigned_at_creation(container, tid, clock):
    short = make_lifecycle(container, tid, validity_days=1, grace_days=0)
    long = make_lifecycle(container, tid, validity_days=100, grace_days=0)
    type_id = make_type(container, tid, lifecycle_id=short)
    old, old_code = issue(container, tid, type_id)
    catalog.update_voucher_type(container.uow(tid), type_id, {"lifecycle_id": long})
    new, new_code = issue(container, tid, type_id)
    assert (old.lifecycle_id, new.lifecycle_id) == (short, long)
    clock.advance(days=2)
    with pytest.raises(VoucherExpired):
        run(container, tid, redemption.redeem, by_code(old_code, "s1"))
    assert run(container, tid, redemption.redeem, by_code(new_code, "s1")).voucher.status is S.USED


def test_lifecycle_edit_applies_to_all_its_vouchers(container, tid, clock):
    lifecycle = make_lifecycle(container, tid, validity_days=10, grace_days=0)
    type_id = make_type(container, tid, lifecycle_id=lifecycle)
    _a, code_a = issue(container, tid, type_id)
    _b, code_b = issue(container, tid, type_id)
    clock.advance(days=5)
    catalog.update_lifecycle(container.uow(tid), lifecycle, {"validity_days": 3})
    with pytest.raises(VoucherExpired):
        run(container, tid, redemption.redeem, by_code(code_a, "s1"))
    catalog.update_lifecycle(container.uow(tid), lifecycle, {"validity_days": 20})
    assert run(container, tid, redemption.redeem, by_code(code_b, "s1")).voucher.status is S.USED


def test_reserve_then_confirm_credits_the_reserving_subscriber(container, tid):
    type_id = make_type(container, tid)
    _voucher, code = issue(container, tid, type_id)
    held = run(container, tid, redemption.reserve, by_code(code, "guest-1"))
    assert held.voucher.status is S.RESERVED and held.voucher.reserved_until is not None
    assert run(container, tid, redemption.validate, by_code(code)).verdict is Verdict.RESERVED
    with pytest.raises(IllegalTransition):
        run(container, tid, redemption.redeem, by_code(code, "other"))
    done = run(container, tid, redemption.confirm, by_code(code))
    assert done.voucher.status is S.USED and done.subscriber == "guest-1"
    assert totals(container, tid, "guest-1") == {"data_mb": 500}


def test_a_lapsed_hold_counts_as_released_and_the_sweeper_writes_it_down(container, tid, clock):
    type_id = make_type(container, tid, reservation_hold_seconds=60)
    a, code_a = issue(container, tid, type_id)
    b, code_b = issue(container, tid, type_id)
    run(container, tid, redemption.reserve, by_code(code_a, "s1"))
    run(container, tid, redemption.reserve, by_code(code_b, "s1"))
    clock.advance(seconds=61)
    assert run(container, tid, redemption.validate, by_code(code_a)).verdict is Verdict.USABLE
    with pytest.raises(IllegalTransition):
        run(container, tid, redemption.confirm, by_code(code_a))
    assert run(container, tid, redemption.redeem, by_code(code_a, "s2")).status_before is (
        S.AVAILABLE
    )
    assert edr_ops(container, tid, a.serial)[-3:] == [
        "voucher.release", "voucher.redeem", "revenue.recognized_by_use",
    ]  # fmt: skip
    assert expire_tenant(container.uow(tid)).released == 1
    assert status_of(container, tid, b.serial) is S.AVAILABLE


def test_release_cancel_close(container, tid):
    type_id = make_type(container, tid)
    _v1, c1 = issue(container, tid, type_id)
    run(container, tid, redemption.reserve, by_code(c1))
    assert run(container, tid, redemption.release, by_code(c1)).voucher.status is S.AVAILABLE
    assert run(container, tid, redemption.cancel, by_code(c1)).voucher.status is S.CANCELED
    pending, _ = issue(container, tid, type_id, S.PENDING)
    with pytest.raises(IllegalTransition):
        run(container, tid, redemption.cancel, by_serial(pending.serial))
    assert run(container, tid, redemption.close, by_serial(pending.serial)).voucher.status is (
        S.CLOSED
    )
    with pytest.raises(IllegalTransition) as caught:
        run(container, tid, redemption.redeem, by_code(c1, "s1"))
    assert caught.value.extra == {
        "status": "canceled",
        "operation": "redeem",
        "allowed_operations": [],
    }


def test_reverse_debits_the_credit_back(container, tid):
    type_id = make_type(
        container, tid, buckets=(BucketTemplate("data_mb", 500, 30), BucketTemplate("sms", 10))
    )
    voucher, code = issue(container, tid, type_id)
    run(container, tid, redemption.redeem, by_code(code, "s1"))
    out = run(container, tid, redemption.reverse, by_serial(voucher.serial, reason="mistake"))
    assert out.voucher.status is S.AVAILABLE
    assert totals(container, tid, "s1") == {}
    run(container, tid, redemption.redeem, by_code(code, "s2"))
    assert totals(container, tid, "s2") == {"data_mb": 500, "sms": 10}


def test_reverse_is_refused_when_the_credit_was_spent(container, tid):
    type_id = make_type(container, tid)
    voucher, code = issue(container, tid, type_id)
    run(container, tid, redemption.redeem, by_code(code, "s1"))
    wallets.adjust_wallet(container.uow(tid), "s1", "debit", "data_mb", 1)
    with pytest.raises(CreditSpent):
        run(container, tid, redemption.reverse, by_serial(voucher.serial))
    assert status_of(container, tid, voucher.serial) is S.USED
    assert totals(container, tid, "s1") == {"data_mb": 499}


def test_fulfilment_offer_records_a_request_instead_of_buckets(container, tid):
    notifications.create_endpoint(
        container.uow(tid), container.webhook_targets, "http://127.0.0.1:9/orders",
        ["fulfilment.requested"],
    )  # fmt: skip
    type_id = make_type(container, tid, offer="PLAN-XL-30D")
    voucher, code = issue(container, tid, type_id)
    outcome = run(container, tid, redemption.redeem, by_code(code, "s1"))
    assert outcome.voucher.status is S.USED and outcome.credits == []
    uow = container.uow(tid)
    with uow:
        (request,) = uow.fulfilment.of_voucher(voucher.id)
    assert (request["offer"], request["action"], request["status"]) == (
        "PLAN-XL-30D",
        "activate",
        "pending",
    )


def test_wrong_codes_bar_the_subscriber_and_the_key_then_the_bar_ends(container, tid, clock):
    type_id = make_type(container, tid)
    _voucher, code = issue(container, tid, type_id)
    for unknown in generate_codes(DEFAULT_FORMAT, POLICY.threshold):
        with pytest.raises(CodeUnknown):
            run(container, tid, redemption.redeem, by_code(unknown, "guesser"))
    with pytest.raises(Barred):  # a correct code too
        run(container, tid, redemption.redeem, by_code(code, "guesser"))
    ops = [e.operation for e in list_edrs(container.uow(tid), EdrFilter(), None, 500).items]
    assert ops.count("voucher.validate_failed") == POLICY.threshold
    assert ops.count("voucher.bar") == 1
    clock.advance(seconds=POLICY.period.total_seconds() + 1)
    assert run(container, tid, redemption.redeem, by_code(code, "guesser")).voucher.status is (
        S.USED
    )


def test_wrong_codes_outside_the_window_do_not_add_up(container, tid, clock):
    type_id = make_type(container, tid)
    _voucher, code = issue(container, tid, type_id)
    unknown = generate_codes(DEFAULT_FORMAT, POLICY.threshold)
    for wrong in unknown[:-1]:
        with pytest.raises(CodeUnknown):
            run(container, tid, redemption.redeem, by_code(wrong, "s1"))
    clock.advance(seconds=POLICY.window.total_seconds() + 1)
    with pytest.raises(CodeUnknown):
        run(container, tid, redemption.redeem, by_code(unknown[-1], "s1"))
    assert run(container, tid, redemption.redeem, by_code(code, "s1")).voucher.status is S.USED


def test_purge_deletes_finished_vouchers_after_retention_and_keeps_their_edrs(
    container, tid, clock
):
    type_id = make_type(container, tid, retention_days=10)
    used, code = issue(container, tid, type_id)
    kept, _ = issue(container, tid, type_id)
    run(container, tid, redemption.redeem, by_code(code, "s1"))
    clock.advance(days=9)
    assert purge_tenant(container.uow(tid)) == 0
    clock.advance(days=2)
    assert purge_tenant(container.uow(tid)) == 1
    with pytest.raises(Exception, match="serial"):
        redemption.describe(container.uow(tid), used.serial)
    assert status_of(container, tid, kept.serial) is S.AVAILABLE
    assert edr_ops(container, tid, used.serial) == [
        "voucher.issue", "revenue.added", "voucher.redeem", "revenue.recognized_by_use",
        "voucher.purge",
    ]  # fmt: skip


def test_activity_in_the_future_is_refused(container, tid, clock):
    type_id = make_type(container, tid)
    _voucher, code = issue(container, tid, type_id)
    with pytest.raises(Invalid):
        run(
            container,
            tid,
            redemption.redeem,
            by_code(code, "s1", activity_at=clock() + timedelta(hours=1)),
        )


def test_fixed_date_lifecycle(container, tid, clock):
    type_id = make_type(
        container,
        tid,
        validity_kind=ValidityKind.FIXED_DATE,
        validity_days=None,
        expires_at=clock() + timedelta(days=1),
        grace_days=1,
    )
    voucher, _ = issue(container, tid, type_id)
    clock.advance(days=1, hours=23)
    assert expire_tenant(container.uow(tid)).expired == 0
    clock.advance(hours=2)
    assert expire_tenant(container.uow(tid)).expired == 1
    assert status_of(container, tid, voucher.serial) is S.EXPIRED


def test_reservations_need_a_hold_time(container, tid):
    type_id = make_type(container, tid, reservation_hold_seconds=0)
    _voucher, code = issue(container, tid, type_id)
    with pytest.raises(Conflict) as caught:
        run(container, tid, redemption.reserve, by_code(code))
    assert caught.value.code == "reservation_not_allowed"
