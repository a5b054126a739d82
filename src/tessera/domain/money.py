"""Money is an integer amount of minor units plus an ISO 4217 currency; never a float."""

from __future__ import annotations

from dataclasses import dataclass

from tessera.domain.errors import Invalid

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
