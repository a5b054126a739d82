"""Customer care's read path: what a support screen asks of the store, and what it is shown.

"What did this number redeem?", "why didn't I get my bonus?": the lookups are read-only
views (vouchers by subscriber, last four characters, status, type, batch, serial range; a
subscriber's history, aggregates and caps; rewards). Their filters are checked here, each
refusal naming its field; the store answers them in ``adapters/db/repositories/care.py``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tessera.domain.aggregates import AggregateDefinition
from tessera.domain.codes import normalize
from tessera.domain.errors import Invalid
from tessera.domain.statuses import VoucherStatus
from tessera.domain.vouchers import Voucher
from tessera.domain.wallet import validate_external_id


def _window(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and until <= since:
        raise Invalid("until", "must be later than since")


@dataclass(frozen=True, slots=True)
class VoucherQuery:
    """Vouchers matching every filter given, in serial order. ``since``/``until`` bound the
    last change of status (for a redeemed voucher: when it was redeemed)."""

    subscriber: str | None = None
    status: VoucherStatus | None = None
    voucher_type_id: uuid.UUID | None = None
    batch_id: uuid.UUID | None = None
    last4: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    serial_from: int | None = None
    serial_to: int | None = None

    def validated(self) -> VoucherQuery:
        subscriber, last4 = self.subscriber, self.last4
        if subscriber is not None:
            try:
                subscriber = validate_external_id(subscriber)
            except Invalid as exc:
                raise Invalid("subscriber", exc.reason) from None
        if last4 is not None:
            last4 = normalize(last4)
            if len(last4) != 4 or not last4.isalnum() or not last4.isascii():
                raise Invalid("last4", "must be the last four letters or digits of a code")
        _window(self.since, self.until)
        if (
            self.serial_from is not None
            and self.serial_to is not None
            and self.serial_to < self.serial_from
        ):
            raise Invalid("serial_to", "must not be below serial_from")
        return VoucherQuery(
            subscriber,
            self.status,
            self.voucher_type_id,
            self.batch_id,
            last4,
            self.since,
            self.until,
            self.serial_from,
            self.serial_to,
        )


@dataclass(frozen=True, slots=True)
class VoucherLookup:
    """A voucher as a support screen shows it: with its holder and its expiry as of now."""

    voucher: Voucher
    subscriber: str | None
    expires_at: datetime | None


class HistoryKind(StrEnum):
    REDEMPTION = "redemption"
    REVERSAL = "reversal"
    RESERVATION = "reservation"
    RELEASE = "release"
    REWARD = "reward"
    REWARD_REVERSAL = "reward_reversal"
    DISTRIBUTION = "distribution"
    VALIDATION = "validation"
    REFUSED = "refused"  # a use of a voucher refused (voucher.<operation>_refused)
    WRONG_CODE = "wrong_code"
    BAR = "bar"
    WALLET_CREDIT = "wallet_credit"
    WALLET_DEBIT = "wallet_debit"
    PROFILE = "profile"
    SERVICE_STATE = "service_state"
    OTHER = "other"


# What each EDR operation is in a subscriber's history; anything else is "other".
KIND_OF: dict[str, HistoryKind] = {
    "voucher.redeem": HistoryKind.REDEMPTION,
    "voucher.confirm": HistoryKind.REDEMPTION,
    "voucher.reverse": HistoryKind.REVERSAL,
    "voucher.reserve": HistoryKind.RESERVATION,
    "voucher.release": HistoryKind.RELEASE,
    "reward.grant": HistoryKind.REWARD,
    "reward.reverse": HistoryKind.REWARD_REVERSAL,
    "list.distribute": HistoryKind.DISTRIBUTION,
    "voucher.validate": HistoryKind.VALIDATION,
    "voucher.validate_failed": HistoryKind.WRONG_CODE,
    "voucher.bar": HistoryKind.BAR,
    "wallet.credit": HistoryKind.WALLET_CREDIT,
    "wallet.debit": HistoryKind.WALLET_DEBIT,
    "subscriber.create": HistoryKind.PROFILE,
    "subscriber.update": HistoryKind.PROFILE,
    "subscriber.state_change": HistoryKind.SERVICE_STATE,
}


REFUSED_SUFFIX = "_refused"


@dataclass(frozen=True, slots=True)
class KindFilter:
    """The EDR operations that make up some kinds: those named, any ending in
    ``_refused`` (refused), any other operation (other)."""

    operations: tuple[str, ...]
    refused: bool
    other: bool


def kind_filter(kinds: frozenset[HistoryKind]) -> KindFilter | None:
    """None: every kind."""
    if not kinds:
        return None
    named = tuple(sorted(op for op, kind in KIND_OF.items() if kind in kinds))
    return KindFilter(named, HistoryKind.REFUSED in kinds, HistoryKind.OTHER in kinds)


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    subscriber: str
    kinds: frozenset[HistoryKind] = frozenset()
    since: datetime | None = None
    until: datetime | None = None

    def validated(self) -> HistoryQuery:
        _window(self.since, self.until)
        return HistoryQuery(
            validate_external_id(self.subscriber), self.kinds, self.since, self.until
        )


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One EDR about the subscriber, said as what it was for them."""

    id: int
    at: datetime
    kind: HistoryKind
    operation: str
    subject_type: str
    subject_id: str
    status_before: str | None
    status_after: str | None
    amount_minor: int | None
    currency: str | None
    details: dict[str, Any]


def kind_of(operation: str) -> HistoryKind:
    if operation.endswith(REFUSED_SUFFIX):
        return HistoryKind.REFUSED
    return KIND_OF.get(operation, HistoryKind.OTHER)


@dataclass(frozen=True, slots=True)
class AggregateReading:
    """An aggregate as a condition reads it at ``at``, with the window that makes it up."""

    definition: AggregateDefinition
    value: float | int
    window_from: datetime
    window_until: datetime
    buckets: dict[str, float]


@dataclass(frozen=True, slots=True)
class CapReading:
    """Rewards a campaign has counted for the subscriber in one cap period."""

    campaign_id: uuid.UUID
    campaign: str
    period: str
    count: int
    per_subscriber: int | None
    current: bool  # the period a reward at ``at`` would count in


@dataclass(frozen=True, slots=True)
class RewardQuery:
    campaign_id: uuid.UUID | None = None
    subscriber: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def validated(self) -> RewardQuery:
        subscriber = self.subscriber
        if subscriber is not None:
            try:
                subscriber = validate_external_id(subscriber)
            except Invalid as exc:
                raise Invalid("subscriber", exc.reason) from None
        _window(self.since, self.until)
        return RewardQuery(self.campaign_id, subscriber, self.since, self.until)


@dataclass(frozen=True, slots=True)
class RewardView:
    id: uuid.UUID
    campaign_id: uuid.UUID
    event_id: str
    subscriber: str
    kind: str
    details: dict[str, Any]  # never a code: the rewards engine stores none
    funding_partner: str | None
    cost_minor: int
    currency: str
    status: str
    rewarded_at: datetime
    reversed_at: datetime | None
