"""What the tenants of a group owe each other for marketplace uses (pure)."""

import uuid
from datetime import UTC, datetime

from tessera.domain.marketplace import Balance, SettlementLine, Side, balances

NOW = datetime(2026, 12, 8, tzinfo=UTC)
A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))


def line(side, issuer, redeemer, amount=500, currency="EUR"):
    return SettlementLine(1, NOW, "7", side, issuer, redeemer, amount, currency)


def test_an_issuer_owes_the_redeeming_brand_and_the_redeeming_brand_is_owed():
    assert line(Side.ISSUER, A, B).counterparty == B
    assert line(Side.ISSUER, A, B).signed_minor == -500
    assert line(Side.REDEEMER, A, B).counterparty == A
    assert line(Side.REDEEMER, A, B).signed_minor == 500


def test_balances_net_each_counterparty_and_currency_apart():
    found = balances([
        line(Side.ISSUER, A, B), line(Side.ISSUER, A, B, 100),  # A owes B 600
        line(Side.REDEEMER, B, A, 200),  # B owes A 200
        line(Side.ISSUER, A, C, 50, "KES"),
    ])  # fmt: skip
    assert found == sorted(
        [Balance(B, "EUR", 3, -400), Balance(C, "KES", 1, -50)],
        key=lambda b: (b.counterparty, b.currency),
    )
