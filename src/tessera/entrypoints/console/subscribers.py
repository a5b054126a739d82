"""Subscriber lookup: the profile and service state, the wallet (usable totals and every
bucket) and the subscriber's EDR history (credits, debits, state changes), through the API's
route functions."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tessera.domain.errors import NotFound
from tessera.domain.roles import Permission
from tessera.entrypoints.console.web import PREFIX, ConsoleRoute, SignedIn, render
from tessera.entrypoints.http import edrs, subscribers

router = APIRouter(
    prefix=f"{PREFIX}/subscribers", route_class=ConsoleRoute, include_in_schema=False
)
NAV = [("/subscribers", "Subscribers", "read")]


@router.get("")
def lookup(request: Request, signed: SignedIn, id: str = "", cursor: str | None = None) -> Response:
    wanted = id.strip()
    if not wanted:
        return render(request, "subscriber.html", signed, wallet=None)
    read = signed.uow(Permission.READ)
    try:
        wallet = subscribers.get_wallet(wanted, read)
    except NotFound:
        return render(
            request, "subscriber.html", signed, status_code=404, wallet=None,
            values={"id": wanted}, errors={"id": "no subscriber has this id"},
        )  # fmt: skip
    history = edrs.get_edrs(
        read, subject_type="subscriber", subject_id=wanted, cursor=cursor, limit=50
    )
    return render(
        request, "subscriber.html", signed, wallet=wallet, history=history,
        values={"id": wanted},
    )  # fmt: skip
