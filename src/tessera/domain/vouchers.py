"""Vouchers as values, and the rules that say whether one can be used right now and why not.

Expiry is judged against the time of the activity (when the subscriber used the voucher),
not the time the system hears of it: a use that happened before expiry and is reported
within the grace period is accepted. Nothing here does I/O.
"""

from __future__ import annotations

import string
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tessera.domain.codes import MAX_LENGTH, MIN_LENGTH, normalize
from tessera.domain.errors import Conflict, Invalid, NotFound, TooManyAttempts
from tessera.domain.lifecycle import LifecycleRules
from tessera.domain.statuses import Operation, VoucherStatus, allowed_operations, next_status

S = VoucherStatus


@dataclass(frozen=True, slots=True)
class Voucher:
    id: int
    serial: int
    code_last4: str
    voucher_type_id: uuid.UUID
    lifecycle_id: uuid.UUID
    batch_id: uuid.UUID | None
    status: VoucherStatus
    issued_at: datetime
    activated_at: datetime | None
    reserved_until: datetime | None
    status_changed_at: datetime
    subscriber_id: uuid.UUID | None
    replaces_id: int | None
    value_spent_minor: int = 0  # of a stored value (domain/money.py take_off)

    def hold_lapsed(self, now: datetime) -> bool:
        """A reservation whose hold time has passed: it counts as released."""
        return (
            self.status is S.RESERVED
            and self.reserved_until is not None
            and self.reserved_until <= now
        )

    def effective_status(self, now: datetime) -> VoucherStatus:
        """The status as the rules see it: a lapsed hold is available again even before
        the sweeper writes the release down."""
        return S.AVAILABLE if self.hold_lapsed(now) else self.status


class Verdict(StrEnum):
    """Why a voucher cannot be used (or ``usable``); validate answers with one of these."""

    USABLE = "usable"
    UNKNOWN = "unknown"
    PENDING = "pending"
    RESERVED = "reserved"
    USED = "used"
    EXPIRED = "expired"
    CANCELED = "canceled"
    CLOSED = "closed"
    REISSUED = "reissued"
    BARRED = "barred"


_VERDICT_OF_STATUS = {
    S.AVAILABLE: Verdict.USABLE,
    S.PENDING: Verdict.PENDING,
    S.RESERVED: Verdict.RESERVED,
    S.USED: Verdict.USED,
    S.EXPIRED: Verdict.EXPIRED,
    S.CANCELED: Verdict.CANCELED,
    S.CLOSED: Verdict.CLOSED,
    S.REISSUED: Verdict.REISSUED,
}

# Activity times a little ahead of our clock are tolerated (point-of-sale clocks drift).
CLOCK_SKEW = timedelta(minutes=5)


def expiry_of(voucher: Voucher, rules: LifecycleRules) -> datetime | None:
    return rules.expiry(voucher.issued_at, voucher.activated_at)


def is_time_expired(
    voucher: Voucher, rules: LifecycleRules, activity_at: datetime, now: datetime
) -> bool:
    """Expired for a use at ``activity_at`` reported at ``now``: the activity came at or
    after expiry, or the report came after the grace period ended."""
    expiry = expiry_of(voucher, rules)
    if expiry is None:  # a from-activation voucher that was never activated
        return False
    return activity_at >= expiry or now >= expiry + rules.grace


def check_activity_time(activity_at: datetime | None, now: datetime) -> datetime:
    if activity_at is None:
        return now
    if activity_at > now + CLOCK_SKEW:
        raise Invalid("activity_at", "must not be in the future", code="activity_in_future")
    return activity_at


def verdict(
    voucher: Voucher, rules: LifecycleRules, activity_at: datetime, now: datetime
) -> Verdict:
    """Whether the voucher could be redeemed by an activity at ``activity_at``, and why not."""
    status = voucher.effective_status(now)
    found = _VERDICT_OF_STATUS[status]
    if found is Verdict.USABLE and is_time_expired(voucher, rules, activity_at, now):
        return Verdict.EXPIRED
    return found


# --- refusals, as domain errors with stable codes -----------------------------------------


class CodeUnknown(NotFound):
    code = "code_unknown"

    def __init__(self) -> None:
        super().__init__("no voucher has this code", reason=Verdict.UNKNOWN.value)


class VoucherNotFound(NotFound):
    code = "voucher_not_found"

    def __init__(self) -> None:
        super().__init__("no voucher has this serial number")


class VoucherExpired(Conflict):
    code = "voucher_expired"

    def __init__(self, voucher: Voucher, expiry: datetime | None, now: datetime) -> None:
        status = voucher.effective_status(now)
        super().__init__(
            "the voucher had expired at the time of the activity, or its grace period is over",
            status=status.value,
            reason=Verdict.EXPIRED.value,
            expires_at=expiry.isoformat() if expiry else None,
            allowed_operations=[op.value for op in allowed_operations(status)],
        )


class Barred(TooManyAttempts):
    code = "too_many_attempts"

    def __init__(self, until: datetime, now: datetime) -> None:
        retry_after = max(1, int((until - now).total_seconds() + 0.999))
        super().__init__(
            "too many wrong codes: try again later",
            reason=Verdict.BARRED.value,
            barred_until=until.isoformat(),
            retry_after=retry_after,
        )
        self.retry_after = retry_after


class CodeMistyped(Invalid):
    """A code no format the tenant issues in can have (its check character, length or
    symbols are wrong): a typing error, never a guess at a real code, so no bar counts it."""

    code = "code_mistyped"

    def __init__(self) -> None:
        super().__init__(
            "code",
            "mistyped: no voucher can have this code (check each character and type it again)",
            code=self.code,
        )


class CreditSpent(Conflict):
    code = "credit_spent"

    def __init__(self, balance_type: str, bucket_id: int) -> None:
        super().__init__(
            f"the {balance_type} credited by this redemption has already been spent in part, "
            "so the redemption cannot be reversed",
            balance_type=balance_type,
            bucket_id=bucket_id,
        )


def plan(
    voucher: Voucher,
    operation: Operation,
    rules: LifecycleRules,
    activity_at: datetime,
    now: datetime,
) -> tuple[VoucherStatus, VoucherStatus]:
    """(status before, status after) for ``operation`` on ``voucher``, or the refusal.

    Uses by a subscriber (reserve, confirm, redeem) are judged on the activity time; reissue
    and cancel are refused from expiry on (as a use now would be), since neither may revive
    or refund an expired voucher. Close, release and reverse ignore expiry (a used
    voucher never expires).
    """
    # Releasing a lapsed hold writes down what the sweeper would: it starts from reserved.
    before = voucher.status if operation is Operation.RELEASE else voucher.effective_status(now)
    after = next_status(before, operation)
    if operation in _JUDGED_ON_ACTIVITY:
        if is_time_expired(voucher, rules, activity_at, now):
            raise VoucherExpired(voucher, expiry_of(voucher, rules), now)
    elif operation in _JUDGED_NOW and is_time_expired(voucher, rules, now, now):
        raise VoucherExpired(voucher, expiry_of(voucher, rules), now)
    return before, after


_JUDGED_ON_ACTIVITY = frozenset({Operation.RESERVE, Operation.CONFIRM, Operation.REDEEM})
_JUDGED_NOW = frozenset({Operation.REISSUE, Operation.CANCEL})


# --- codes as typed at a point of sale ----------------------------------------------------

_CODE_SYMBOLS = frozenset(string.ascii_uppercase + string.digits)
# A prefix is at most a handful of characters, plus one check character.
_LONGEST_CODE = MAX_LENGTH + 16 + 1


def is_plausible_code(raw: str) -> bool:
    """A cheap shape check before any lookup: letters and digits of a possible length.

    Formats (length, alphabet, prefix, check character) are chosen per batch, so the exact
    ``is_well_formed`` check needs the batch, which only the lookup finds; anything this
    lets through that is not a code simply finds no voucher.
    """
    code = normalize(raw)
    return MIN_LENGTH <= len(code) <= _LONGEST_CODE and _CODE_SYMBOLS.issuperset(code)


# --- barring ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BarPolicy:
    """After ``threshold`` wrong codes within ``window`` from one subscriber (the one
    presenting codes), every attempt from that subscriber is refused for ``period``; an API
    key is barred the same way at its own, higher ``key_threshold``, so a till serving many
    customers keeps working while a script guessing from it is stopped."""

    threshold: int = 5
    window: timedelta = timedelta(minutes=15)
    period: timedelta = timedelta(minutes=30)
    key_threshold: int = 50

    def threshold_of(self, scope: str) -> int:
        return self.key_threshold if scope.startswith(KEY_SCOPE) else self.threshold


KEY_SCOPE, SUBSCRIBER_SCOPE = "key:", "subscriber:"


def bar_scopes(key_id: uuid.UUID | None, subscriber: str | None) -> list[str]:
    scopes = []
    if key_id is not None:
        scopes.append(f"{KEY_SCOPE}{key_id}")
    if subscriber:
        scopes.append(f"{SUBSCRIBER_SCOPE}{subscriber}")
    return scopes
