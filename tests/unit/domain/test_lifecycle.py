from datetime import UTC, datetime, timedelta

import pytest

from tessera.domain.errors import Invalid
from tessera.domain.lifecycle import LifecycleRules, ValidityKind

ISSUED = datetime(2026, 1, 1, tzinfo=UTC)
ACTIVATED = datetime(2026, 1, 10, tzinfo=UTC)


def test_fixed_date_expires_on_that_date_whatever_the_activation():
    fixed = datetime(2026, 6, 30, 23, 59, tzinfo=UTC)
    rules = LifecycleRules(ValidityKind.FIXED_DATE, expires_at=fixed)
    assert rules.expiry(ISSUED, None) == fixed
    assert rules.expiry(ISSUED, ACTIVATED) == fixed


def test_period_from_activation_counts_from_activation_and_is_open_while_pending():
    rules = LifecycleRules(ValidityKind.FROM_ACTIVATION, validity_days=30)
    assert rules.expiry(ISSUED, None) is None
    assert rules.expiry(ISSUED, ACTIVATED) == ACTIVATED + timedelta(days=30)


def test_period_from_issue_counts_from_issue():
    rules = LifecycleRules(ValidityKind.FROM_ISSUE, validity_days=90)
    assert rules.expiry(ISSUED, ACTIVATED) == ISSUED + timedelta(days=90)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"validity_kind": ValidityKind.FIXED_DATE}, "expires_at"),
        ({"validity_kind": ValidityKind.FROM_ISSUE}, "validity_days"),
        ({"validity_kind": ValidityKind.FROM_ISSUE, "validity_days": 0}, "validity_days"),
        (
            {"validity_kind": ValidityKind.FROM_ISSUE, "validity_days": 5, "grace_days": -1},
            "grace_days",
        ),
        (
            {"validity_kind": ValidityKind.FROM_ISSUE, "validity_days": 5, "expires_at": ISSUED},
            "expires_at",
        ),
        (
            {"validity_kind": ValidityKind.FROM_ISSUE, "validity_days": 5, "retention_days": -1},
            "retention_days",
        ),
    ],
)
def test_inconsistent_lifecycle_is_refused_naming_the_field(kwargs, field):
    with pytest.raises(Invalid) as caught:
        LifecycleRules(**kwargs)
    assert caught.value.field == field
