"""Bars as an operator sees them: the subscribers and keys barred for wrong codes now, and
lifting one (a customer who mistyped at a till, vouched for by staff), on the record."""

from __future__ import annotations

from tessera.adapters.db.repositories.attempts import Bar
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Invalid, NotFound
from tessera.domain.paging import Page
from tessera.domain.vouchers import KEY_SCOPE, SUBSCRIBER_SCOPE


def list_bars(uow: UnitOfWork, cursor: str | None, limit: int) -> Page[Bar]:
    with uow:
        return uow.attempts.active_bars(uow.clock(), cursor, limit)


def lift_bar(uow: UnitOfWork, scope: str, reason: str | None = None) -> Bar:
    """Ends the bar on ``scope`` and its count of wrong codes; 404 when it is not barred."""
    if not scope.startswith((KEY_SCOPE, SUBSCRIBER_SCOPE)):
        raise Invalid("scope", f"a bar's scope starts with '{KEY_SCOPE}' or '{SUBSCRIBER_SCOPE}'")
    with uow:
        now = uow.clock()
        until = uow.attempts.lift(scope, now)
        if until is None:
            raise NotFound("nothing is barred under this scope now", code="bar_not_found")
        uow.edrs.append(
            EdrDraft(
                "voucher.bar_lift",
                "caller",
                scope,
                details={"barred_until": until.isoformat(), "reason": reason},
            ),
            now,
        )
        uow.commit()
    return Bar(scope, until)


def bar_on(uow: UnitOfWork, scope: str) -> Bar | None:
    """The bar running on ``scope`` now, if any."""
    with uow:
        until = uow.attempts.barred_until([scope])
        return Bar(scope, until) if until is not None and until > uow.clock() else None
