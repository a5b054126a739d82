"""Money is an integer amount of minor units plus an ISO 4217 currency; never a float."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tessera.domain.errors import Conflict, Invalid

# Active ISO 4217 codes (list of 2024), plus XXX for "no currency" (vouchers with no price).
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
    BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD
    EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD
    IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL
    MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
    PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP
    STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED
    VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX
    YER ZAR ZMW ZWG ZWL
    """.split()  # noqa: SIM905
)


def validate_currency(currency: str, field: str = "currency") -> str:
    if currency not in ISO_4217:
        raise Invalid(field, f"'{currency}' is not an ISO 4217 currency code (e.g. EUR, USD, KES)")
    return currency


# Amounts are stored as 64-bit integers on both stores.
MAX_AMOUNT = 2**63 - 1


def validate_minor_units(amount: int, field: str) -> int:
    if amount < 0:
        raise Invalid(field, "must be zero or more (integer minor units)")
    return validate_at_most(amount, field)


def validate_at_most(amount: int, field: str, limit: int = MAX_AMOUNT) -> int:
    if amount > limit:
        raise Invalid(field, f"must be at most {limit}")
    return amount


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        validate_minor_units(self.amount_minor, "amount_minor")
        validate_currency(self.currency)


# --- what a voucher takes off a purchase at a point of sale (seed 002) ---------------------

BASIS_POINTS = 10_000  # 100 %


class ValueKind(StrEnum):
    PERCENTAGE = "percentage"  # basis_points of each purchase, at most cap_minor
    FIXED = "fixed"  # amount_minor off one purchase (never more than the purchase)
    STORED_VALUE = "stored_value"  # amount_minor in all, spent over several purchases


@dataclass(frozen=True, slots=True)
class PurchaseValue:
    """What a voucher is worth at a point of sale, in its type's currency. A percentage or a
    fixed amount is used in one purchase; a stored value stays available while some of it is
    left."""

    kind: ValueKind
    basis_points: int | None = None  # percentage only: hundredths of a percent (1500 = 15 %)
    cap_minor: int | None = None  # percentage only, optional: the most one purchase takes
    amount_minor: int | None = None  # fixed amount and stored value

    def validated(self, field: str = "purchase_value") -> PurchaseValue:
        percentage = self.kind is ValueKind.PERCENTAGE
        if percentage:
            if self.basis_points is None or not 1 <= self.basis_points <= BASIS_POINTS:
                raise Invalid(
                    f"{field}.basis_points",
                    f"a percentage needs 1 to {BASIS_POINTS} hundredths of a percent (1500 = 15 %)",
                )
            if self.amount_minor is not None:
                raise Invalid(f"{field}.amount_minor", "a percentage has no amount (cap_minor?)")
            if self.cap_minor is not None and self.cap_minor <= 0:
                raise Invalid(f"{field}.cap_minor", "must be a positive amount, or omitted")
            if self.cap_minor is not None:
                validate_at_most(self.cap_minor, f"{field}.cap_minor")
            return self
        if self.basis_points is not None or self.cap_minor is not None:
            name = "basis_points" if self.basis_points is not None else "cap_minor"
            raise Invalid(f"{field}.{name}", f"only a percentage takes it, not {self.kind.value}")
        if self.amount_minor is None or self.amount_minor <= 0:
            raise Invalid(f"{field}.amount_minor", "must be a positive amount in minor units")
        validate_at_most(self.amount_minor, f"{field}.amount_minor")
        return self

    @property
    def stored(self) -> bool:
        return self.kind is ValueKind.STORED_VALUE

    def left(self, spent_minor: int) -> int | None:
        """What is left of a stored value once ``spent_minor`` of it is spent (None: not a
        stored value)."""
        if not self.stored or self.amount_minor is None:
            return None
        return max(self.amount_minor - spent_minor, 0)


class ValueSpent(Conflict):
    """A stored value with nothing left (its voucher is used; this answers a race's loser)."""

    code = "value_spent"

    def __init__(self) -> None:
        super().__init__("nothing is left of this voucher's stored value")


@dataclass(frozen=True, slots=True)
class Take:
    """What one purchase takes off with a voucher; for a stored value also what was spent
    before and is left after (the ledger's compare-and-set on the spent amount)."""

    purchase: Money
    taken_minor: int
    spent_before: int | None = None  # stored value only
    left_minor: int | None = None  # stored value only

    @property
    def spent_after(self) -> int | None:
        return None if self.spent_before is None else self.spent_before + self.taken_minor

    @property
    def due_minor(self) -> int:
        return self.purchase.amount_minor - self.taken_minor

    @property
    def exhausts(self) -> bool:
        """A stored value used up by this purchase: the voucher becomes used."""
        return self.left_minor == 0


def purchase_of(amount_minor: int, currency: str, field: str = "purchase") -> Money:
    """A purchase as a point of sale sends it: a positive amount, an ISO 4217 currency."""
    if amount_minor <= 0:
        raise Invalid(f"{field}.amount_minor", "must be a positive amount in minor units")
    validate_at_most(amount_minor, f"{field}.amount_minor")
    validate_currency(currency, f"{field}.currency")
    return Money(amount_minor, currency)


def check_currency(currency: str, purchase: Money) -> None:
    if purchase.currency != currency:
        raise Invalid(
            "purchase.currency",
            f"this voucher is worth {currency}, not {purchase.currency}",
            code="currency_mismatch",
        )


def take_off(value: PurchaseValue, currency: str, purchase: Money | None, spent_minor: int) -> Take:
    """The one rule of what a voucher worth ``value`` (in ``currency``, ``spent_minor`` of a
    stored value already used) takes off ``purchase``. Rounded down: a percentage never takes
    a fraction of a minor unit more than it says. Refuses a missing purchase or one in
    another currency, naming the field."""
    if purchase is None:
        raise Invalid(
            "purchase", f"is required: this voucher takes a {value.kind.value} off a purchase"
        )
    check_currency(currency, purchase)
    amount = purchase.amount_minor
    if value.kind is ValueKind.PERCENTAGE:
        assert value.basis_points is not None
        taken = amount * value.basis_points // BASIS_POINTS
        if value.cap_minor is not None:
            taken = min(taken, value.cap_minor)
        return Take(purchase, taken)
    assert value.amount_minor is not None
    if value.kind is ValueKind.FIXED:
        return Take(purchase, min(amount, value.amount_minor))
    left = value.left(spent_minor) or 0
    if left == 0:
        raise ValueSpent()
    taken = min(amount, left)
    return Take(purchase, taken, spent_minor, left - taken)
